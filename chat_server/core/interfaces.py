"""The seams of the core: what a store, a cluster or an account system replaces.

Each is a small `typing.Protocol`; `chat_server.core.memory` holds today's in-memory
implementation of each, which the Hub uses unless given another. Handlers talk to these
interfaces only, never to the structures behind them, so a SQLite store or a Redis cluster is a
new implementation here and not an edit of every handler.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from chat_server.core.connection import Connection
    from chat_server.core.rooms import Room
    from protocol import Hello


class Clock(Protocol):
    def monotonic(self) -> float:
        """Seconds from an arbitrary start, never going back: every timer and limit uses it."""

    def stamp(self) -> str:
        """The wall-clock `ts` of a frame being built now."""


class IdSource(Protocol):
    """Message ids: one increasing sequence for `message` and `dm`."""

    @property
    def instance(self) -> str:
        """Identifies the sequence: ids are comparable only under one instance token."""

    def next_id(self) -> int: ...


class HistoryStore(Protocol):
    """The recent messages of each room, held as encoded bodies ready to splice into a frame."""

    def append(self, room: Room, message_id: int, body: bytes) -> None: ...

    def since(self, room: Room, last_seen: int | None, budget: int) -> list[bytes]:
        """Bodies with an id above `last_seen` (all when None), oldest first: the newest that
        fit in `budget` bytes."""

    def forget(self, room: Room) -> None:
        """The room is gone: release what is held for it."""


class NickRegistry(Protocol):
    """Who holds which nick. A nick is taken when either of its identity keys is held."""

    def holder(self, nick: str) -> Connection | None:
        """The connection holding `nick` (or a look-alike of it), if any: where a `dm` goes."""

    def taken_by(self, nick: str, conn: Connection) -> Connection | None:
        """Another connection than `conn` that holds either identity key of `nick`."""

    def claim(self, conn: Connection, nick: str) -> None:
        """Give `nick` to `conn`, releasing what it held. The caller checked `taken_by`."""

    def release(self, conn: Connection) -> None: ...

    def __len__(self) -> int: ...


class RoomBus(Protocol):
    """Fan-out of a room's frames to its members (local ones; a cluster adds the others)."""

    def publish(self, room: Room, frame: bytes) -> None: ...

    def publish_to(self, members: Iterable[Connection], frame: bytes) -> None:
        """Fan a frame out to an explicit set of local connections (nick changes, `left`)."""


class Authenticator(Protocol):
    """Decides whether a `hello` may register; raises ProtocolError when it may not."""

    def check(self, conn: Connection, hello: Hello) -> None: ...
