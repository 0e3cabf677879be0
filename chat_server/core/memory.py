"""The in-memory implementations of the core's seams: what a server without a store uses."""

from __future__ import annotations

import heapq
import hmac
import itertools
import secrets
from collections import deque
from collections.abc import Callable, Collection
from typing import TYPE_CHECKING

from chat_server.core.outbox import Outbox
from protocol import ErrorCode, Hello, ProtocolError
from protocol.names import MAX_NICK_LENGTH, name_keys, too_long

if TYPE_CHECKING:
    from chat_server.core.connection import Connection
    from chat_server.core.rooms import Room


class MemoryIds:
    """Ids from one counter; the instance token changes with every process (ids restart)."""

    __slots__ = ("_instance", "next_id")

    def __init__(self) -> None:
        # The counter's own __next__, so taking an id costs no Python frame.
        self.next_id: Callable[[], int] = itertools.count(1).__next__
        self._instance = secrets.token_hex(8)

    @property
    def instance(self) -> str:
        return self._instance


class _RoomHistory:
    __slots__ = ("floor", "held", "messages", "trimmed")

    def __init__(self, floor: int = 0) -> None:
        self.messages: deque[tuple[int, bytes]] = deque()
        self.held = 0  # bytes of the bodies in `messages`
        # Every message of the room with an id above `floor` is in `messages`, unless some
        # were trimmed; below it they are in the store only (a cold window after a restart).
        self.floor = floor
        self.trimmed = False  # older messages were dropped to stay within the bounds


class MemoryHistory:
    """The newest messages of each room, within three bounds: `per_room` messages (no more
    than a join can replay), `room_bytes` per room, and `total_bytes` across the server, where
    the oldest messages server-wide go first."""

    #: Past `total_bytes`, history is trimmed to this share of it, so the (rare) server-wide
    #: trim runs once per tenth of the budget written, not once per message.
    TRIM_TO = 0.9

    def __init__(self, per_room: int, room_bytes: int, total_bytes: int) -> None:
        self.per_room = per_room
        self.room_bytes = room_bytes
        self.total_bytes = total_bytes
        self.held = 0
        self._rooms: dict[str, _RoomHistory] = {}

    def append(self, room: Room, message_id: int, body: bytes) -> None:
        # On the path of every chat message: a few operations and one branch in the common case.
        if self.per_room <= 0:
            return
        history = self._rooms.get(room.key)
        if history is None:
            history = self._rooms[room.key] = _RoomHistory()
        size = len(body)
        messages = history.messages
        messages.append((message_id, body))
        if len(messages) > self.per_room:  # the steady state of a busy room: one out, inline
            _, dropped = messages.popleft()
            size -= len(dropped)
            history.trimmed = True
        history.held += size
        self.held += size
        if history.held > self.room_bytes:
            self._trim_room(history)
        if self.held > self.total_bytes:
            self._trim_server()

    def since(
        self, room: Room, last_seen: int | None, budget: int, upto: int | None = None
    ) -> list[bytes] | None:
        history = self._rooms.get(room.key)
        if history is None:
            return []
        replay: list[bytes] = []
        whole = True  # went through the whole window without stopping
        for message_id, body in reversed(history.messages):
            if upto is not None and message_id > upto:
                continue
            if last_seen is not None and message_id <= last_seen:
                whole = False
                break
            budget -= len(body) + 1
            if budget < 0:
                whole = False
                break
            replay.append(body)
        if (
            whole
            and not history.trimmed
            and history.floor > (last_seen or 0)
            and len(replay) < self.per_room
        ):
            return None  # older messages the replay wants are in the store
        replay.reverse()
        return replay

    def older(
        self, room: Room, before: int | None, limit: int
    ) -> tuple[list[tuple[int, bytes]], bool | None, int | None]:
        history = self._rooms.get(room.key)
        if history is None:
            return [], True, None
        found: list[tuple[int, bytes]] = []
        lowest = before
        for message_id, body in reversed(history.messages):
            if before is not None and message_id >= before:
                continue
            if len(found) == limit:
                return found, False, None
            found.append((message_id, body))
            lowest = message_id
        if history.floor == 0 and not history.trimmed:
            return found, True, None
        # The rest is in the store only: below the oldest message looked at.
        if history.messages:
            oldest = history.messages[0][0]
            lowest = oldest if lowest is None else min(lowest, oldest)
        elif history.floor:
            lowest = history.floor + 1 if lowest is None else min(lowest, history.floor + 1)
        return found, None, lowest

    def newest(self, room: Room) -> int:
        history = self._rooms.get(room.key)
        if history is None or not history.messages:
            return 0 if history is None else history.floor
        return history.messages[-1][0]

    def floor(self, room: Room) -> int:
        history = self._rooms.get(room.key)
        return 0 if history is None else history.floor

    def cold(self, room: Room, floor: int) -> None:
        if self.per_room > 0 and floor > 0:
            self._rooms[room.key] = _RoomHistory(floor)

    def seed(self, room: Room, rows: list[tuple[int, bytes]], asked: int) -> None:
        history = self._rooms.get(room.key)
        if history is None or history.floor == 0:
            return  # already seeded (two joins raced), or nothing is missing
        older = [row for row in rows if row[0] <= history.floor]
        history.floor = 0 if len(rows) < asked else rows[-1][0] - 1
        if history.floor:
            history.trimmed = True  # the window is full: what is older stays in the store
        size = 0
        for row in older:  # newest first: each goes in front of the last
            history.messages.appendleft(row)
            size += len(row[1])
        history.held += size
        self.held += size
        self._trim_room(history)
        if self.held > self.total_bytes:
            self._trim_server()

    def window(self, room: Room) -> list[tuple[int, bytes]]:
        history = self._rooms.get(room.key)
        return [] if history is None else list(history.messages)

    def ids(self, room: Room) -> list[int]:
        history = self._rooms.get(room.key)
        return [] if history is None else [message_id for message_id, _ in history.messages]

    def forget(self, room: Room) -> None:
        history = self._rooms.pop(room.key, None)
        if history is not None:
            self.held -= history.held

    def _trim_room(self, history: _RoomHistory) -> None:
        messages = history.messages
        while messages and (len(messages) > self.per_room or history.held > self.room_bytes):
            self._pop_oldest(history)

    def _pop_oldest(self, history: _RoomHistory) -> None:
        _, body = history.messages.popleft()
        history.held -= len(body)
        self.held -= len(body)
        history.trimmed = True

    def _trim_server(self) -> None:
        """Drop the oldest messages server-wide (ids are one sequence) down to TRIM_TO."""
        target = self.total_bytes * self.TRIM_TO
        heads = [(h.messages[0][0], key) for key, h in self._rooms.items() if h.messages]
        heapq.heapify(heads)
        while self.held > target and heads:
            _, key = heapq.heappop(heads)
            history = self._rooms[key]
            self._pop_oldest(history)
            if history.messages:
                heapq.heappush(heads, (history.messages[0][0], key))


class MemoryNicks:
    """Nicks held by connected clients, indexed by both identity keys of protocol.names."""

    def __init__(self) -> None:
        self.by_key: dict[str, Connection] = {}  # name_key -> holder
        self._by_visual: dict[str, Connection] = {}
        self._held: dict[Connection, tuple[str, str]] = {}

    def holder(self, nick: str) -> Connection | None:
        if too_long(nick, MAX_NICK_LENGTH):
            return None
        key, visual = name_keys(nick)
        return self.by_key.get(key) or self._by_visual.get(visual)

    def taken_by(self, nick: str, conn: Connection) -> Connection | None:
        key, visual = name_keys(nick)
        for holder in (self.by_key.get(key), self._by_visual.get(visual)):
            if holder is not None and holder is not conn:
                return holder
        return None

    def claim(self, conn: Connection, nick: str) -> None:
        keys = name_keys(nick)
        for index, key in zip((self.by_key, self._by_visual), keys, strict=True):
            if index.get(key, conn) is not conn:
                raise ValueError(f"{nick!r} is held by another connection")
        self.release(conn)
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

    def publish_to(self, members: Collection[Connection], frame: bytes) -> None:
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
