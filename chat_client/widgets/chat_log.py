"""A conversation's log: a capped RichLog that only accepts Text lines and keeps their plain text."""

from __future__ import annotations

from collections import deque

from rich.text import Text
from textual.widgets import RichLog

MAX_LINES = 5000
#: Lines wrap at the log's width, but never narrower than this.
MIN_WIDTH = 20


class ChatLog(RichLog):
    """Lines of one conversation. Markup is off; lines are Text objects built by `render`.

    The lines are kept as written (`texts`), so older lines can be put in front of them
    (`prepend`, for `/history`): RichLog itself only appends.

    Scrolled up (PgUp, or the mouse), the log stays where it is when lines arrive and says
    `N more below` in its bottom border; back at the bottom it follows new lines again.
    """

    def __init__(self, *, max_lines: int = MAX_LINES, id: str | None = None) -> None:
        # RichLog renders every line at least `min_width` (78) wide: in a log narrower than
        # that (an 80-column terminal) lines were cut at the right edge instead of wrapped.
        super().__init__(
            max_lines=max_lines,
            wrap=True,
            markup=False,
            highlight=False,
            min_width=MIN_WIDTH,
            id=id,
        )
        self.can_focus = False
        self.plain: deque[str] = deque(maxlen=max_lines)
        self.texts: deque[Text] = deque(maxlen=max_lines)
        #: Whether new lines scroll the log to them (False while scrolled up).
        self.following = True
        #: Lines that arrived while scrolled up, not yet scrolled to.
        self.unseen = 0

    def add(self, line: Text) -> None:
        """Append one line (it may wrap, or hold newlines of a multi-line message)."""
        self.plain.append(line.plain)
        self.texts.append(line)
        self.write(line, scroll_end=self.following)
        if not self.following:
            self.unseen += 1
            self._show_marker()

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

    def prepend(self, lines: list[Text]) -> None:
        """Put `lines` before every line shown (older messages), and show the top of the log.

        The log is rebuilt: this is for an explicit request, not for every message. When the
        log is full, its newest lines are kept and what does not fit of `lines` is left out.
        """
        kept = [*lines, *self.texts][-(self.texts.maxlen or MAX_LINES) :]
        self.clear_lines()
        for line in kept:
            self.plain.append(line.plain)
            self.texts.append(line)
            self.write(line, scroll_end=False)
        self.scroll_home(animate=False)

    def clear_lines(self) -> None:
        self.plain.clear()
        self.texts.clear()
        self.clear()
        self.following = True
        self.unseen = 0
        self._show_marker()
