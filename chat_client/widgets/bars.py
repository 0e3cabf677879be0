"""One-line bars: the status line (server, backend, connection, ping) and the topic line."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from chat_client.session import ConnState
from chat_client.text import inert, steady
from protocol.names import name_key


def _shown(text: str) -> str:
    """Someone else's text for a one-line bar: inert, and emoji of ambiguous width made steady
    (text.steady), so the bar's columns are where the terminal draws them."""
    return steady(inert(text))


STATE_STYLES = {
    ConnState.CONNECTED: "bold #98c379",
    ConnState.CONNECTING: "bold #e5c07b",
    ConnState.RECONNECTING: "bold #e5c07b",
    ConnState.OFFLINE: "bold #e06c75",
}


class StatusBar(Static):
    """`wirechat  127.0.0.1:8089  asyncio  ● connected  rtt 1 ms  as alice`.

    Logged in, the end reads `logged in as alice` (or `as bob  logged in as alice` when the
    nick is not the account's).
    """

    def __init__(self, server: str, *, id: str | None = None) -> None:
        super().__init__("", id=id, markup=False)
        self.server = server
        self.backend = ""
        self.nick = ""
        self.account: str | None = None  # the account logged in to, from welcome/registered
        self.state = ConnState.CONNECTING
        self.retry_at: float | None = None
        self.rtt: float | None = None
        self.pending = 0

    def on_mount(self) -> None:
        self.set_interval(1.0, self.redraw)
        self.redraw()

    def status_text(self) -> Text:
        line = Text(no_wrap=True, overflow="ellipsis")
        line.append(" wirechat ", style="bold reverse")
        line.append("  ")
        line.append(_shown(self.server), style="bold")
        if self.backend:
            line.append("  backend ", style="dim")
            line.append(_shown(self.backend))
        line.append("  ● ", style=STATE_STYLES[self.state])
        label = self.state.value
        if self.state is ConnState.RECONNECTING and self.retry_at is not None:
            remaining = max(0, round(self.retry_at - self.app_time()))
            label = f"reconnecting in {remaining}s"
        line.append(label, style=STATE_STYLES[self.state])
        if self.state is ConnState.CONNECTED and self.rtt is not None:
            line.append("  ping ", style="dim")
            line.append(f"{self.rtt * 1000:.0f} ms")
        if self.pending:
            line.append(f"  {self.pending} queued", style="bold #e5c07b")
        if self.nick and not (self.account and name_key(self.account) == name_key(self.nick)):
            line.append("  as ", style="dim")
            line.append(_shown(self.nick), style="bold")
        if self.account:
            line.append("  logged in as ", style="dim")
            line.append(_shown(self.account), style="bold #98c379")
        return line

    def app_time(self) -> float:
        import time

        return time.monotonic()

    def redraw(self) -> None:
        self.update(self.status_text())


class TopicBar(Static):
    """The current conversation's name, the client's badges for it, and its topic.

    `#lobby  [op]  [+ik limit 20]  the topic  (set by bob)`: the badges are the client's own
    words (our role, the room's modes, `not a member`), never someone else's text.
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("", id=id, markup=False)

    def show(self, label: str, topic: str, by: str = "", badges: tuple[str, ...] = ()) -> None:
        line = Text(no_wrap=True, overflow="ellipsis")
        line.append(_shown(label), style="bold")
        for badge in badges:
            line.append("  ")
            line.append(f"[{badge}]", style="bold #e5c07b")
        if topic:
            line.append("  ")
            line.append(_shown(topic))
            if by:
                line.append(f"  (set by {_shown(by)})", style="dim")
        else:
            line.append("  no topic", style="dim italic")
        self.update(line)
