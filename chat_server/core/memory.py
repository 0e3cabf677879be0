"""The in-memory implementations of the core's seams: what a server without a store uses."""

from __future__ import annotations

import hmac
import itertools
import secrets
from collections import deque
from collections.abc import Iterable
from typing import TYPE_CHECKING

from chat_server.core.outbox import Outbox
from protocol import ErrorCode, Hello, ProtocolError
from protocol.names import name_keys

if TYPE_CHECKING:
    from chat_server.core.connection import Connection
    from chat_server.core.rooms import Room


class MemoryIds:
    """Ids from one counter; the instance token changes with every process (ids restart)."""

    __slots__ = ("_counter", "_instance")

    def __init__(self) -> None:
        self._counter = itertools.count(1)
        self._instance = secrets.token_hex(8)

    @property
    def instance(self) -> str:
        return self._instance

    def next_id(self) -> int:
        return next(self._counter)


class _RoomHistory:
    __slots__ = ("held", "messages")

    def __init__(self) -> None:
        self.messages: deque[tuple[int, bytes]] = deque()
        self.held = 0  # bytes of the bodies in `messages`


class MemoryHistory:
    """The newest messages of each room, within three bounds: `per_room` messages (no more
    than a join can replay), `room_bytes` per room, and `total_bytes` across the server, where
    the oldest messages server-wide go first."""

    def __init__(self, per_room: int, room_bytes: int, total_bytes: int) -> None:
        self.per_room = per_room
        self.room_bytes = room_bytes
        self.total_bytes = total_bytes
        self.held = 0
        self._rooms: dict[str, _RoomHistory] = {}
        # Every message appended, oldest first, for the server-wide bound. Entries of messages
        # a room already dropped are skipped when reached, and compacted away when they
        # outnumber the live ones.
        self._order: deque[tuple[int, str]] = deque()
        self._live = 0

    def append(self, room: Room, message_id: int, body: bytes) -> None:
        if self.per_room <= 0:
            return
        history = self._rooms.get(room.key)
        if history is None:
            history = self._rooms[room.key] = _RoomHistory()
        size = len(body)
        history.messages.append((message_id, body))
        history.held += size
        self.held += size
        self._order.append((message_id, room.key))
        self._live += 1
        messages = history.messages
        while len(messages) > self.per_room or (history.held > self.room_bytes and messages):
            self._pop_oldest(history)
        while self.held > self.total_bytes and self._order:
            self._drop_globally_oldest()
        if len(self._order) > 2 * self._live + 1024:
            self._compact()

    def since(self, room: Room, last_seen: int | None, budget: int) -> list[bytes]:
        history = self._rooms.get(room.key)
        if history is None:
            return []
        replay: list[bytes] = []
        for message_id, body in reversed(history.messages):
            if last_seen is not None and message_id <= last_seen:
                break
            budget -= len(body) + 1
            if budget < 0:
                break
            replay.append(body)
        replay.reverse()
        return replay

    def ids(self, room: Room) -> list[int]:
        history = self._rooms.get(room.key)
        return [] if history is None else [message_id for message_id, _ in history.messages]

    def forget(self, room: Room) -> None:
        history = self._rooms.pop(room.key, None)
        if history is not None:
            self.held -= history.held
            self._live -= len(history.messages)

    def _pop_oldest(self, history: _RoomHistory) -> None:
        _, body = history.messages.popleft()
        history.held -= len(body)
        self.held -= len(body)
        self._live -= 1

    def _drop_globally_oldest(self) -> None:
        message_id, key = self._order.popleft()
        history = self._rooms.get(key)
        if history is not None and history.messages and history.messages[0][0] == message_id:
            self._pop_oldest(history)
            if not history.messages:
                del self._rooms[key]

    def _compact(self) -> None:
        live = {(mid, key) for key, h in self._rooms.items() for mid, _ in h.messages}
        self._order = deque(entry for entry in self._order if entry in live)


class MemoryNicks:
    """Nicks held by connected clients, indexed by both identity keys of protocol.names."""

    def __init__(self) -> None:
        self.by_key: dict[str, Connection] = {}  # name_key -> holder
        self._by_visual: dict[str, Connection] = {}
        self._held: dict[Connection, tuple[str, str]] = {}

    def holder(self, nick: str) -> Connection | None:
        key, visual = name_keys(nick)
        return self.by_key.get(key) or self._by_visual.get(visual)

    def claim(self, conn: Connection, nick: str) -> None:
        self.release(conn)
        keys = name_keys(nick)
        self.by_key[keys[0]] = conn
        self._by_visual[keys[1]] = conn
        self._held[conn] = keys

    def release(self, conn: Connection) -> None:
        keys = self._held.pop(conn, None)
        if keys is not None:
            if self.by_key.get(keys[0]) is conn:
                del self.by_key[keys[0]]
            if self._by_visual.get(keys[1]) is conn:
                del self._by_visual[keys[1]]

    def clear(self) -> None:
        self.by_key.clear()
        self._by_visual.clear()
        self._held.clear()

    def __len__(self) -> int:
        return len(self._held)


class LocalBus:
    """Fan-out within this process: straight into the members' output queues."""

    __slots__ = ("_outbox",)

    def __init__(self, outbox: Outbox) -> None:
        self._outbox = outbox

    def publish(self, room: Room, frame: bytes) -> None:
        self._outbox.broadcast(room.members, frame)

    def publish_to(self, members: Iterable[Connection], frame: bytes) -> None:
        self._outbox.broadcast(members, frame)


class PasswordAuth:
    """The server password, if one is set, compared in constant time."""

    __slots__ = ("_expected",)

    def __init__(self, password: str | None) -> None:
        self._expected = None if password is None else password.encode()

    @property
    def required(self) -> bool:
        return self._expected is not None

    def check(self, conn: Connection, hello: Hello) -> None:
        expected = self._expected
        if expected is not None and not hmac.compare_digest(
            (hello.password or "").encode(), expected
        ):
            raise ProtocolError(ErrorCode.BAD_PASSWORD, "wrong or missing password")
