"""Rooms and the directory of all rooms: membership, topics, the cap, and the room list.

The directory keeps an index of rooms by member count, so a `rooms` reply costs what it sends
(the most populated rooms that fit the reply budget) and not a sort of every room; the encoded
reply is cached until a room is created, removed, joined, left or retitled.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from pydantic_core import to_json
from sortedcontainers import SortedKeyList

from chat_server.core.config import REPLY_BUDGET
from chat_server.core.interfaces import RoomRecord
from chat_server.core.moderation import ROLE_NAMES, Modes, RoomModeration
from protocol import ErrorCode, ProtocolError, frame
from protocol.names import MAX_ROOM_LENGTH, name_keys, too_long

if TYPE_CHECKING:
    from chat_server.core.connection import Connection


class Room:
    """Membership and topic of one room. The name keeps the spelling of its first join."""

    __slots__ = (
        "_entry",
        "_members",
        "count",
        "kept",
        "key",
        "last_active",
        "members",
        "mod",
        "name",
        "restricted",
        "topic",
        "topic_by",
        "visual",
    )

    def __init__(self, name: str) -> None:
        self.name = name
        # Identity keys (protocol.names): a room is found under either.
        self.key, self.visual = name_keys(name)
        # A dict keeps insertion order, so `who` lists members in the order they joined.
        self.members: dict[Connection, None] = {}
        self.count = 0  # len(members) as the index last saw it
        self.topic = ""
        self.topic_by = ""
        # Worth remembering once empty (a store keeps it): it has had a message or a topic.
        self.kept = False
        self.last_active = 0.0  # wall-clock seconds of its last message, or its creation
        self._entry: bytes | None = None  # this room's `room_list` entry, encoded
        self._members: bytes | None = None  # its `members` frame, encoded
        self.mod = RoomModeration()
        # A `say` must be checked against mutes or the moderated mode (one test per message).
        self.restricted = False

    def members_frame(self, admins: frozenset[str] = frozenset()) -> bytes:
        """`members`: the first members (in join order) that fit the reply budget (the whole
        body, wrapper included), `total`, the full count, the listed members' roles and
        mutes, and (when any is) those who are away. Cached until the members, their nicks,
        roles or away messages change (`changed()`), so `who` on a big room costs a lookup."""
        if self._members is None:
            head = b'{"type":"members","room":' + to_json(self.name) + b',"nicks":['
            nicks: list[bytes] = []
            roles: dict[str, str] = {}
            muted: list[str] = []
            away: list[str] = []
            now = time.time()
            # The roles and mutes of the listed members count against the budget too: room
            # for the largest such annotation per nick is kept aside as each nick is added.
            size = len(head) + 40 + len(str(len(self.members)))
            for conn in self.members:
                if conn.nick is None:
                    continue
                encoded = to_json(conn.nick)
                rank = self.mod.rank(conn, admins)
                is_muted = self.mod.muted(conn, now)
                size += len(encoded) + 1
                if rank:
                    size += len(encoded) + 10
                if is_muted:
                    size += len(encoded) + 1
                if conn.away is not None:
                    size += len(encoded) + 1 + (0 if away else len(b',"away":[]'))
                if size > REPLY_BUDGET:
                    break
                nicks.append(encoded)
                if rank:
                    roles[conn.nick] = ROLE_NAMES[rank]
                if is_muted:
                    muted.append(conn.nick)
                if conn.away is not None:
                    away.append(conn.nick)
            tail = (
                b'],"total":'
                + str(len(self.members)).encode()
                + b',"roles":'
                + to_json(roles)
                + b',"muted":'
                + to_json(muted)
                + (b',"away":' + to_json(away) if away else b"")
                + b"}"
            )
            self._members = frame(head + b",".join(nicks) + tail)
        return self._members

    def update_restricted(self) -> None:
        mod = self.mod
        self.restricted = mod.modes.moderated or bool(mod.mutes.entries or mod.muted_conns)

    def changed(self) -> None:
        """A member joined, left, changed nick or went away or back."""
        self._members = None

    def entry(self) -> bytes:
        if self._entry is None:
            self._entry = to_json({"name": self.name, "members": self.count, "topic": self.topic})
        return self._entry


_LISTING_HEAD = b'{"type":"room_list","rooms":['
_LISTING_TAIL = b"]}"


def _by_population(room: Room) -> tuple[int, str]:
    return (-room.count, room.key)


class RoomDirectory:
    """Every room by key, the population index, and the cached `room_list` frame."""

    def __init__(self, max_rooms: int, budget: int) -> None:
        self.max_rooms = max_rooms
        self.budget = budget
        self.rooms: dict[str, Room] = {}
        self._by_visual: dict[str, Room] = {}
        self._index: SortedKeyList[Room, tuple[int, str]] = SortedKeyList(key=_by_population)
        self._listing: bytes | None = None

    def get(self, key: str) -> Room | None:
        return self.rooms.get(key)

    def find(self, name: str) -> Room | None:
        """The room called `name` or a look-alike of it (either identity key matches)."""
        if too_long(name, MAX_ROOM_LENGTH):
            return None
        key, visual = name_keys(name)
        return self.rooms.get(key) or self._by_visual.get(visual)

    def __len__(self) -> int:
        return len(self.rooms)

    def check_capacity(self) -> None:
        """Raise `limit_reached` if no room can be created now."""
        if len(self.rooms) >= self.max_rooms:
            raise ProtocolError(
                ErrorCode.LIMIT_REACHED,
                f"the server holds {self.max_rooms} rooms, its limit; join an existing one",
            )

    def create(self, name: str) -> Room:
        self.check_capacity()
        room = Room(name)
        self.rooms[room.key] = room
        self._by_visual.setdefault(room.visual, room)
        self._index.add(room)
        self._listing = None
        return room

    def restore(self, record: RoomRecord) -> Room:
        """A room the store remembers, empty (over the cap if the cap was lowered)."""
        room = Room(record.name)
        room.topic = record.topic
        room.topic_by = record.topic_by
        room.last_active = record.last_active
        room.kept = record.last_id > 0 or bool(record.topic) or record.owner is not None
        room.mod.owner = record.owner
        room.mod.modes = Modes.loads(record.modes)
        room.update_restricted()
        self.rooms[room.key] = room
        self._by_visual.setdefault(room.visual, room)
        self._index.add(room)
        self._listing = None
        return room

    def idle_since(self, horizon: float) -> list[Room]:
        """Empty rooms whose last message (or creation) is older than `horizon`."""
        return [r for r in self.rooms.values() if not r.members and r.last_active < horizon]

    def remove(self, room: Room) -> None:
        """Take an empty room out of the directory."""
        if self.rooms.get(room.key) is not room:
            return
        self._index.remove(room)
        del self.rooms[room.key]
        if self._by_visual.get(room.visual) is room:
            del self._by_visual[room.visual]
        self._listing = None

    def add_member(self, room: Room, conn: Connection) -> None:
        self._index.remove(room)
        room.members[conn] = None
        self._recount(room)

    def remove_member(self, room: Room, conn: Connection, keep: bool = False) -> bool:
        """Take `conn` out of `room`; True if the room was left empty and is now gone (an
        empty room stays when `keep` is true and it has something to remember)."""
        self._index.remove(room)
        del room.members[conn]
        if not room.members and not (keep and room.kept):
            del self.rooms[room.key]
            if self._by_visual.get(room.visual) is room:
                del self._by_visual[room.visual]
            self._listing = None
            return True
        self._recount(room)
        return False

    def retitle(self, room: Room, topic: str, by: str) -> None:
        room.topic = topic
        room.topic_by = by
        room._entry = None
        self._listing = None

    def clear(self) -> None:
        self.rooms.clear()
        self._by_visual.clear()
        self._index.clear()
        self._listing = None

    def _recount(self, room: Room) -> None:
        room.count = len(room.members)
        room._entry = None
        room._members = None
        self._index.add(room)
        self._listing = None

    def listing(self, secret: frozenset[Room] = frozenset()) -> bytes:
        """The `room_list` frame: the most populated rooms whose entries fit the budget,
        sorted by name; secret rooms only when in `secret` (those the asker is in). Cached
        (for askers in no secret room) until something it shows changes."""
        if secret:
            return self._build_listing(secret)
        if self._listing is None:
            self._listing = self._build_listing(secret)
        return self._listing

    def _build_listing(self, secret: frozenset[Room]) -> bytes:
        chosen: list[Room] = []
        size = len(_LISTING_HEAD) + len(_LISTING_TAIL)
        for room in self._index:
            if room.mod.modes.secret and room not in secret:
                continue
            size += len(room.entry()) + 1
            if size > self.budget:
                break
            chosen.append(room)
        chosen.sort(key=lambda r: (r.name.casefold(), r.name))
        return frame(_LISTING_HEAD + b",".join(r.entry() for r in chosen) + _LISTING_TAIL)

    def relisted(self) -> None:
        """A room became secret or stopped being: the cached listing is stale."""
        self._listing = None
