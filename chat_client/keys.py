"""Alt+digit as a key: Textual reads ESC followed by a digit as the glyph macOS types for
Option+digit (`¡`, `™`, `£`, ...), so alt+1 typed `¡` into the input instead of reaching a
binding.

Terminals that send Alt as an ESC prefix (xterm, gnome-terminal, tmux, iTerm2 and Terminal
with "Option as Meta") send `ESC 1` for alt+1; Textual 8 maps that sequence to `¡` for
WezTerm on macOS, which sends it for Option+1 and means the glyph. A chat client wants the key
there, as irssi and weechat do: alt+1..alt+0 pick windows. `install_alt_digits` makes the
parser report `alt+1`..`alt+0` for those ten sequences. A terminal that sends the glyph itself
(macOS with Option not set as Meta) still types it: a `£` typed on a British keyboard must
reach the input, so the glyphs are never bound.

This edits a table private to Textual (`textual._ansi_sequences.ANSI_SEQUENCES_KEYS`, checked
against 8.2.8, see the lock); tests/client/test_window_keys.py parses the real sequences, so
an upgrade that moves the table fails there, not in front of a user.

alt+enter (`ESC CR`) is not in Textual's table either: the parser waits for more of the
sequence and, once its escape delay is over, reports a plain enter, so alt+enter sent the line.
`install_alt_enter` makes it `alt+enter`, the key that starts a new line of a message
(tests/client/test_multiline.py parses it).
"""

from __future__ import annotations

from enum import StrEnum
from typing import cast

#: What alt+N jumps to: window N (alt+0 is window 10), as numbered in the room list.
DIGITS = "1234567890"


class AltDigit(StrEnum):
    """Key names for the parser's table (it reads `.value` off each entry, as off `Keys`)."""

    ALT_1 = "alt+1"
    ALT_2 = "alt+2"
    ALT_3 = "alt+3"
    ALT_4 = "alt+4"
    ALT_5 = "alt+5"
    ALT_6 = "alt+6"
    ALT_7 = "alt+7"
    ALT_8 = "alt+8"
    ALT_9 = "alt+9"
    ALT_0 = "alt+0"


class AltEnter(StrEnum):
    ALT_ENTER = "alt+enter"


def install_alt_enter() -> None:
    """Have Textual's input parser report `ESC CR` as alt+enter (idempotent)."""
    from textual import _ansi_sequences

    table = cast(dict[str, object], _ansi_sequences.ANSI_SEQUENCES_KEYS)
    table["\x1b\r"] = (AltEnter.ALT_ENTER,)


def install_alt_digits() -> None:
    """Have Textual's input parser report `ESC 1`..`ESC 0` as alt+1..alt+0 (idempotent)."""
    from textual import _ansi_sequences

    table = cast(dict[str, object], _ansi_sequences.ANSI_SEQUENCES_KEYS)
    for digit in DIGITS:
        table[f"\x1b{digit}"] = (AltDigit(f"alt+{digit}"),)


def window_number(digit: str) -> int:
    """The window alt+`digit` picks: 1..9, and 10 for 0."""
    return DIGITS.index(digit) + 1


__all__ = [
    "DIGITS",
    "AltDigit",
    "AltEnter",
    "install_alt_digits",
    "install_alt_enter",
    "window_number",
]
