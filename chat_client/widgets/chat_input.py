"""The input line: history on up/down, tab completion, and `ChatInput.Line` on enter.

A line that runs a command with a password (`/login`, `/register`, ...) is shown masked while
it is typed and never goes into the history.

Keys arrive in bursts (a fast typist, `tmux send-keys`, a terminal without bracketed paste), so
the input runs key bindings as it receives each key. Left to Textual, a binding such as enter
only runs once the key has bubbled up to the app, by which time the keys typed after it are
already in the line: `one` enter `two` enter would be sent as `onetwo`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from textual.binding import Binding
from textual.events import Key, Paste
from textual.message import Message
from textual.widgets import Input

from chat_client.commands import is_secret
from chat_client.completion import Completion, apply, complete

MAX_HISTORY = 500
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


class ChatInput(Input):
    """A one-line editor for chat text and slash commands."""

    BINDINGS = [
        Binding("up", "history_back", "Previous line", show=False),
        Binding("down", "history_forward", "Next line", show=False),
        Binding("tab", "complete", "Complete", show=False),
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
        """Pasted text behaves as if typed: every line break sends the line before it."""
        event.stop()
        event.prevent_default()
        if not event.text:
            return
        start, end = sorted(self.selection)
        text = self.value[:start] + event.text + self.value[end:]
        *finished, rest = _LINE_BREAK.split(text)
        for line in finished:
            self._send(line)
        self.value = rest
        self.cursor_position = start + len(event.text) - (len(text) - len(rest))

    def action_history_back(self) -> None:
        line = self.history.back(self.value)
        if line is not None:
            self.value = line
            self.cursor_position = len(line)

    def action_history_forward(self) -> None:
        line = self.history.forward()
        if line is not None:
            self.value = line
            self.cursor_position = len(line)

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
        if self.value.strip():
            line, self.value = self.value, ""
            self._send(line)

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
