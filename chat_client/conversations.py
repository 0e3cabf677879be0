"""What the UI keeps per conversation (room, direct messages, server window): no Textual here."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from enum import StrEnum

from protocol.names import name_key

SERVER_KEY = "server"


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
    joined: bool = False
    live_marked: bool = False  # the history/live separator has been drawn

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
