"""A conversation's log: capped lines kept as data, wrapped at the log's real width.

The lines are kept as written (`Text` objects from `render`) and are wrapped again whenever the
width changes (a resize, a sidebar shown or hidden) and when a log that was hidden is shown,
with every continuation row hanging under the line's text column (`wrapping.py`). Only the log
on screen does any wrapping: lines arriving in one that is hidden are stored, and wrapped at
the width they are shown at. A line that fits is rendered once, whatever the width; a long one
is wrapped again for a new width, and a big rewrap after a resize waits for the resizing to
stop (`REFLOW_DELAY`).

Between lines of different local dates a `──── Wednesday 2 December 2026 ────` row is shown,
and where the user left the conversation last a `──── new ────` row, when lines arrived
since. `seconds` shows `HH:MM:SS` instead of `HH:MM`.

`matching` finds the lines that hold a text (case-insensitive), for `/lastlog`, whose block
of copies (`add(..., quoted=True)`) is left out of later searches; `find` jumps the view to
the next older or newer such line and shows it reversed (ctrl+f); `show_message` does the same
for the line of one message (a search result). Scrolling up at the top posts `TopReached`, and
`prepend(..., keep_view=True)` puts older lines above without moving the view.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime

from rich.console import Console
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events
from textual.cache import LRUCache
from textual.geometry import Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.timer import Timer

from chat_client.render import separator_line
from chat_client.wrapping import (
    day_label,
    fit_rule,
    local_time,
    steady_text,
    with_seconds,
    wrap,
)

MAX_LINES = 5000
#: Lines wrap at the log's width, but never narrower than this.
MIN_WIDTH = 20
#: After a resize, a rewrap that has more than `EAGER_REFLOW` long lines to wrap again waits
#: this long (seconds) for the resizing to stop; a smaller one is done at once.
REFLOW_DELAY = 0.1
EAGER_REFLOW = 300
NEW_MARK = "new"
#: How the line `find` went to is shown.
FOUND_STYLE = Style(reverse=True)


def text_pattern(needle: str) -> re.Pattern[str]:
    """`needle` found anywhere, whatever its case."""
    return re.compile(re.escape(needle), re.IGNORECASE)


@dataclass(slots=True, eq=False)
class _Entry:
    """One line of the log, as data, and its rows at the width last wrapped at."""

    text: Text
    at: datetime | None  # when it was said (local time): for the seconds
    dated: bool = False  # whether `at` is the server's: only those lines get day rows
    width: int = 0  # the width `rows` were wrapped at (0: not yet)
    seconds: bool = False  # whether `rows` show seconds
    rows: list[Strip] | None = None
    lead: tuple[str, ...] = ()  # the day and read-marker rows `rows` start with
    #: The line's width in cells when it is one row at any width that fits it (no newline),
    #: else None: its rows are kept for one width only.
    cells: int | None = None
    #: A copy of another line (a `/lastlog` block): not searched again.
    quoted: bool = False
    #: The server's id of the message the line shows, if it shows one (to jump to it).
    message_id: int | None = None

    @property
    def day(self) -> date | None:
        return self.at.date() if self.at is not None and self.dated else None


class ChatLog(ScrollView, can_focus=False):
    """Lines of one conversation. Lines are Text objects built by `render` (no markup).

    `plain` and `texts` are the lines as written; `lines` the rows on screen (at the width
    last wrapped at). Older lines can be put in front (`prepend`, for `/history`).

    Scrolled up (PgUp, or the mouse), the log stays where it is when lines arrive and says
    `N more below` in its bottom border; back at the bottom it follows new lines again.
    """

    DEFAULT_CSS = """
    ChatLog {
        background: $surface;
        color: $foreground;
        overflow-y: scroll;
        overflow-x: hidden;
    }
    """

    def __init__(self, *, max_lines: int = MAX_LINES, id: str | None = None) -> None:
        super().__init__(id=id)
        self.max_lines = max_lines
        self._entries: deque[_Entry] = deque()
        self.plain: deque[str] = deque(maxlen=max_lines)
        #: Whether new lines scroll the log to them (False while scrolled up).
        self.following = True
        #: Lines that arrived while scrolled up, not yet scrolled to.
        self.unseen = 0
        #: Show `HH:MM:SS` (ChatScreen sets it for every log).
        self.seconds = False
        self._rows: list[Strip] = []
        self._width = 0  # the width `_rows` are wrapped at; 0: not wrapped (stale)
        #: The line at the top of the view when the rows went stale (kept until shown).
        self._view_anchor: tuple[_Entry, int] | None = None
        #: `show_message` found its line while the log could not scroll (hidden).
        self._found_pending = False
        self._generation = 0  # changes whenever `_rows` are rebuilt (the cache key)
        self._cache: LRUCache[tuple[int, int, int, int], Strip] = LRUCache(1024)
        self._timer: Timer | None = None
        #: The last line read before the user left the conversation (`mark_read`).
        self._read_mark: _Entry | None = None
        #: How many reflows were done (for tests of the cost).
        self.reflows = 0
        #: The line `find` went to last (shown reversed), and its rows: (generation, start,
        #: end) as last counted.
        self._found: _Entry | None = None
        self._found_rows: tuple[int, int, int] | None = None

    # ------------------------------------------------------------------ the lines as data

    @property
    def texts(self) -> list[Text]:
        return [entry.text for entry in self._entries]

    @property
    def lines(self) -> list[Strip]:
        """The rows as wrapped last (what is on screen, scrolled)."""
        return self._rows

    def add(
        self,
        line: Text,
        at: datetime | None = None,
        *,
        quoted: bool = False,
        message_id: int | None = None,
    ) -> None:
        """Append one line (it may wrap, or hold newlines of a multi-line message).

        `at`: when the server says it was said (local time), for its date and seconds. Without
        it the line is the client's own (a notice, a rule): shown with the seconds of now, and
        not dated, so a day row only ever comes between two lines the server dated.
        `quoted`: a copy of a line of this log (`/lastlog`), shown with the seconds of `at`
        but never dated, and left out of `matching` and `find`.
        `message_id`: the server's id of the message the line shows (`show_message`).
        """
        if at is None:
            entry = _Entry(steady_text(line), local_time(None), quoted=quoted)
        else:
            entry = _Entry(steady_text(line), at, dated=not quoted, quoted=quoted)
        entry.message_id = message_id
        self.plain.append(line.plain)
        self._entries.append(entry)
        dropped = self._trim()
        width = self._content_width()
        if self._width and width == self._width and self.display:
            previous = self._entries[-2] if len(self._entries) > 1 else None
            self._wrap_entry(entry, previous, width)
            assert entry.rows is not None
            self._rows.extend(entry.rows)
            if dropped:
                del self._rows[:dropped]
                self._generation += 1
                if not self.following:
                    self.scroll_to(y=max(0, self.scroll_y - dropped), animate=False)
            self._resize_virtual()
            if self.following:
                self.scroll_end(animate=False, immediate=False, x_axis=False)
        else:
            self._mark_stale()  # wrapped when shown
        if not self.following:
            self.unseen += 1
            self._show_marker()

    def _trim(self) -> int:
        """Drop the oldest lines over the cap; how many rows they had."""
        rows = 0
        while len(self._entries) > self.max_lines:
            old = self._entries.popleft()
            if old is self._read_mark:
                self._read_mark = None
            if old is self._found:
                self._found = None
            if old.rows is not None and old.width == self._width:
                rows += len(old.rows)
        return rows

    def prepend(
        self,
        lines: Iterable[Text | tuple[Text, datetime | None] | tuple[Text, datetime | None, int]],
        *,
        keep_view: bool = False,
    ) -> None:
        """Put `lines` before every line shown (older messages).

        An item is a line, (line, when it was said) or (line, when, message id). When the log
        is full, its newest lines are kept and what does not fit of `lines` is left out.
        The view goes to the top of the log, or with `keep_view` stays on the line it shows
        (the older lines are then above it, for scrolling up into).
        """
        older = [_prepended(item) for item in lines]
        anchor = self._anchor_now() if keep_view and not self.fits_in_view else None
        kept = [*older, *self._entries][-self.max_lines :]
        self._entries = deque(kept)
        self.plain.clear()
        self.plain.extend(entry.text.plain for entry in kept)
        self._width = 0
        self._view_anchor = anchor  # kept for when it is shown, if it is hidden now
        if anchor is not None:
            self.following = False
            self.reflow(anchor=anchor)
        else:
            self.reflow()
            if not keep_view:
                self.scroll_home(animate=False)

    @property
    def room_left(self) -> int:
        """How many more lines the log holds before its oldest go."""
        return max(0, self.max_lines - len(self._entries))

    @property
    def fits_in_view(self) -> bool:
        """Whether every row fits in the view (nothing to scroll)."""
        return self.max_scroll_y <= 0

    def clear_lines(self) -> None:
        self._view_anchor = None
        self._found_pending = False
        self._entries.clear()
        self.plain.clear()
        self._rows = []
        self._read_mark = None
        self._found = None
        self._generation += 1
        self._width = 0
        self._resize_virtual()
        self.following = True
        self.unseen = 0
        self._show_marker()
        self.refresh()

    # ------------------------------------------------------------------ searching

    def matching(self, needle: str) -> list[tuple[Text, datetime | None]]:
        """The lines (and when they were said) that hold `needle`, whatever its case, oldest
        first; the copies in `/lastlog` blocks are left out."""
        pattern = text_pattern(needle)
        return [
            (entry.text, entry.at)
            for entry in self._entries
            if not entry.quoted and pattern.search(entry.text.plain)
        ]

    def find(self, needle: str, *, older: bool = True) -> tuple[int, int] | None:
        """Go to the next line holding `needle`, older (up) or newer (down) than the one found
        last (the first time: from the bottom of the view), wrapping around; show it reversed.

        (which match, counted from the oldest, how many), or None when no line holds it."""
        pattern = text_pattern(needle)
        positions: dict[int, int] = {}
        matches: list[_Entry] = []
        for position, entry in enumerate(self._entries):
            positions[id(entry)] = position
            if not entry.quoted and pattern.search(entry.text.plain):
                matches.append(entry)
        if not needle or not matches:
            self.clear_found()
            return None
        if self._found is not None and self._found in matches:
            index = matches.index(self._found) + (-1 if older else 1)
        else:
            shown = self._line_at(round(self.scroll_y) + max(0, self.size.height - 1))
            start = positions.get(id(shown[0]), len(self._entries)) if shown else None
            if start is None or self.following:
                start = len(self._entries)
            before = [i for i, entry in enumerate(matches) if positions[id(entry)] <= start]
            last = before[-1] if before else -1  # the newest match at or above the view's bottom
            index = last if older else last + 1
        index %= len(matches)
        self._found = matches[index]
        self._found_rows = None
        self._cache.clear()
        self._scroll_to_found()
        self.refresh()
        return index + 1, len(matches)

    def clear_found(self) -> None:
        """No line shown as found any more."""
        if self._found is not None:
            self._found = None
            self._found_rows = None
            self._cache.clear()
            self.refresh()

    @property
    def highlighted_message(self) -> int | None:
        """The id of the message shown reversed (`find`, `show_message`), if it is one."""
        return self._found.message_id if self._found is not None else None

    def show_message(self, message_id: int) -> bool:
        """Go to the line showing the message with this id and show it reversed, as `find`
        does; False if no line shows it."""
        for entry in self._entries:
            if entry.message_id == message_id and not entry.quoted:
                self._found = entry
                self._found_rows = None
                self._cache.clear()
                self._scroll_to_found()
                self.refresh()
                return True
        return False

    def _rows_of_found(self) -> tuple[int, int] | None:
        """The rows of the line found (without its day and read-marker rows)."""
        found = self._found
        if found is None or not self._width:
            return None
        cached = self._found_rows
        if cached is not None and cached[0] == self._generation:
            return cached[1], cached[2]
        top = 0
        for entry in self._entries:
            count = len(entry.rows or ())
            if entry is found:
                start = top + len(entry.lead)
                self._found_rows = (self._generation, start, top + count)
                return start, top + count
            top += count
        return None

    def _scroll_to_found(self) -> None:
        self.reflow_if_stale()
        rows = self._rows_of_found()
        if rows is None:
            self._found_pending = self._found is not None  # scrolled to once it is shown
            return
        self._found_pending = False
        # A third of the way down the view: what led to it shows above.
        y = max(0, rows[0] - max(0, self.size.height // 3))
        self.scroll_to(y=min(y, self.max_scroll_y), animate=False, immediate=True)

    # ------------------------------------------------------------------ read marker

    def mark_read(self) -> None:
        """The user leaves the conversation: a `new` row goes after its last line, shown
        (when lines arrive meanwhile) once the conversation is shown again."""
        last = self._entries[-1] if self._entries else None
        if last is not self._read_mark:
            self._read_mark = last
            self._mark_stale()  # the old marker goes: wrapped again when shown

    def came_back(self) -> None:
        """The conversation is shown again: no marker when nothing arrived meanwhile."""
        if self._entries and self._read_mark is self._entries[-1]:
            self._read_mark = None
        self.reflow_if_stale()

    # ------------------------------------------------------------------ wrapping

    def _content_width(self) -> int:
        width = self.scrollable_content_region.width
        return max(width, MIN_WIDTH) if width > 0 else 0

    def _wrap_entry(self, entry: _Entry, previous: _Entry | None, width: int) -> None:
        """Fill `entry.rows` for `width` (reusing them if they were wrapped for it)."""
        lead: list[str] = []
        if previous is not None and previous is self._read_mark:
            lead.append(NEW_MARK)
        day = entry.day
        if previous is not None and day is not None:
            before = previous.day
            if before is not None and before != day:
                lead.append(day_label(day))
        reusable = (
            entry.rows is not None
            and entry.seconds == self.seconds
            and (entry.width == width or (entry.cells is not None and entry.cells <= width))
        )
        if reusable and tuple(lead) == entry.lead and (not lead or entry.width == width):
            entry.width = width
            return  # (day and read-marker rules are drawn again for a new width, below)
        console = self.app.console
        if reusable and entry.rows is not None:
            body = entry.rows[len(entry.lead) :]
        else:
            text = entry.text
            if self.seconds and entry.at is not None:
                text = with_seconds(text, entry.at)
            rows = wrap(console, text, width)
            # One row that is the whole line (not a rule shortened to this width): the same
            # row serves at any width that fits it.
            single = len(rows) == 1 and "\n" not in text.plain and rows[0].cell_len == text.cell_len
            entry.cells = text.cell_len if single else None
            body = [_strip(console, row) for row in rows]
        rules = (_strip(console, _fitted(separator_line(label), width)) for label in lead)
        entry.rows = [*rules, *body]
        entry.lead = tuple(lead)
        entry.width = width
        entry.seconds = self.seconds

    def reflow_if_stale(self) -> None:
        width = self._content_width()
        if width and (width != self._width):
            self.reflow()

    def reflow(self, anchor: tuple[_Entry, int] | None = None) -> None:
        """Wrap every line again at the log's width, keeping the view on the same line
        (`anchor`, a line and which of its rows, when the rows were rebuilt already)."""
        if self._timer is not None:
            self._timer.stop()
            self._timer = None
        width = self._content_width()
        if not width or not self.display:
            self._mark_stale()
            return
        if anchor is None and not self.following:
            anchor = self._anchor_now()
        self._view_anchor = None
        rows: list[Strip] = []
        previous: _Entry | None = None
        starts: dict[int, int] = {}
        for entry in self._entries:
            self._wrap_entry(entry, previous, width)
            assert entry.rows is not None
            starts[id(entry)] = len(rows) + len(entry.lead)
            rows.extend(entry.rows)
            previous = entry
        self._rows = rows
        self._width = width
        self._generation += 1
        self.reflows += 1
        self._resize_virtual()
        if self.following:
            self.scroll_end(animate=False, immediate=True, x_axis=False)
        elif anchor is not None:
            entry, offset = anchor
            start = starts.get(id(entry))
            if start is not None:
                assert entry.rows is not None
                offset = min(offset, len(entry.rows) - len(entry.lead) - 1)
                self.scroll_to(y=start + max(0, offset), animate=False, immediate=True)
        if self._found_pending:
            self._scroll_to_found()
        self.refresh()

    def _anchor_now(self) -> tuple[_Entry, int] | None:
        """The line at the top of the view (and which of its rows), also while the rows are
        stale: then the one noted when they went stale."""
        return self._line_at(round(self.scroll_y)) if self._width else self._view_anchor

    def _mark_stale(self) -> None:
        """The rows must be wrapped again before they are shown: note the line in view."""
        if self._width and not self.following:
            self._view_anchor = self._line_at(round(self.scroll_y))
        self._width = 0

    def _line_at(self, y: int) -> tuple[_Entry, int] | None:
        """The line shown at row `y`, and which of its rows that is."""
        if not self._width:
            return None
        top = 0
        for entry in self._entries:
            count = len(entry.rows or ())
            if y < top + count:
                return entry, max(0, y - top - len(entry.lead))
            top += count
        return None

    def _pending_cost(self, width: int) -> int:
        """How many lines a reflow at `width` would wrap again."""
        return sum(
            1
            for e in self._entries
            if e.rows is None
            or e.seconds != self.seconds
            or (e.width != width and (e.cells is None or e.cells > width))
        )

    def _resize_virtual(self) -> None:
        self.virtual_size = Size(
            self._width or self.scrollable_content_region.width, len(self._rows)
        )

    def on_resize(self, event: events.Resize) -> None:
        width = self._content_width()
        if not width or width == self._width:
            return
        if not self._width or self._pending_cost(width) <= EAGER_REFLOW:
            self.reflow()
            return
        if self._timer is not None:
            self._timer.stop()
        self._timer = self.set_timer(REFLOW_DELAY, self.reflow)

    def on_show(self, event: events.Show) -> None:
        self.reflow_if_stale()

    def set_seconds(self, seconds: bool) -> None:
        if seconds != self.seconds:
            self.seconds = seconds
            self._mark_stale()
            self.reflow()

    # ------------------------------------------------------------------ rendering

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._cache.clear()

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        width = self.scrollable_content_region.width
        index = scroll_y + y
        if index >= len(self._rows):
            return Strip.blank(width, self.rich_style)
        key = (self._generation, index, scroll_x, width)
        strip = self._cache.get(key)
        if strip is None:
            strip = self._rows[index].crop_extend(scroll_x, scroll_x + width, self.rich_style)
            strip = strip.apply_style(self.rich_style)
            found = self._rows_of_found()
            if found is not None and found[0] <= index < found[1]:
                strip = strip.apply_style(FOUND_STYLE)
            self._cache[key] = strip
        return strip

    # ------------------------------------------------------------------ scrolling

    class TopReached(Message):
        """The user scrolled up at the top of the log (for older lines from the server)."""

        def __init__(self, log: ChatLog) -> None:
            super().__init__()
            self.log = log

    @property
    def at_top(self) -> bool:
        return self.scroll_y <= 0

    def _on_mouse_scroll_up(self, event: events.MouseScrollUp) -> None:
        at_top = self.at_top
        super()._on_mouse_scroll_up(event)
        if at_top and not (event.ctrl or event.shift):
            event.stop()
            self.post_message(self.TopReached(self))

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        following = new_value >= self.max_scroll_y
        if following != self.following:
            self.following = following
            if following:
                self.unseen = 0
            self._show_marker()

    def _show_marker(self) -> None:
        more = not self.following
        self.set_class(more, "-more-below")
        if not more:
            self.border_subtitle = ""
        elif self.unseen:
            self.border_subtitle = f"{self.unseen} more below (ctrl+end)"
        else:
            self.border_subtitle = "more below (ctrl+end)"

    def page_up(self) -> None:
        self.scroll_page_up(animate=False)

    def page_down(self) -> None:
        self.scroll_page_down(animate=False)

    def to_top(self) -> None:
        self.scroll_home(animate=False)

    def to_bottom(self) -> None:
        """Scroll to the newest line (and follow new lines again)."""
        self.scroll_end(animate=False, immediate=True)
        self.following = True
        self.unseen = 0
        self._show_marker()


def _fitted(rule: Text, width: int) -> Text:
    """A day or read-marker rule at `width` (cropped by the view if even its label is wider)."""
    return fit_rule(rule, width) or rule


def _prepended(
    item: Text | tuple[Text, datetime | None] | tuple[Text, datetime | None, int],
) -> _Entry:
    """The entry of one item given to `prepend`."""
    if not isinstance(item, tuple):
        return _Entry(steady_text(item), None)
    at = item[1]
    entry = _Entry(steady_text(item[0]), at, dated=at is not None)
    if len(item) == 3:
        entry.message_id = item[2]
    return entry


def _strip(console: Console, row: Text) -> Strip:
    segments = [s for s in row.render(console) if s.text]
    return Strip(segments or [Segment("")], row.cell_len)
