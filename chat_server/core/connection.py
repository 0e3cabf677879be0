"""Per-connection state kept by the core, and the one call it needs from an IO backend."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from protocol import FrameDecoder

if TYPE_CHECKING:
    from chat_server.core.rooms import Room


class ConnectionIO(Protocol):
    """What a backend gives the core for each connection."""

    def output_ready(self) -> None:
        """The connection has output queued (or must close): flush it soon.

        Called at most once until the backend next calls `Connection.take_output()`, so a
        backend can coalesce every frame queued in one loop turn into a single write. It may be
        called from inside any Hub method; it must not block or call back into the Hub.
        """


class Connection:
    """One client as the core sees it: its nick, rooms, decoder and queue of outbound frames."""

    __slots__ = (
        "closed",
        "decoder",
        "id",
        "io",
        "key",
        "last_seen",
        "nick",
        "opened",
        "out",
        "out_bytes",
        "peer",
        "rooms",
        "wake_pending",
    )

    def __init__(self, conn_id: int, peer: str, io: ConnectionIO, max_frame: int, now: float):
        self.id = conn_id
        self.peer = peer
        self.io = io
        self.decoder = FrameDecoder(max_frame)
        self.nick: str | None = None
        self.key: str | None = None  # name_key(nick) once registered
        self.rooms: dict[str, Room] = {}  # room key -> room
        self.out: list[bytes] = []
        self.out_bytes = 0
        self.wake_pending = False
        self.closed = False
        self.last_seen = now
        self.opened = now

    def take_output(self) -> bytes:
        """Everything queued since the last call, as one buffer to write; b"" if nothing.

        After this returns, check `closed`: if true, write the bytes and then close the socket.
        """
        out = self.out
        self.wake_pending = False
        if not out:
            return b""
        data = out[0] if len(out) == 1 else b"".join(out)
        self.out = []
        self.out_bytes = 0
        return data

    def __repr__(self) -> str:
        return f"<Connection {self.id} {self.nick or '-'}@{self.peer}>"
