"""A conversation's log: a capped RichLog that only accepts Text lines and keeps their plain text."""

from __future__ import annotations

from collections import deque

from rich.text import Text
from textual.widgets import RichLog

MAX_LINES = 5000


class ChatLog(RichLog):
    """Lines of one conversation. Markup is off; lines are Text objects built by `render`."""

    def __init__(self, *, max_lines: int = MAX_LINES, id: str | None = None) -> None:
        super().__init__(max_lines=max_lines, wrap=True, markup=False, highlight=False, id=id)
        self.can_focus = False
        self.plain: deque[str] = deque(maxlen=max_lines)

    def add(self, line: Text) -> None:
        """Append one line (it may wrap, or hold newlines of a multi-line message)."""
        self.plain.append(line.plain)
        self.write(line)

    def clear_lines(self) -> None:
        self.plain.clear()
        self.clear()
