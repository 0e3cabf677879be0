"""A client of an in-process Hub, read like tests.helpers.WireClient.

Built on tests/core/harness.py: what the core queues for a connection waits in `inbox` until a
test takes it. The core answers at once, so a message that is not there yet never comes:
`recv`, `next_of` and `expect` fail at once instead of waiting.
"""

from __future__ import annotations

import re
from collections import deque
from typing import Any

from chat_server.core import Connection, Hub
from protocol import PROTOCOL_VERSION
from tests.core.harness import FakeIO, connect, send

ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")


class Peer:
    def __init__(self, hub: Hub, conn: Connection, io: FakeIO, nick: str | None) -> None:
        self.hub = hub
        self.conn = conn
        self.io = io
        self.nick = nick
        self.inbox: deque[dict[str, Any]] = deque()

    # ------------------------------------------------------------------ sending

    def send(self, type_: str, **fields: Any) -> None:
        self.send_json({"type": type_, **fields})

    def send_json(self, obj: dict[str, Any]) -> None:
        send(self.hub, self.conn, obj)

    def send_raw(self, data: bytes) -> None:
        """Bytes as one read from the socket."""
        self.hub.receive(self.conn, data)

    # ------------------------------------------------------------------ receiving

    def _pull(self) -> None:
        self.inbox.extend(self.io.drain())

    def recv(self) -> dict[str, Any]:
        """The next message; fails if the core sent nothing more."""
        self._pull()
        assert self.inbox, f"nothing more for {self.nick or self.conn}"
        return self.inbox.popleft()

    def next_of(self, *types: str) -> dict[str, Any]:
        """The next message, which must be one of `types`."""
        message = self.recv()
        assert message["type"] in types, message
        return message

    def expect(self, type_: str, **fields: Any) -> dict[str, Any]:
        """Skip messages until one of `type_` matching `fields`; fails if there is none."""
        while True:
            message = self.recv()
            if message["type"] == type_ and all(message.get(k) == v for k, v in fields.items()):
                return message

    def pending(self) -> list[dict[str, Any]]:
        """Everything sent to this client and not taken yet (the `sync` of a wire client)."""
        self._pull()
        seen = list(self.inbox)
        self.inbox.clear()
        return seen

    @property
    def closed(self) -> bool:
        """The core is done with this connection (the backend would close the socket)."""
        return self.conn.closed

    # ------------------------------------------------------------------ requests

    def hello(self, nick: str) -> dict[str, Any]:
        self.send("hello", nick=nick, protocol=PROTOCOL_VERSION)
        welcome = self.next_of("welcome")
        self.nick = welcome["nick"]
        return welcome

    def join(self, room: str) -> dict[str, Any]:
        """Join and take the joiner's replies, checking their order; returns `history`."""
        self.send("join", room=room)
        assert self.next_of("joined")["nick"] == self.nick
        history = self.next_of("history")
        self.next_of("members")
        return history


def peer(
    hub: Hub, nick: str | None = "user", room: str | None = None, address: str = "127.0.0.1"
) -> Peer:
    """A client of `hub` (registered as `nick` unless None, in `room` if given) with its
    replies so far taken."""
    conn, io = connect(hub, address=address)
    client = Peer(hub, conn, io, None)
    if nick is not None:
        client.hello(nick)
        if room is not None:
            client.join(room)
    return client
