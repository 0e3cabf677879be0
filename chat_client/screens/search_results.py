"""The answer to `/search` as a list to jump into: one row per message, newest first.

Up and down (or the mouse) choose a message; enter dismisses with its id, and the chat screen
shows it in the room's log, loading older history to reach it when needed. Escape closes the
list. Every row is built from `render.search_line`, so what others wrote stays inert text.
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from chat_client.render import search_line
from chat_client.text import inert
from protocol import ChatMessage

#: How a newline of a multi-line message is shown in its one row.
NEWLINE_MARK = " ↵ "


class SearchResultsScreen(ModalScreen[int | None]):
    """Pick one of `messages` (newest first) to jump to; dismisses with its id, or None."""

    DEFAULT_CSS = """
    SearchResultsScreen {
        align: center middle;
    }
    #search-box {
        width: 100%;
        max-width: 120;
        height: 80%;
        border: round $accent;
        padding: 0 1;
    }
    #search-title {
        text-style: bold;
        height: auto;
    }
    #search-help {
        color: $text-muted;
        height: auto;
    }
    #search-list {
        height: 1fr;
    }
    """

    BINDINGS = [Binding("escape", "close", "Close")]

    def __init__(self, room: str, query: str, messages: list[ChatMessage]) -> None:
        super().__init__()
        self.room = room
        self.query_text = query
        self.messages = messages

    def compose(self) -> ComposeResult:
        count = len(self.messages)
        title = f"search {self.query_text!r} in #{self.room}: {count} result(s), newest first"
        with Vertical(id="search-box"):
            yield Static(Text(inert(title)), id="search-title", markup=False)
            yield Static(
                Text("enter: show it in the log · escape: close"),
                id="search-help",
                markup=False,
            )
            yield OptionList(
                *(
                    Option(
                        search_line(
                            msg.ts,
                            msg.nick,
                            msg.text.replace("\n", NEWLINE_MARK),
                            action=msg.action,
                        ),
                        id=str(msg.id),
                    )
                    for msg in self.messages
                ),
                id="search-list",
            )

    def on_mount(self) -> None:
        self.query_one(OptionList).focus()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        option_id = event.option.id
        self.dismiss(int(option_id) if option_id is not None else None)

    def action_close(self) -> None:
        self.dismiss(None)
