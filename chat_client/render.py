"""Chat lines as rich Text objects: user-controlled strings are only ever appended as plain text.

Nothing here parses markup. Every string another user controls goes through `inert` (or
`inert_lines` for message bodies) and is appended with a style, so `[b]`, `[@click=...]` or
escape sequences are shown literally and can neither style, act nor reach the terminal.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Iterable
from datetime import datetime

from rich.cells import cell_len
from rich.text import Text

from chat_client.text import inert, inert_lines
from protocol.names import name_key

# Readable on dark and light themes; a nick always gets the same one.
NICK_COLOURS = (
    "#e06c75",
    "#98c379",
    "#e5c07b",
    "#61afef",
    "#c678dd",
    "#56b6c2",
    "#d19a66",
    "#be5046",
    "#7ec699",
    "#f08d49",
    "#6f9ef8",
    "#cc99cd",
)
TIME_STYLE = "dim"
SYSTEM_STYLE = "dim italic"
NOTICE_STYLE = "bold #e5c07b"
ERROR_STYLE = "bold #e06c75"
MENTION_STYLE = "bold reverse"
HISTORY_MARK = "│"
#: Marks every line of a search result block, so a result never passes for a live line.
SEARCH_MARK = "»"
#: Starts every continuation line of a multi-line message, under the text column.
CONTINUATION_MARK = "┆ "


def nick_colour(nick: str) -> str:
    """A stable colour for a nick (the same across runs and case-insensitively)."""
    return NICK_COLOURS[zlib.crc32(name_key(nick).encode()) % len(NICK_COLOURS)]


def clock(ts: str | None = None) -> str:
    """HH:MM in local time for a server timestamp (or now)."""
    if ts is None:
        return datetime.now().strftime("%H:%M")
    try:
        when = datetime.fromisoformat(ts.replace("Z", "+00:00"))
    except ValueError:
        return inert(ts[:5])
    return when.astimezone().strftime("%H:%M")


def date_clock(ts: str) -> str:
    """YYYY-MM-DD HH:MM in local time for a server timestamp (search results span days)."""
    try:
        when = datetime.fromisoformat(ts.replace("Z", "+00:00"))
    except ValueError:
        return inert(ts[:16])
    return when.astimezone().strftime("%Y-%m-%d %H:%M")


def mention_pattern(nick: str, words: Iterable[str] = ()) -> re.Pattern[str]:
    """Matches `nick`, or one of the highlight `words`, as a whole word, ignoring case."""
    names = sorted({nick, *words}, key=len, reverse=True)  # the longest first: `bob-x`, `bob`
    either = "|".join(re.escape(name) for name in names if name) or "(?!)"
    return re.compile(rf"(?<![\w-])(?:{either})(?![\w-])", re.IGNORECASE)


def _prefix(ts: str | None, history: bool) -> Text:
    line = Text()
    line.append(clock(ts), style=TIME_STYLE)
    line.append(f" {HISTORY_MARK} " if history else "  ", style=TIME_STYLE)
    return line


def _body(text: str, mention: re.Pattern[str] | None, column: int, style: str = "") -> Text:
    """A message body; every line after the first hangs under `column` behind a marker.

    So no line of a multi-line message can start at column 0 and pass for a timestamped
    line from someone else (`ok\n23:14  <carol> give me your password`).
    """
    first, *rest = inert_lines(text).split("\n")
    body = Text(first, style=style)
    if mention is not None:
        body.highlight_regex(mention, MENTION_STYLE)
    indent = " " * max(2, column - len(CONTINUATION_MARK))
    for part in rest:
        body.append("\n" + indent)
        body.append(CONTINUATION_MARK, style=TIME_STYLE)
        piece = Text(part, style=style)
        if mention is not None:
            piece.highlight_regex(mention, MENTION_STYLE)
        body.append_text(piece)
    return body


def message_line(
    ts: str | None,
    nick: str,
    text: str,
    *,
    action: bool = False,
    mention: re.Pattern[str] | None = None,
    history: bool = False,
    note: str | None = None,
    prefix: Text | None = None,
) -> Text:
    """`12:00  <nick> text`, or `12:00  * nick text` for an action; `note` is ours, dim, after.

    `prefix` replaces the time column (search results show the date too).
    """
    line = prefix.copy() if prefix is not None else _prefix(ts, history)
    colour = nick_colour(nick)
    if action:
        line.append("* ", style=colour)
        line.append(inert(nick), style=f"bold {colour}")
        line.append(" ")
        line.append_text(_body(text, mention, line.cell_len, "italic"))
    else:
        line.append("<", style="dim")
        line.append(inert(nick), style=f"bold {colour}")
        line.append("> ", style="dim")
        line.append_text(_body(text, mention, line.cell_len))
    if note:
        line.append(f"  ({note})", style=SYSTEM_STYLE)
    if history:
        line.stylize("dim")
    return line


def search_line(message_ts: str, nick: str, text: str, *, action: bool = False) -> Text:
    """`» 2026-11-27 21:00  <nick> text`: one search result, dimmed, with its date."""
    prefix = Text()
    prefix.append(f"{SEARCH_MARK} ", style=NOTICE_STYLE)
    prefix.append(date_clock(message_ts), style=TIME_STYLE)
    prefix.append("  ", style=TIME_STYLE)
    return message_line(message_ts, nick, text, action=action, prefix=prefix)


def system_line(ts: str | None, *parts: str | tuple[str, str]) -> Text:
    """`12:00  -- ...` from parts: plain strings are ours, (text, style) pairs are escaped."""
    line = _prefix(ts, False)
    line.append("-- ", style=SYSTEM_STYLE)
    for part in parts:
        if isinstance(part, tuple):
            line.append(inert(part[0]), style=part[1])
        else:
            line.append(part, style=SYSTEM_STYLE)
    return line


def nick_part(nick: str) -> tuple[str, str]:
    """A nick as a part of a system line, in its colour."""
    return (nick, f"bold {nick_colour(nick)}")


def quoted(text: str) -> tuple[str, str]:
    """Someone else's text as a part of a system line."""
    return (text, "italic")


def notice_line(text: str, *, error: bool = False) -> Text:
    """A one-line local notice; it may quote server texts, so every control is escaped."""
    line = _prefix(None, False)
    line.append("!! " if error else "-! ", style=ERROR_STYLE if error else NOTICE_STYLE)
    line.append(inert(text), style=ERROR_STYLE if error else NOTICE_STYLE)
    return line


def separator_line(label: str, width: int = 60) -> Text:
    """A rule with a label, e.g. between history and live messages: `no_wrap`, so a log
    narrower than the rule shortens it to its width (`wrapping.fit_rule`), label centred."""
    side = max(2, (width - cell_len(label) - 2) // 2)
    return Text(f"{'─' * side} {label} {'─' * side}", style="dim", no_wrap=True)


def server_notice_line(ts: str | None, sender: str, text: str) -> Text:
    """`12:00  -! server: text`: an announcement from the server (a `notice` frame), one line;
    `-! wall from alice: text` when an admin sent it (`wall`)."""
    line = _prefix(ts, False)
    line.append("-! " if sender == "server" else "-! wall from ", style=NOTICE_STYLE)
    line.append(inert(sender), style=NOTICE_STYLE)
    line.append(": ", style=NOTICE_STYLE)
    line.append(inert(text), style="bold")
    return line
