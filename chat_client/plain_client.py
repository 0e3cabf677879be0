"""Line mode's state: what a typed line asks for, and what was printed of each room (no IO).

`PlainClient.parse` turns a line into a request, a `/login`, or a notice to print;
`PlainClient.track` notes what each server frame says of our rooms (the current room, topics,
the message ids printed) and leaves out what was printed already. chat_client/plain.py runs it
over a connection.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from chat_client.accounts import check_password
from chat_client.commands import (
    COMMANDS,
    MODERATION_HELP,
    NEWEST,
    away_request,
    history_limit,
    join_args,
    lookup,
    nick_arg,
    one_nick,
    one_room,
    passwd_args,
    quit_reason,
    request_error,
    say_text,
    split_command,
    whois_request,
)
from chat_client.moderation import COMMANDS as MODERATION_COMMANDS
from chat_client.moderation import request as moderation_request
from chat_client.text import inert
from protocol import (
    Away,
    AwayChanged,
    ChangeNick,
    ChatMessage,
    GetHistory,
    History,
    Join,
    Joined,
    Kicked,
    Leave,
    Left,
    ListRooms,
    NickChanged,
    Passwd,
    Quit,
    Register,
    Say,
    Search,
    SendDm,
    ServerMessage,
    SetTopic,
    Topic,
    Unregister,
    Welcome,
    Who,
)
from protocol.base import WireMessage as _Message
from protocol.names import name_key

HELP = (
    "commands: /join ROOM [KEY], /leave [ROOM], /msg NICK TEXT, /me ACTION, /nick NEW, "
    "/who [ROOM], /whois NICK, /away [MESSAGE], /back, /rooms, /topic [TEXT], /history [N], /search WORDS, /login PASSWORD, "
    "/register PASSWORD, /passwd OLD NEW, /unregister PASSWORD, /quit [REASON], /help; "
    "other lines are said in the current room\nmoderation (the current room; kill, wall and "
    "server bans: admins): "
    + ", ".join(spec.usage for spec in COMMANDS if spec.name in MODERATION_COMMANDS)
    + "\n"
    + "\n".join(MODERATION_HELP)
)


@dataclass(frozen=True, slots=True)
class Login:
    """`/login PASSWORD`: connect again with `hello.auth` (not a wire message)."""

    password: str = field(repr=False)


@dataclass(slots=True)
class _RoomSeen:
    """What was printed of one room: its spelling, message ids, and the start of history."""

    name: str
    ids: set[int] = field(default_factory=set)
    complete: bool = False
    key: str | None = field(default=None, repr=False)  # the room's key, for rejoining
    topic: str = ""
    topic_by: str = ""


class PlainClient:
    """Turns input lines into requests, keeping track of the current room and what was seen."""

    def __init__(self, room: str | None) -> None:
        self.room = room
        self.nick = ""
        self.rooms: dict[str, _RoomSeen] = {}  # the rooms we are in, by name_key
        self._keys: dict[str, str] = {}  # keys of joins sent, by name_key
        self.instance: str | None = None  # the server's, from the last welcome
        #: Lines to print after the event `track` was given (our own leave, a restart).
        self.notes: list[str] = []
        #: Our away message as the server last confirmed it (sent again on a new connection).
        self.away: str | None = None

    def parse(self, line: str) -> _Message | Login | str | None:
        """A request to send, a login to make, a local notice to print, or None for nothing.

        A notice never quotes what was typed after a password command.
        """
        try:
            return self._parse(line)
        except ValueError as exc:  # includes pydantic's ValidationError
            return f"! not sent: {request_error(exc)}"

    def _parse(self, line: str) -> _Message | Login | str | None:
        line = line.rstrip("\r\n")
        if not line.strip():
            return None
        split = split_command(line)
        if split is None:
            if self.room is None:
                return self._no_room()
            return Say(room=self.room, text=say_text(line))
        command, rest = split
        spec = lookup(command)
        if spec is not None and spec.name in MODERATION_COMMANDS:
            return moderation_request(spec.name, rest, self.room)
        match command:
            case "join" | "j":
                return self._join(rest)
            case "leave" | "part":
                leave_room = one_room("leave", rest) if rest else self.room
                if leave_room is None:
                    return "! usage: /leave ROOM"
                return Leave(room=leave_room)
            case "msg" | "query" if " " in rest:
                to, _, text = rest.partition(" ")
                return SendDm(to=nick_arg(to), text=text)
            case "me" if rest:
                if self.room is None:
                    return self._no_room()
                return Say(room=self.room, text=rest, action=True)
            case "nick":
                return ChangeNick(nick=one_nick("nick", rest))
            case "who" | "names":
                who_room = one_room("who", rest) if rest else self.room
                return Who(room=who_room) if who_room else "! usage: /who ROOM"
            case "rooms" | "list":
                return ListRooms()
            case "whois":
                return whois_request(rest)
            case "away":
                return away_request(rest)
            case "back":
                return Away()
            case "topic":
                if self.room is None:
                    return self._no_room()
                if not rest:
                    return self._topic(self.room)
                return SetTopic(room=self.room, topic=rest)
            case "history" | "more":
                return self._history(rest)
            case "search" | "find" if rest:
                if self.room is None:
                    return self._no_room()
                return Search(room=self.room, query=rest)
            case "login" if rest:
                return Login(check_password(rest))
            case "register" if rest:
                return Register(password=rest)
            case "passwd" if rest:
                old, new = passwd_args(rest)
                return Passwd(old=old, new=new)
            case "unregister" if rest:
                return Unregister(password=rest)
            case "quit" | "exit":
                return Quit(reason=quit_reason(rest))
            case "help":
                return HELP
        return f"! unknown command or missing argument: /{command} (try /help)"

    def _join(self, rest: str) -> Join | str:
        room, key = join_args(rest)
        seen = self.rooms.get(name_key(room))
        if seen is not None:
            self.room = seen.name  # a room we are in: talk there, no join to send
            return f"* talking in [{inert(seen.name)}] now"
        self.room = room
        if key is not None:
            self._keys[name_key(room)] = key
        return Join(room=room, key=key)

    def _no_room(self) -> str:
        """Why a line for the current room was not sent: there is none (never joined, or left)."""
        rooms = ", ".join(inert(seen.name) for seen in self.rooms.values())
        also = f" (you are in: {rooms})" if rooms else ""
        return f"! not sent: you are in no room now; /join ROOM first{also}"

    def _topic(self, room: str) -> str:
        """`/topic` without text: the current room's topic, as the server last said it."""
        seen = self.rooms.get(name_key(room))
        if seen is None or not seen.topic:
            return f"[{inert(room)}] no topic is set; /topic TEXT sets one"
        return f"[{inert(seen.name)}] topic by {inert(seen.topic_by)}: {inert(seen.topic)}"

    def _history(self, rest: str) -> GetHistory | str:
        if self.room is None:
            return self._no_room()
        limit = history_limit(rest)
        seen = self.rooms.get(name_key(self.room))
        if seen is not None and seen.complete:
            return f"! the start of {inert(self.room)}'s history was printed already"
        before = min(seen.ids) if seen is not None and seen.ids else NEWEST
        return GetHistory(room=self.room, before=before, limit=limit)

    def _restarted(self) -> None:
        """A new server instance: its ids and rooms are not the old one's. What was printed
        stays printed; what is known of each room is forgotten until the rejoin says it."""
        for seen in self.rooms.values():
            seen.ids.clear()
            seen.complete = False
            seen.topic = seen.topic_by = ""
        self.notes.append("* the server restarted: its rooms are rejoined from scratch")

    def rejoins(self) -> list[Join]:
        """The joins of a new connection, one per room we are in, from the last message seen.
        Topics are forgotten meanwhile: the server sends one on join only when it is set."""
        for seen in self.rooms.values():
            seen.topic = seen.topic_by = ""
        return [
            Join(room=seen.name, since=self.last_id(seen.name), key=seen.key)
            for seen in self.rooms.values()
        ]

    def last_id(self, room: str) -> int | None:
        seen = self.rooms.get(name_key(room))
        return max(seen.ids) if seen is not None and seen.ids else None

    def track(self, event: ServerMessage) -> ServerMessage | None:
        """Note what an event tells about our rooms; returns it without the messages printed
        already (None if nothing of it is left to print)."""
        match event:
            case Joined() if name_key(event.nick) == name_key(self.nick):
                self.room = event.room
                room = self.rooms.setdefault(name_key(event.room), _RoomSeen(event.room))
                room.key = self._keys.pop(name_key(event.room), room.key)
            case Left() | Kicked() if name_key(event.nick) == name_key(self.nick):
                self.rooms.pop(name_key(event.room), None)
                if self.room is not None and name_key(self.room) == name_key(event.room):
                    # Lines must not go on to a room we are not in: nowhere, until a join.
                    self.room = None
                    self.notes.append(
                        "* you are in no room now: lines are not sent until /join ROOM"
                    )
            case Welcome():
                if self.instance is not None and event.instance != self.instance:
                    self._restarted()
                self.instance = event.instance
            case Topic():
                seen = self.rooms.get(name_key(event.room))
                if seen is not None:
                    seen.topic, seen.topic_by = event.topic, event.nick
            case NickChanged() if name_key(event.old) == name_key(self.nick):
                self.nick = event.new
            case AwayChanged() if name_key(event.nick) == name_key(self.nick):
                self.away = event.message
            case ChatMessage():
                seen = self.rooms.get(name_key(event.room))
                if seen is not None:
                    if event.id in seen.ids:
                        return None
                    seen.ids.add(event.id)
            case History():
                seen = self.rooms.get(name_key(event.room))
                if seen is None:
                    return event
                page = event.before is not None or event.complete is not None
                fresh = [m for m in event.messages if m.id not in seen.ids]
                seen.ids.update(m.id for m in fresh)
                if event.complete:
                    seen.complete = True
                if not page and not fresh and event.messages:
                    return None  # a rejoin's replay of what was printed
                if len(fresh) != len(event.messages):
                    return event.model_copy(update={"messages": fresh})
        return event


__all__ = ["HELP", "Login", "PlainClient"]
