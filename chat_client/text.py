"""Making untrusted text inert: control, escape and bidi characters become visible escapes."""

from __future__ import annotations

import itertools
import re

# Every C0/C1 control, DEL, and the bidi controls, mapped to a visible escape.
_UNSAFE: dict[int, str] = {
    c: f"\\x{c:02x}" for c in itertools.chain(range(0x20), range(0x7F, 0xA0))
}
_UNSAFE.update({c: f"\\u{c:04x}" for c in (0x61C, 0x200E, 0x200F, *range(0x202A, 0x202F))})
_UNSAFE.update({c: f"\\u{c:04x}" for c in (*range(0x2066, 0x206A), 0x2028, 0x2029)})

# The same table for multi-line message bodies: newlines stay newlines, tabs become spaces.
_UNSAFE_KEEP_LINES = dict(_UNSAFE)
_UNSAFE_KEEP_LINES[ord("\n")] = "\n"
_UNSAFE_KEEP_LINES[ord("\t")] = "    "


def inert(text: str) -> str:
    """`text` with every control character shown as an escape instead of acting."""
    return text.translate(_UNSAFE)


def inert_lines(text: str) -> str:
    """Like `inert`, but keeps line breaks (and turns tabs into spaces) for message bodies."""
    return text.translate(_UNSAFE_KEEP_LINES)


_DROP_UNSAFE = dict.fromkeys(_UNSAFE)


def printable(text: str) -> str:
    """`text` with every control character removed: for the terminal's title, where even the
    escape of one would be noise (and a raw one could end the title sequence)."""
    return text.translate(_DROP_UNSAFE)


# Emoji sequences that terminals draw at different widths: a skin-tone modifier (rich counts
# `👍🏽` as 2 cells, a terminal without the sequence draws 4), a zero-width joiner between emoji
# (`👩‍💻`: 2 or 4), the emoji presentation selector (`❤️`: 1 or 2) and the tag characters of
# subdivision flags. Dropping them leaves what every terminal draws as wide as rich counts:
# `👍`, `👩💻`, `❤`. A joiner between letters (Indic scripts need it) is kept.
_EMOJI = "\U0001f000-\U0001faff\u2600-\u27bf\u2b00-\u2bff\u2300-\u23ff"
STEADY_PATTERN = re.compile(
    "[\U0001f3fb-\U0001f3ff\ufe0f\U000e0020-\U000e007f]"
    f"|(?<=[{_EMOJI}\ufe0f\U0001f3fb-\U0001f3ff])\u200d"
    f"|\u200d(?=[{_EMOJI}])"
)


def steady(text: str) -> str:
    """`text` without the emoji modifiers, joiners and selectors whose width is ambiguous."""
    return STEADY_PATTERN.sub("", text)
