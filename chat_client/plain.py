"""Line mode: lines from stdin are said in the current room, events go to stdout one per line.

Meant for scripts and bots as much as for people: `--json` prints each event as its JSON body,
every frame the server sends (moderation frames too) as it came. Otherwise each event is one
line (chat_client/plain_text.py), with the control characters of text that other people
control escaped, so it cannot move the cursor, retitle the terminal or reorder a line.

Line mode does not reconnect by itself: when the server closes, it exits. The one exception is
`/login PASSWORD`: `hello` is once per connection, so it says `quit`, connects again with
`hello.auth` and rejoins its rooms with `since` (nothing is printed twice); if that login is
refused, it connects again as it was before. A stream of lines cannot put older messages above
what it printed: `/history` prints the page as a block, oldest first, without what was printed.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import sys
from collections.abc import Callable
from dataclasses import dataclass, field

from chat_client.accounts import check_password
from chat_client.commands import (
    COMMANDS,
    MODERATION_HELP,
    NEWEST,
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
)
from chat_client.moderation import COMMANDS as MODERATION_COMMANDS
from chat_client.moderation import request as moderation_request
from chat_client.net import ChatConnection, ConnectionClosed, HelloRejected
from chat_client.plain_text import describe
from chat_client.text import inert
from protocol import (
    Bye,
    ChangeNick,
    ChatMessage,
    Error,
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
    Ping,
    Pong,
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
    encode_body,
)
from protocol.base import WireMessage as _Message
from protocol.names import name_key

PING_INTERVAL = 30.0
HELP = (
    "commands: /join ROOM [KEY], /leave [ROOM], /msg NICK TEXT, /me ACTION, /nick NEW, "
    "/who [ROOM], /rooms, /topic [TEXT], /history [N], /search WORDS, /login PASSWORD, "
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


async def _stdin_lines() -> asyncio.StreamReader:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    return reader


async def run_plain(
    host: str,
    port: int,
    nick: str,
    room: str | None,
    password: str | None = None,
    as_json: bool = False,
    out: Callable[[str], None] = print,
    *,
    account_password: str | None = None,
    source: asyncio.StreamReader | None = None,
) -> int:
    """Run line mode until stdin (or `source`) ends, /quit, or the server closes.

    Returns an exit status: 0, or 1 when the first connection failed or ended in a fatal error.
    """
    client = PlainClient(room)
    inbox: asyncio.Queue[str | None] = asyncio.Queue()

    async def read_lines() -> None:
        lines = source if source is not None else await _stdin_lines()
        while line := (await lines.readline()).decode(errors="replace"):
            await inbox.put(line)
        await inbox.put(None)

    reader = asyncio.ensure_future(read_lines())
    first = True
    fallback: tuple[str | None] | None = None  # the login to go back to if a /login fails
    try:
        while True:
            try:
                conn = await ChatConnection.open(host, port)
            except (OSError, TimeoutError) as exc:
                out(f"! cannot connect to {host}:{port}: {exc}")
                return 1
            try:
                status = await _connection(
                    conn, client, inbox, out, as_json, nick, password, account_password, first
                )
            except _LoginRefused:
                if fallback is None:
                    return 1
                (account_password,), fallback = fallback, None
                continue
            finally:
                await conn.close()
            if isinstance(status, Login):
                fallback = (account_password,)
                account_password = status.password
                nick = client.nick or nick
                first = False
                continue
            return status
    finally:
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reader


def _print_notes(client: PlainClient, out: Callable[[str], None], as_json: bool) -> None:
    """The client's own lines about the last event (none in --json: frames only)."""
    if not as_json:
        for note in client.notes:
            out(note)
    client.notes.clear()


class _LoginRefused(Exception):
    """`hello` was refused (already reported)."""


async def _connection(
    conn: ChatConnection,
    client: PlainClient,
    inbox: asyncio.Queue[str | None],
    out: Callable[[str], None],
    as_json: bool,
    nick: str,
    password: str | None,
    account_password: str | None,
    first: bool,
) -> int | Login:
    """One connection: hello, (re)join, then lines out and events in until it ends.

    Returns the exit status, or the `Login` that asks for a new connection.
    """
    show: Callable[[ServerMessage], str] = (
        (lambda e: encode_body(e).decode()) if as_json else (lambda e: describe(e, client.nick))
    )
    try:
        welcome = await conn.hello(nick, password, account_password=account_password)
    except HelloRejected as exc:
        client.nick = client.nick or nick
        out(show(exc.error))
        raise _LoginRefused from None
    except (ConnectionClosed, TimeoutError) as exc:
        out(f"! no welcome from server: {inert(str(exc))}")
        raise _LoginRefused from None
    client.nick = welcome.nick
    client.track(welcome)
    out(show(welcome))
    _print_notes(client, out, as_json)
    if first:
        if client.room:
            await conn.send(Join(room=client.room))
    else:
        for join in client.rejoins():
            await conn.send(join)
    login: Login | None = None

    async def read_input() -> None:
        nonlocal login
        while True:
            line = await inbox.get()
            if line is None:
                await conn.send(Quit())
                return
            request = client.parse(line)
            if isinstance(request, Login):
                login = request
                out(f"* logging in as {inert(client.nick)}: connecting again")
                await conn.send(Quit())
                return  # the lines after it wait for the next connection
            if isinstance(request, str):
                out(request)
            elif request is not None:
                await conn.send(request)
                if isinstance(request, Quit):
                    return

    async def keepalive() -> None:
        for n in itertools.count():
            await asyncio.sleep(PING_INTERVAL)
            await conn.send(Ping(token=f"keepalive-{n}"))

    tasks = [asyncio.ensure_future(read_input()), asyncio.ensure_future(keepalive())]
    status = 0
    try:
        async for event in conn.events():
            if isinstance(event, Pong) and event.token.startswith("keepalive-"):
                continue
            if isinstance(event, Bye) and login is not None:
                break  # the goodbye to our own quit before logging in
            shown = client.track(event)
            if as_json:
                out(show(event))  # bots get every frame as the server sent it
            elif shown is not None:
                out(show(shown))
            _print_notes(client, out, as_json)
            if isinstance(event, Error) and event.fatal:
                status = 1
            if isinstance(event, Bye):
                break
    except ConnectionClosed:
        pass
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, ConnectionClosed, OSError):
                await task
    return login if login is not None else status


__all__ = ["Login", "PlainClient", "describe", "inert", "run_plain"]
