"""The find prompt (ctrl+f): a text to look for in the current conversation's log.

enter and up go to the next older line that holds it, down to the next newer one (wrapping
around); the bar's border says `3/7` or `no match`; escape closes it and gives the focus back
to the input line. What it searches is what the log holds (`ChatLog.find`).
"""

from __future__ import annotations

from collections.abc import Callable

from textual.binding import Binding
from textual.widgets import Input

#: Search `text`, `older` or newer: what to say in the border (`3/7`, `no match`).
Finder = Callable[[str, bool], str]


class FindBar(Input):
    """One line to type a text to find; hidden until ctrl+f."""

    DEFAULT_CSS = """
    FindBar {
        display: none;
        border: tall $warning 60%;
        height: 3;
        border-subtitle-color: $warning;
        border-subtitle-align: right;
    }
    FindBar:focus {
        border: tall $warning;
    }
    """

    BINDINGS = [
        Binding("escape", "close", "Close", show=False),
        Binding("up", "find(True)", "Older match", show=False),
        Binding("down", "find(False)", "Newer match", show=False),
    ]

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(
            id=id,
            placeholder="find in this conversation (enter/up: older, down: newer, esc: close)",
            select_on_focus=True,
        )
        self.finder: Finder = lambda text, older: "no match"
        self.on_close: Callable[[], None] = lambda: None
        self.border_title = "find"

    def open(self) -> None:
        self.display = True
        self.border_subtitle = ""
        self.focus()

    def action_find(self, older: bool) -> None:
        if not self.value:
            self.border_subtitle = "type a text to find"
            return
        self.border_subtitle = self.finder(self.value, older)

    async def action_submit(self) -> None:
        self.action_find(True)

    def action_close(self) -> None:
        self.display = False
        self.on_close()
