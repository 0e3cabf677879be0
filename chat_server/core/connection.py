"""Per-connection state kept by the core, and what the core needs from an IO backend."""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING, Protocol

from chat_server.core.phases import Phase
from protocol import FrameDecoder

if TYPE_CHECKING:
    from chat_server.core.guards import FloodGuard
    from chat_server.core.rooms import Room
    from protocol import ClientMessage, ProtocolError


class Malformed:
    """Marks a held frame that failed validation (and was answered with its error)."""

    type = "invalid"


MALFORMED = Malformed()


class ConnectionIO(Protocol):
    """What a backend gives the core for each connection. None of these may block or call
    back into the Hub; each may be called from inside any Hub method."""

    def output_ready(self) -> None:
        """The connection has output queued (or must close): flush it soon.

        Called at most once until the backend next calls `Connection.take_output()`, so a
        backend can coalesce every frame queued in one loop turn into a single write.
        """

    def pause_reading(self) -> None:
        """Stop reading this socket (flood control): unread input waits in the kernel."""

    def resume_reading(self) -> None:
        """Read this socket again."""


class Connection:
    """One client as the core sees it: phase, nick, rooms, decoder, held requests, output."""

    __slots__ = (
        "account",
        "account_key",
        "address",
        "away",
        "busy",
        "closed",
        "decoder",
        "doomed",
        "exempt",
        "flood",
        "held",
        "holds",
        "id",
        "io",
        "ip",
        "key",
        "last_seen",
        "local_user",
        "nick",
        "opened",
        "out",
        "out_base",
        "out_bytes",
        "over_soft_since",
        "paused",
        "peer",
        "phase",
        "reset",
        "rooms",
        "said",
        "unsent",
        "waiting",
        "waiting_since",
        "wake_pending",
        "withheld",
    )

    def __init__(
        self,
        conn_id: int,
        peer: str,
        address: str | None,
        io: ConnectionIO,
        max_frame: int,
        now: float,
    ) -> None:
        self.id = conn_id
        self.peer = peer  # for logs: "host:port"
        self.address = address  # the source-address bucket the per-address caps count in
        self.ip: str | None = None  # the source address itself (ip: ban masks); None: local
        self.local_user: str | None = None  # a Unix-socket peer's login name (SO_PEERCRED)
        self.io = io
        self.enter(Phase.CONNECTED)
        self.closed = False
        self.decoder = FrameDecoder(max_frame)
        self.doomed: ProtocolError | None = None  # a fatal error due once `waiting` is done
        self.nick: str | None = None  # set exactly when phase is REGISTERED (or was)
        self.key: str | None = None  # name_key(nick)
        self.account: str | None = None  # the account logged in to: its name...
        self.account_key: str | None = None  # ...and its key
        # Presence (handlers/presence.py): the away message while away, and when (wall-clock
        # seconds) it last sent a `dm` (what it says in rooms is read from their history).
        self.away: str | None = None
        self.said: float | None = None
        # Deferred work (a store read, a password hash) runs for it: requests wait meanwhile.
        self.busy = False
        # Output that waits for the store (Hub.withhold): `holds` lists, oldest first, each
        # store ticket a frame waits for and that frame's index in `out`; the frames before
        # the first may be written. `withheld` is true while any are.
        self.withheld = False
        self.holds: deque[tuple[int, int]] | None = None
        self.out_base = 0  # frames taken from `out` since the first hold: indexes count it
        self.paused = 0  # why reading is paused (flow.PAUSED_*), 0 when it is not
        self.rooms: dict[str, Room] = {}  # room key -> room
        # Flood control: None for exempt addresses. Requests read but not yet allowed to run
        # (raw bodies, or messages already validated) wait in `waiting`, in order.
        self.exempt = False
        self.flood: FloodGuard | None = None
        # Only while something waits (an empty deque costs ~600 bytes per connection).
        self.waiting: deque[bytes] | None = None
        # waiting[0] once validated, while it waits for its turn.
        self.held: ClientMessage | Malformed | None = None
        self.waiting_since: float | None = None  # when `waiting` last went above the cap
        # Output: frames queued since the last flush, and what the backend reported unsent.
        # `out_bytes` counts both (the frames in `out`, plus `unsent`), so the fan-out loop
        # checks the caps with one sum.
        self.out: list[bytes] = []
        self.out_bytes = 0
        self.unsent = 0
        self.over_soft_since: float | None = None
        self.wake_pending = False
        self.reset = False  # closing as a slow consumer: discard unsent data, reset the socket
        self.last_seen = now
        self.opened = now

    def enter(self, phase: Phase) -> None:
        """Move to `phase` (the only way the phase changes)."""
        self.phase = phase
        # `closed` mirrors the CLOSING phase as a plain attribute: backends and the fan-out
        # path read it for every frame. The core is then done with the connection: write
        # what `take_output` gives, then close the socket once `finished` (at once, with a
        # reset, when `reset` is true).
        self.closed = phase is Phase.CLOSING

    @property
    def finished(self) -> bool:
        """The core is done with it and nothing is withheld: close once written."""
        return self.closed and not self.withheld

    def hold(self, ticket: int) -> None:
        """The last frame queued, and all after it, wait for store write `ticket`."""
        if self.holds is None:
            self.holds = deque()
            self.out_base = 0
        self.holds.append((ticket, self.out_base + len(self.out) - 1))
        self.withheld = True

    def release(self, durable: int) -> bool:
        """Store writes up to `durable` are done: True if more output may go now."""
        holds = self.holds
        if holds is None or holds[0][0] > durable:
            return False
        while holds and holds[0][0] <= durable:
            holds.popleft()
        if not holds:
            self.holds = None
            self.withheld = False
        return True

    def take_output(self) -> bytes:
        """Everything queued since the last call that may go now, as one buffer to write;
        b"" if nothing. Frames withheld for the store stay (the core calls `output_ready()`
        again when they may go)."""
        holds = self.holds
        if holds is not None:
            return self._take_released(holds)
        out = self.out
        self.wake_pending = False
        if not out:
            return b""
        data = out[0] if len(out) == 1 else b"".join(out)
        self.out = []
        self.out_bytes = self.unsent  # the backend reports its new figure after writing
        return data

    def _take_released(self, holds: deque[tuple[int, int]]) -> bytes:
        cut = holds[0][1] - self.out_base
        if cut <= 0:
            return b""  # still woken: the core wakes the backend again on release
        self.wake_pending = False
        out = self.out
        data = b"".join(out[:cut])
        del out[:cut]
        self.out_base += cut
        self.out_bytes -= len(data)
        return data

    def __repr__(self) -> str:
        return f"<Connection {self.id} {self.nick or '-'}@{self.peer}>"
