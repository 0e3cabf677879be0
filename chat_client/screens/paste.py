"""Asks before a long paste is sent: a paste of many lines is often a mistake.

Shows how many lines would go out, one message each, and the first few of them (inert);
dismisses with True (send) or False (cancel). Cancel has the focus, so an enter typed out of
habit sends nothing: `s` or `y` sends, `n`, `c` or escape cancels, tab moves between the two
buttons.
"""

from __future__ import annotations

import re

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static

from chat_client.text import inert

#: How many of the pasted lines the prompt shows.
PREVIEW_LINES = 3
_PREVIEW_WIDTH = 60


class PasteScreen(ModalScreen[bool]):
    """Send a paste of `count` lines, one message per line, or not."""

    DEFAULT_CSS = """
    PasteScreen {
        align: center middle;
    }
    #paste-form {
        width: 68;
        max-width: 100%;
        height: auto;
        border: round $warning;
        padding: 1 2;
    }
    #paste-form > Static {
        margin-bottom: 1;
    }
    #paste-title {
        text-style: bold;
    }
    #paste-preview {
        color: $text-muted;
    }
    #paste-buttons {
        height: auto;
    }
    #paste-buttons > Button {
        width: 1fr;
    }
    """

    BINDINGS = [
        Binding("escape,n,c", "cancel", "Cancel"),
        Binding("s,y", "send", "Send"),
    ]

    def __init__(self, text: str, count: int) -> None:
        super().__init__()
        self.text = text
        self.count = count

    def compose(self) -> ComposeResult:
        lines = [line for line in re.split(r"\r\n|\r|\n", self.text) if line.strip()]
        preview = [inert(line)[:_PREVIEW_WIDTH] for line in lines[:PREVIEW_LINES]]
        if len(lines) > PREVIEW_LINES:
            preview.append(f"... and {len(lines) - PREVIEW_LINES} more")
        with Vertical(id="paste-form"):
            yield Static(
                Text(f"Send {self.count} pasted lines, one message each?"),
                id="paste-title",
                markup=False,
            )
            yield Static(Text("\n".join(preview)), id="paste-preview", markup=False)
            with Horizontal(id="paste-buttons"):
                yield Button("Send (s)", id="paste-send", variant="warning")
                yield Button("Cancel (esc)", id="paste-cancel", variant="primary")

    def on_mount(self) -> None:
        self.query_one("#paste-cancel", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(event.button.id == "paste-send")

    def action_send(self) -> None:
        self.dismiss(True)

    def action_cancel(self) -> None:
        self.dismiss(False)
