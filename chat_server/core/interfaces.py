"""The seams of the core: what a store, a cluster or an account system replaces.

Each is a small `typing.Protocol`; `chat_server.core.memory` holds today's in-memory
implementation of each, which the Hub uses unless given another. Handlers talk to these
interfaces only, never to the structures behind them, so a SQLite store or a Redis cluster is a
new implementation here and not an edit of every handler.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from concurrent.futures import Executor
from typing import TYPE_CHECKING, NamedTuple, Protocol

from chat_server.core.moderation import StoredBan

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
    """The recent messages of each room (the window), held as encoded bodies ready to splice
    into a frame. With a persistent store the window of a room starts cold after a restart
    (`cold`): the messages before it are read from the store once and `seed` it."""

    def append(self, room: Room, message_id: int, body: bytes) -> None: ...

    def since(
        self, room: Room, last_seen: int | None, budget: int, upto: int | None = None
    ) -> list[bytes] | None:
        """Bodies with an id above `last_seen` (all when None) and not above `upto`, oldest
        first: the newest that fit in `budget` bytes. None when the window cannot tell
        (cold: older messages are in the store and not yet read)."""

    def older(
        self, room: Room, before: int | None, limit: int
    ) -> tuple[list[tuple[int, bytes]], bool | None, int | None]:
        """Up to `limit` messages older than `before`, newest first; whether that reaches the
        room's first message (True), may not (False), or the store must say (None); and,
        when None, the id below which the store has the rest."""

    def newest(self, room: Room) -> int:
        """The newest id in the window, or 0."""

    def floor(self, room: Room) -> int:
        """Messages of the room up to this id are in the store only (0: none)."""

    def cold(self, room: Room, floor: int) -> None:
        """After a restart: the room's messages up to id `floor` are in the store only."""

    def seed(self, room: Room, rows: list[tuple[int, bytes]], asked: int) -> None:
        """Messages read from the store (newest first, ids at or below the floor): `asked`
        were asked for, so fewer means the room has no older ones."""

    def window(self, room: Room) -> list[tuple[int, bytes]]: ...

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

    def publish_to(self, members: Collection[Connection], frame: bytes) -> None:
        """Fan a frame out to an explicit set of local connections (nick changes, `left`)."""


class Authenticator(Protocol):
    """Decides whether a `hello` may register; raises ProtocolError when it may not."""

    def check(self, conn: Connection, hello: Hello) -> None: ...


class StoreListener(Protocol):
    """What a store tells the core, always through the core's `post` (on the core's thread)."""

    def committed(self, ticket: int) -> None:
        """Every write up to `ticket` is durable (or failed: see `store_failed`)."""

    def store_failed(self, error: str) -> None:
        """Writes stopped reaching the database (disk full, read-only...): say so."""

    def store_recovered(self) -> None: ...


class Store(Protocol):
    """What the server remembers across restarts: rooms, messages, accounts, offline DMs, and
    the id sequence. Writes never block: each is queued for a writer and returns a ticket
    (0 when there is nothing to wait for); `StoreListener.committed` says when it is durable.
    Reads that may touch the disk go through `reads` (None: answer inline, nothing blocks)."""

    keeps_rooms: bool  # rooms outlive their last member
    reads: Executor | None

    @property
    def instance(self) -> str: ...

    @property
    def next_id(self) -> Callable[[], int]: ...

    def start(self, post: Post, listener: StoreListener, window: HistoryStore) -> StoredState:
        """Open, migrate and load; from now on completions go through `post`."""

    def close(self) -> None:
        """Write everything queued, then stop (blocks: only at shutdown)."""

    def reader(self) -> StoreReader:
        """The reader for the calling thread (a `reads` worker, or the core when inline)."""

    def health(self) -> str | None:
        """None when writes reach the database, else what is wrong."""

    def save_room(self, key: str, name: str, created: str) -> None: ...

    def set_topic(self, key: str, topic: str, by: str) -> None: ...

    def forget_room(self, key: str, upto_id: int) -> None: ...

    def add_message(self, message: StoredMessage) -> int: ...

    def add_account(self, account: AccountRecord) -> int: ...

    def set_password(self, key: str, password_hash: str) -> int: ...

    def drop_account(self, key: str) -> int: ...

    def add_offline_dm(self, dm: StoredDm, keep: int) -> int: ...

    def drop_offline_dms(self, recipient: str, upto_id: int) -> None: ...

    # Moderation (core.moderation): a room's owner and modes, ops by account, bans and mutes
    # (scope: a room's key, or "" for the server), and the moderation log.

    def set_room_owner(self, key: str, owner: str | None) -> None: ...

    def set_room_modes(self, key: str, modes: str) -> None: ...

    def set_op(self, room: str, account: str, on: bool) -> None: ...

    def forget_account_roles(self, account: str) -> None:
        """The account is gone: it owns and ops no room."""

    def save_ban(self, ban: StoredBan) -> None: ...

    def drop_ban(self, scope: str, kind: str, mask: str) -> None: ...

    def add_modlog(self, entry: ModLogRecord, keep: int) -> None:
        """Log a moderation action, keeping the newest `keep` entries of its scope."""


class StoreReader(Protocol):
    """Reads, newest first, each bounded by `limit` rows. They may run on a worker thread:
    of a Room they read only its `key`."""

    def history(self, room: Room, before: int | None, limit: int) -> list[tuple[int, bytes]]:
        """Message ids and bodies older than `before` (all when None), newest first."""

    def search(self, room: Room, query: str, limit: int) -> list[tuple[int, bytes]]:
        """Messages containing every word of `query` (protocol: `search`), newest first."""

    def offline_dms(self, recipient: str) -> list[StoredDm]: ...

    def modlog(self, scope: str, limit: int) -> list[ModLogRecord]:
        """The newest `limit` entries of a room's (or, for "", the server's) log."""


Post = Callable[[Callable[[], None]], None]


class StoredMessage(NamedTuple):
    id: int
    room: str  # the room's key
    body: bytes  # the `message` body as sent (without a ref)
    text: str  # for the search index
    account: str | None  # the sender's account, when logged in


class StoredDm(NamedTuple):
    recipient: str  # the account's key
    id: int
    sender: str
    text: str
    ts: str


class AccountRecord(NamedTuple):
    key: str
    visual: str
    name: str
    hash: str
    created: str


class RoomRecord(NamedTuple):
    key: str
    name: str
    topic: str
    topic_by: str
    created: str
    last_active: float
    last_id: int  # newest message id (0: none)
    owner: str | None = None  # the owning account's key
    modes: str = ""  # core.moderation.Modes as JSON ("": none set)


class ModLogRecord(NamedTuple):
    scope: str  # a room's key, or "" for the server
    ts: str
    by: str
    action: str
    target: str
    reason: str | None


class StoredState(NamedTuple):
    rooms: list[RoomRecord]
    accounts: list[AccountRecord]
    offline: dict[str, int]  # account key -> offline DMs waiting
    ops: list[tuple[str, str]] = []  # (room key, account key)
    bans: list[StoredBan] = []
