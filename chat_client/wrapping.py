"""Wrapping log lines at a width, with continuation rows hanging under the text column.

A log line is a `Text` built by `render`: `12:00  <nick> text`, `12:00  -- ...`, `12:00  -! ...`,
or a rule. Its text column is where the text starts after that prefix. Every row a line wraps
to after its first starts at that column, so no wrapped row can start at column 0 (or at any
column a timestamp could be) and pass for another line, however the text is padded with
spaces. The later lines of a multi-line message (`┆ ` continuation lines) hang the same way.

Also here: making emoji sequences whose width terminals disagree about one that every
terminal draws as wide as rich counts it (`steady_text`), and the optional seconds.
"""

from __future__ import annotations

import re
from datetime import date, datetime

from rich.cells import cell_len
from rich.console import Console
from rich.text import Text

from chat_client.text import STEADY_PATTERN, steady

#: The prefix a text column follows: the time (or `» DATE TIME` of a search result), its
#: separator (`  ` or ` │ ` for history), then `<nick> `, `* nick ` or a `-- `/`-! `/`!! ` mark.
#: A nick holds no space, so `<[^ ]*> ` ends at the first `> ` followed by a space.
_TEXT_COLUMN = re.compile(r"(?:» \S+ )?\S+(?: │ |  )(?:<[^ ]*> |\* [^ ]+ |-- |-! |!! )?")
#: A later line of a multi-line message: spaces, then the continuation mark.
_CONTINUATION = re.compile(r" *┆ ")
#: `HH:MM` at the start of a line, followed by its separator: where seconds go.
_CLOCK = re.compile(r"\d\d:\d\d(?= )")
#: Rows that cannot tell the text column hang by this much (never at column 0).
FALLBACK_HANG = 2
#: The text keeps at least this many columns; a narrower log hangs rows by FALLBACK_HANG.
MIN_BODY = 12
SECONDS_PAD = 3  # `:SS`


def text_column(first_line: str) -> int:
    """The index (in characters) where the text starts in the first line of a log line."""
    match = _TEXT_COLUMN.match(first_line)
    return match.end() if match else 0


def steady_text(line: Text) -> Text:
    """`line` with ambiguous-width emoji sequences made steady (see `text.steady`), styles kept."""
    plain = line.plain
    if not STEADY_PATTERN.search(plain):
        return line
    # Map every old index to the new one, then move the spans along.
    dropped = {i for m in STEADY_PATTERN.finditer(plain) for i in range(m.start(), m.end())}
    new_index = [0] * (len(plain) + 1)
    kept: list[str] = []
    for i, char in enumerate(plain):
        new_index[i] = len(kept)
        if i not in dropped:
            kept.append(char)
    new_index[len(plain)] = len(kept)
    out = Text(
        "".join(kept),
        style=line.style,
        justify=line.justify,
        overflow=line.overflow,
        no_wrap=line.no_wrap,
        end=line.end,
    )
    for span in line.spans:
        start, end = new_index[span.start], new_index[min(span.end, len(plain))]
        if end > start:
            out.stylize(span.style, start, end)
    assert out.plain == steady(plain)
    return out


def with_seconds(line: Text, at: datetime) -> Text:
    """`12:00:05  <nick> text`: the line's `HH:MM` given seconds (from `at`), and its later
    lines moved right as far, so they stay under the text column. Lines without a leading
    `HH:MM` (rules, search results) are left alone."""
    if not _CLOCK.match(line.plain):
        return line
    first, *rest = line.split("\n", allow_blank=True)
    out = Text(at.strftime("%H:%M:%S"), style=_style_at(first, 0))
    out.append_text(first[5:])
    for part in rest:
        out.append("\n" + " " * SECONDS_PAD)
        out.append_text(part)
    return out


def _style_at(line: Text, index: int) -> str:
    styles = [str(s.style) for s in line.spans if s.start <= index < s.end]
    return " ".join(styles) if styles else str(line.style)


def wrap(console: Console, line: Text, width: int) -> list[Text]:
    """The rows `line` takes at `width` columns, continuation rows hanging under its text.

    A rule (`render.separator_line`, a `no_wrap` line) is one row, shortened to fit, as long
    as its label fits; a longer label wraps like any line, so nothing of it is cut."""
    if line.no_wrap and "\n" not in line.plain:
        fitted = fit_rule(line, width)
        if fitted is not None:
            return [fitted]
        line = line.copy()
        line.no_wrap = False  # Rich crops a no_wrap text: this one must wrap whole
    physical = line.split("\n", allow_blank=True) if "\n" in line.plain else [line]
    rows: list[Text] = []
    for number, part in enumerate(physical):
        plain = part.plain
        if cell_len(plain) <= width:
            rows.append(part)
            continue
        if number == 0:
            split = text_column(plain)
        else:
            match = _CONTINUATION.match(plain)
            split = match.end() if match else 0
        hang = cell_len(plain[:split])
        if split == 0 or width - hang < MIN_BODY:
            # No text column to hang under (or no room for one): the row is wrapped whole
            # and its continuation rows indented a little, still never at column 0.
            head, body, hang = Text(), part, FALLBACK_HANG
            pieces = body.wrap(console, max(1, width - hang))
            rows.append(pieces[0])
            rest = list(pieces)[1:]
        else:
            head, body = part[:split], part[split:]
            pieces = body.wrap(console, width - hang)
            first = head.copy()
            first.append_text(pieces[0])
            rows.append(first)
            rest = list(pieces)[1:]
        for piece in rest:
            row = Text(" " * hang)
            row.append_text(piece)
            rows.append(row)
    return rows


def fit_rule(rule: Text, width: int) -> Text | None:
    """The rule `──── label ────` made at most `width` wide by taking dashes off both ends
    (the label and its styles as they are, still centred, at least two dashes a side); None
    when the label itself leaves no room for that (such a rule wraps like a line)."""
    plain = rule.plain
    excess = cell_len(plain) - width
    if excess <= 0:
        return rule
    lead = len(plain) - len(plain.lstrip("─"))
    trail = len(plain) - len(plain.rstrip("─"))
    left = min(max(0, lead - 2), (excess + 1) // 2)
    right = excess - left
    if right > trail - 2:
        return None
    return rule[left : len(plain) - right]


def local_day(ts: str | None) -> date:
    """The local date of a server timestamp (today for None or one that does not parse)."""
    return local_time(ts).date()


def local_time(ts: str | None) -> datetime:
    """A server timestamp in local time (now for None or one that does not parse)."""
    if ts is None:
        return datetime.now().astimezone()
    try:
        return datetime.fromisoformat(ts.replace("Z", "+00:00")).astimezone()
    except ValueError:
        return datetime.now().astimezone()


def day_label(day: date) -> str:
    """`Wednesday 2 December 2026` (English names, whatever the locale)."""
    return f"{_DAYS[day.weekday()]} {day.day} {_MONTHS[day.month - 1]} {day.year}"


_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
