"""What the UI keeps per conversation (room, direct messages, server window): no Textual here."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from enum import StrEnum

from chat_client.roles import RoomRoles
from protocol.names import name_key

SERVER_KEY = "server"
#: Message ids remembered per room (a log keeps 5000 lines).
MAX_IDS = 20_000
#: Speakers remembered per room for the smart filter (the most recent ones).
MAX_SPEAKERS = 2_000


class Kind(StrEnum):
    SERVER = "server"
    ROOM = "room"
    DM = "dm"


@dataclass(slots=True)
class Conversation:
    """One entry of the room list, with its own log."""

    key: str
    name: str
    kind: Kind
    widget_id: str
    unread: int = 0
    mention: bool = False
    members: list[str] = field(default_factory=list)
    topic: str = ""
    topic_by: str = ""
    joined: bool = False  # a room: we are a member (False once kicked: the log stays)
    roles: RoomRoles = field(default_factory=RoomRoles)  # a room's roles, mutes, modes, bans
    live_marked: bool = False  # the history/live separator has been drawn
    # Ids of the room's messages in the log, to page back from the oldest (`/history`) and
    # to leave out what a page repeats; `history_complete`: the start of history is shown.
    ids: set[int] = field(default_factory=set)
    history_complete: bool = False
    # When each nick last spoke here (name_key -> seconds since the epoch), for the smart
    # filter of joins and parts.
    spoke: dict[str, float] = field(default_factory=dict)

    @property
    def oldest_id(self) -> int | None:
        return min(self.ids) if self.ids else None

    def hold(self, message_id: int) -> bool:
        """Note a message shown in the log; False if it is shown already."""
        if message_id in self.ids:
            return False
        self.ids.add(message_id)
        if len(self.ids) > MAX_IDS:
            # The log keeps its last lines only; so does this, in bulk now and then.
            self.ids = set(sorted(self.ids)[len(self.ids) // 2 :])
        return True

    def forget_ids(self) -> None:
        """The log was cleared, or ids mean something else now (a new server instance)."""
        self.ids.clear()
        self.history_complete = False

    def forget_room(self) -> None:
        """A new server instance: what the old one said of this room (members, topic, roles,
        mutes, modes, bans, message ids) means nothing now; the rejoin says it again. The log
        stays."""
        self.members = []
        self.topic = self.topic_by = ""
        self.roles = RoomRoles()
        self.forget_ids()

    def note_spoke(self, nick: str, at: float) -> None:
        """`nick` said something here at `at` (seconds since the epoch)."""
        key = name_key(nick)
        if at > self.spoke.get(key, 0.0):
            self.spoke[key] = at
        if len(self.spoke) > MAX_SPEAKERS:
            # Only the newest speakers matter to the filter: forget the older half.
            newest = sorted(self.spoke.items(), key=lambda item: item[1])[MAX_SPEAKERS // 2 :]
            self.spoke = dict(newest)

    def spoke_since(self, nick: str, since: float) -> bool:
        """Whether `nick` said something here at `since` or later."""
        return self.spoke.get(name_key(nick), float("-inf")) >= since

    def rename_speaker(self, old: str, new: str) -> None:
        """Someone here changed nick: what they said counts for the new nick."""
        at = self.spoke.pop(name_key(old), None)
        if at is not None:
            self.note_spoke(new, at)

    @property
    def label(self) -> str:
        return {Kind.ROOM: "#", Kind.DM: "@", Kind.SERVER: ""}[self.kind] + self.name


def room_key(name: str) -> str:
    return "room:" + name_key(name)


def dm_key(nick: str) -> str:
    return "dm:" + name_key(nick)


class Conversations:
    """The conversations in display order, the active one, and unread bookkeeping."""

    def __init__(self, server_name: str = "server") -> None:
        self._ids = itertools.count(1)
        self.items: dict[str, Conversation] = {}
        self.active = SERVER_KEY
        self.add(SERVER_KEY, server_name, Kind.SERVER)

    def add(self, key: str, name: str, kind: Kind) -> Conversation:
        conv = self.items.get(key)
        if conv is None:
            conv = Conversation(key, name, kind, f"conv-{next(self._ids)}")
            self.items[key] = conv
        return conv

    def room(self, name: str) -> Conversation:
        return self.add(room_key(name), name, Kind.ROOM)

    def dm(self, nick: str) -> Conversation:
        return self.add(dm_key(nick), nick, Kind.DM)

    def get(self, key: str) -> Conversation | None:
        return self.items.get(key)

    def remove(self, key: str) -> Conversation | None:
        if key == SERVER_KEY:
            return None
        conv = self.items.pop(key, None)
        if conv is not None and self.active == key:
            self.active = SERVER_KEY
        return conv

    @property
    def current(self) -> Conversation:
        return self.items[self.active]

    def activate(self, key: str) -> Conversation:
        conv = self.items[key]
        self.active = key
        conv.unread = 0
        conv.mention = False
        return conv

    def bump(self, conv: Conversation, mention: bool = False) -> None:
        """A new line arrived in `conv`: count it unless it is the one on screen."""
        if conv.key != self.active:
            conv.unread += 1
            conv.mention = conv.mention or mention

    def neighbour(self, step: int) -> str:
        keys = list(self.items)
        index = keys.index(self.active)
        return keys[(index + step) % len(keys)]

    def nth(self, number: int) -> str | None:
        """The key of the `number`th conversation of the list (from 1), if there is one."""
        keys = list(self.items)
        return keys[number - 1] if 1 <= number <= len(keys) else None

    def next_activity(self) -> str | None:
        """The next conversation with unread lines after the active one, in list order and
        around: one that mentions us first, then any. None if nothing else is unread."""
        keys = list(self.items)
        start = keys.index(self.active)
        others = [self.items[k] for k in keys[start + 1 :] + keys[:start]]
        mentioned = [c for c in others if c.mention]
        unread = [c for c in others if c.unread > 0]
        return (mentioned or unread)[0].key if mentioned or unread else None

    def rename_dm(self, old: str, new: str) -> Conversation | None:
        """Someone we talk to changed nick: keep the conversation under the new name."""
        conv = self.items.pop(dm_key(old), None)
        if conv is None:
            return None
        was_active = self.active == conv.key
        conv.key, conv.name = dm_key(new), new
        self.items[conv.key] = conv
        if was_active:
            self.active = conv.key
        return conv

    def room_names(self) -> list[str]:
        return [c.name for c in self.items.values() if c.kind is Kind.ROOM]
