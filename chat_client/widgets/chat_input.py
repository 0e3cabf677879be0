"""The input line: history on up/down, tab completion, and `ChatInput.Line` on enter.

A line that runs a command with a password (`/login`, `/register`, ...) is shown masked while
it is typed and never goes into the history.

Keys arrive in bursts (a fast typist, `tmux send-keys`, a terminal without bracketed paste), so
the input runs key bindings as it receives each key. Left to Textual, a binding such as enter
only runs once the key has bubbled up to the app, by which time the keys typed after it are
already in the line: `one` enter `two` enter would be sent as `onetwo`.

A message may have several lines. alt+enter (ESC then CR: every terminal that sends Alt as an
ESC prefix), shift+enter (where the terminal reports it apart from enter: the kitty keyboard
protocol) and ctrl+j start a new line at the cursor; enter sends the whole message. The input
edits one line at a time: the message's other lines are shown above it and below it
(`DraftRows`), up and down move between them, backspace at the start of a line joins it to the
one above and delete at its end joins the one below. In a one-line draft, up and down browse
the history as before.

A paste of more than `PASTE_CONFIRM_LINES` lines asks first (`PasteScreen`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from rich.text import Text
from textual.binding import Binding
from textual.events import Key, Paste
from textual.message import Message
from textual.widgets import Input, Static

from chat_client.commands import is_secret
from chat_client.completion import Completion, apply, complete
from chat_client.text import inert

MAX_HISTORY = 500
#: A paste with more lines than this (not counting blank ones) asks before it is sent.
PASTE_CONFIRM_LINES = 5
#: The most rows of a multi-line draft shown above the input line (then `N more lines`).
DRAFT_ROWS_SHOWN = 4
_LINE_BREAK = re.compile(r"\r\n|\r|\n")


@dataclass(slots=True)
class CompletionSource:
    """Where completion candidates come from (filled in by the screen)."""

    commands: Callable[[], list[str]] = list
    nicks: Callable[[], list[str]] = list
    rooms: Callable[[], list[str]] = list
    #: Candidates for the arguments of some commands, by command (`/unban`: masks).
    arguments: Callable[[], dict[str, list[str]]] = dict


@dataclass(slots=True)
class InputHistory:
    """Lines entered before, browsed like a shell history; the draft line is kept."""

    entries: list[str] = field(default_factory=list)
    position: int = 0
    draft: str = ""

    def add(self, line: str) -> None:
        if line and (not self.entries or self.entries[-1] != line):
            self.entries.append(line)
            del self.entries[:-MAX_HISTORY]
        self.position = len(self.entries)
        self.draft = ""

    def back(self, current: str) -> str | None:
        if self.position == 0:
            return None
        if self.position == len(self.entries):
            self.draft = current
        self.position -= 1
        return self.entries[self.position]

    def forward(self) -> str | None:
        if self.position >= len(self.entries):
            return None
        self.position += 1
        if self.position == len(self.entries):
            return self.draft
        return self.entries[self.position]


class DraftRows(Static):
    """The lines of a multi-line draft above (or below) the one being edited."""

    DEFAULT_CSS = """
    DraftRows {
        display: none;
        height: auto;
        padding: 0 2;
        background: $boost;
    }
    """

    def __init__(self, *, above: bool, id: str | None = None) -> None:
        super().__init__("", id=id, markup=False)
        self.above = above
        self.rows: list[str] = []

    def show_rows(self, rows: list[str]) -> None:
        self.rows = list(rows)
        self.display = bool(rows)
        shown = rows[-DRAFT_ROWS_SHOWN:] if self.above else rows[:DRAFT_ROWS_SHOWN]
        hidden = len(rows) - len(shown)
        # A row that would be a command with a password (moved up from the input, where it
        # was masked) stays masked.
        text = Text("\n".join(_shown_row(row) for row in shown))
        if hidden:
            more = Text(f"┆ {hidden} more line(s) {'above' if self.above else 'below'}", "dim")
            text = Text("\n").join([more, text] if self.above else [text, more])
        self.update(text)


def _shown_row(row: str) -> str:
    if " " in row and is_secret(row):
        return "•" * len(row)
    return inert(row.replace("\t", "    "))


def pasted_lines(text: str) -> int:
    """How many lines a paste holds, not counting blank ones."""
    return sum(1 for line in _LINE_BREAK.split(text) if line.strip())


class ChatInput(Input):
    """An editor for chat text and slash commands, one line of the message at a time."""

    BINDINGS = [
        Binding("up", "history_back", "Previous line", show=False),
        Binding("down", "history_forward", "Next line", show=False),
        Binding("tab", "complete", "Complete", show=False),
        # ESC CR is read as alt+enter (chat_client/keys.py); ctrl+j is a newline (LF).
        Binding("alt+enter,shift+enter,ctrl+j", "newline", "New line", show=False),
    ]

    class Line(Message):
        """The user pressed enter on a non-empty line."""

        def __init__(self, text: str) -> None:
            super().__init__()
            self.text = text

    def __init__(self, *, id: str | None = None, placeholder: str = "") -> None:
        super().__init__(id=id, placeholder=placeholder, select_on_focus=False)
        self.history = InputHistory()
        self.source = CompletionSource()
        self._completion: Completion | None = None
        self._base: tuple[str, int] = ("", 0)
        #: The lines of a multi-line draft before and after the one being edited.
        self.rows_above: list[str] = []
        self.rows_below: list[str] = []
        #: Where the other lines are shown (the screen's `DraftRows`, if it has them).
        self.above_view: DraftRows | None = None
        self.below_view: DraftRows | None = None
        #: A paste waiting for the user to say send or cancel.
        self.pending_paste: str | None = None

    # ------------------------------------------------------------------ the whole draft

    @property
    def text(self) -> str:
        """The whole message being written, its lines joined by newlines."""
        return "\n".join([*self.rows_above, self.value, *self.rows_below])

    @property
    def multiline(self) -> bool:
        return bool(self.rows_above or self.rows_below)

    def set_text(self, text: str, cursor: int | None = None) -> None:
        """Put `text` (it may have several lines) in the input, the cursor at its end, or at
        `cursor` in its last line."""
        *above, last = _LINE_BREAK.split(text)
        self.rows_above, self.rows_below = above, []
        self.value = last
        self.cursor_position = len(last) if cursor is None else cursor
        self._show_rows()

    def _show_rows(self) -> None:
        if self.above_view is not None:
            self.above_view.show_rows(self.rows_above)
        if self.below_view is not None:
            self.below_view.show_rows(self.rows_below)

    def action_newline(self) -> None:
        """alt+enter, shift+enter, ctrl+j: a new line of the message at the cursor."""
        start, end = sorted(self.selection)
        before, after = self.value[:start], self.value[end:]
        self.rows_above.append(before)
        self.value = after
        self.cursor_position = 0
        self._show_rows()

    def action_delete_left(self) -> None:
        """backspace; at the start of a line of a multi-line draft, it joins the one above."""
        if self.selection.is_empty and self.cursor_position == 0 and self.rows_above:
            previous = self.rows_above.pop()
            self.value = previous + self.value
            self.cursor_position = len(previous)
            self._show_rows()
            return
        super().action_delete_left()

    def action_delete_right(self) -> None:
        """delete; at the end of a line of a multi-line draft, it joins the one below."""
        at_end = self.cursor_position == len(self.value)
        if self.selection.is_empty and at_end and self.rows_below:
            cursor = self.cursor_position
            self.value += self.rows_below.pop(0)
            self.cursor_position = cursor
            self._show_rows()
            return
        super().action_delete_right()

    async def _on_key(self, event: Key) -> None:
        if event.key != "tab":
            self._completion = None
        # Resolve the key's bindings (this input's, then the screen's and the app's) now, the way
        # the app would once the key had bubbled up to it, but in order with the keys after it.
        # Printable keys are not matched by the screen or app bindings: Input consumes them.
        # `_check_bindings` is Textual's own resolution (checked against 8.2.8, see the lock).
        if await self.app._check_bindings(event.key):
            event.stop()
            event.prevent_default()  # so neither Input nor the app handles the key again

    def _on_paste(self, event: Paste) -> None:
        """Pasted text behaves as if typed: every line break sends the line before it.

        In a multi-line draft the paste's lines become lines of the draft instead (nothing is
        sent). A paste of more than `PASTE_CONFIRM_LINES` lines asks first (`PasteScreen`)."""
        event.stop()
        event.prevent_default()
        if not event.text:
            return
        if self.multiline:
            self._paste_into_draft(event.text)
            return
        if pasted_lines(event.text) > PASTE_CONFIRM_LINES and _LINE_BREAK.search(event.text):
            self._confirm_paste(event.text)
            return
        self.paste_lines(event.text)

    def _confirm_paste(self, text: str) -> None:
        from chat_client.screens.paste import PasteScreen

        self.pending_paste = text

        def decided(send: bool | None) -> None:
            self.pending_paste = None
            if send:
                self.paste_lines(text)
            self.focus()

        self.app.push_screen(PasteScreen(text, pasted_lines(text)), decided)

    def _paste_into_draft(self, pasted: str) -> None:
        start, end = sorted(self.selection)
        text = self.value[:start] + pasted + self.value[end:]
        *finished, rest = _LINE_BREAK.split(text)
        self.rows_above.extend(finished)
        self.value = rest
        self.cursor_position = start + len(pasted) - (len(text) - len(rest))
        self._show_rows()

    def paste_lines(self, pasted: str) -> None:
        """Apply a paste as typed: each line break sends the line before it (not blank)."""
        start, end = sorted(self.selection)
        text = self.value[:start] + pasted + self.value[end:]
        *finished, rest = _LINE_BREAK.split(text)
        for line in finished:
            self._send(line)
        self.value = rest
        self.cursor_position = start + len(pasted) - (len(text) - len(rest))

    def action_history_back(self) -> None:
        """up: the line above in a multi-line draft, else the previous entry of the history."""
        if self.rows_above:
            column = self.cursor_position
            self.rows_below.insert(0, self.value)
            self.value = self.rows_above.pop()
            self.cursor_position = min(column, len(self.value))
            self._show_rows()
            return
        line = self.history.back(self.text)
        if line is not None:
            self.set_text(line)

    def action_history_forward(self) -> None:
        """down: the line below in a multi-line draft, else the next entry of the history."""
        if self.rows_below:
            column = self.cursor_position
            self.rows_above.append(self.value)
            self.value = self.rows_below.pop(0)
            self.cursor_position = min(column, len(self.value))
            self._show_rows()
            return
        line = self.history.forward()
        if line is not None:
            self.set_text(line)

    def action_complete(self) -> None:
        if self._completion is None:
            self._base = (self.value, self.cursor_position)
            self._completion = complete(
                self.value,
                self.cursor_position,
                commands=self.source.commands(),
                nicks=self.source.nicks(),
                rooms=self.source.rooms(),
                arguments=self.source.arguments(),
            )
            if self._completion is None:
                return  # nothing to complete: no bell (it is kept for mentions and DMs)
        else:
            self._completion.index = (self._completion.index + 1) % len(self._completion.candidates)
        value, cursor = apply(*self._base, self._completion)
        self.value = value
        self.cursor_position = cursor

    async def action_submit(self) -> None:
        """enter: send the whole draft (all its lines) if it is not blank."""
        text = self.text
        if text.strip():
            self.rows_above, self.rows_below = [], []
            self.value = ""
            self._show_rows()
            self._send(text)

    def watch_value(self, value: str) -> None:
        # `/login PASSWORD` and the like: shown as bullets once the password may follow.
        self.password = " " in value and is_secret(value)

    def _send(self, line: str) -> None:
        """Post a line that is not blank, and remember it in the history (unless it holds a
        password or a room key: `/login`, `/register`, `/passwd`, `/unregister`, `/key`,
        `/join ROOM KEY` are never kept)."""
        if line.strip():
            if not is_secret(line):
                self.history.add(line)
            else:
                self.history.position = len(self.history.entries)
                self.history.draft = ""
            self.post_message(self.Line(line))
