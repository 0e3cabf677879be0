"""Line mode: lines from stdin are said in the current room, events go to stdout one per line.

Meant for scripts and bots as much as for people: `--json` prints each event as its JSON body.
Text that other people control is printed with control characters escaped, so it cannot move
the cursor, retitle the terminal or reorder a line.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import sys
from collections.abc import Callable

from chat_client.commands import (
    nick_arg,
    quit_reason,
    request_error,
    room_arg,
    say_text,
    split_command,
)
from chat_client.net import ChatConnection, ConnectionClosed, HelloRejected
from chat_client.text import inert
from protocol import (
    Bye,
    ChangeNick,
    ChatMessage,
    DirectMessage,
    Error,
    History,
    Join,
    Joined,
    Leave,
    Left,
    ListRooms,
    Members,
    NickChanged,
    Ping,
    Pong,
    Quit,
    RoomList,
    Say,
    SendDm,
    ServerMessage,
    SetTopic,
    Topic,
    Welcome,
    Who,
    encode_body,
)
from protocol.messages import _Message

PING_INTERVAL = 30.0
HELP = (
    "commands: /join ROOM, /leave [ROOM], /msg NICK TEXT, /me ACTION, /nick NEW, /who [ROOM], "
    "/rooms, /topic TEXT, /quit [REASON], /help; other lines are said in the current room"
)


def _time(ts: str) -> str:
    return inert(ts[11:19] if len(ts) >= 19 else ts)


def describe(event: ServerMessage) -> str:
    """One human-readable line for an event."""
    match event:
        case ChatMessage(action=True):
            return (
                f"{_time(event.ts)} [{inert(event.room)}] * {inert(event.nick)} {inert(event.text)}"
            )
        case ChatMessage():
            return (
                f"{_time(event.ts)} [{inert(event.room)}] <{inert(event.nick)}> {inert(event.text)}"
            )
        case DirectMessage():
            return f"{_time(event.ts)} [dm] <{inert(event.sender)} -> {inert(event.to)}> {inert(event.text)}"
        case Joined():
            return f"{_time(event.ts)} [{inert(event.room)}] -> {inert(event.nick)} joined"
        case Left():
            why = f" ({inert(event.reason)})" if event.reason else ""
            return f"{_time(event.ts)} [{inert(event.room)}] <- {inert(event.nick)} left{why}"
        case History():
            lines = [f"[{inert(event.room)}] history: {len(event.messages)} messages"]
            lines += [f"  {describe(m)}" for m in event.messages]
            return "\n".join(lines)
        case NickChanged():
            return f"* {inert(event.old)} is now {inert(event.new)}"
        case Members():
            return f"[{inert(event.room)}] members: {', '.join(inert(n) for n in event.nicks)}"
        case RoomList():
            rooms = [
                f"{inert(r.name)} ({r.members}) {inert(r.topic)}".rstrip() for r in event.rooms
            ]
            return "rooms: " + ("; ".join(rooms) if rooms else "none")
        case Topic():
            return f"[{inert(event.room)}] topic by {inert(event.nick)}: {inert(event.topic)}"
        case Welcome():
            motd = f" - {inert(event.motd)}" if event.motd else ""
            return (
                f"* connected as {inert(event.nick)} to {inert(event.server.name)} "
                f"{inert(event.server.version)} ({inert(event.backend)}){motd}"
            )
        case Error():
            return f"! error {inert(event.code)}: {inert(event.message)}"
        case Bye():
            return f"* server says bye: {inert(event.reason)}"
        case Pong():
            return f"* pong {inert(event.token)}"
    return inert(repr(event))  # pragma: no cover - every server message is handled above


class PlainClient:
    """Turns input lines into requests, keeping track of the current room."""

    def __init__(self, room: str | None) -> None:
        self.room = room

    def parse(self, line: str) -> _Message | str | None:
        """A request to send, a local notice to print, or None for nothing."""
        try:
            return self._parse(line)
        except ValueError as exc:  # includes pydantic's ValidationError
            return f"! not sent: {request_error(exc)}"

    def _parse(self, line: str) -> _Message | str | None:
        line = line.rstrip("\r\n")
        if not line.strip():
            return None
        split = split_command(line)
        if split is None:
            if self.room is None:
                return "! join a room first: /join ROOM"
            return Say(room=self.room, text=say_text(line))
        command, rest = split
        match command:
            case "join" | "j" if rest:
                room = room_arg(rest)
                self.room = room
                return Join(room=room)
            case "leave" | "part":
                room = room_arg(rest) if rest else self.room
                if room is None:
                    return "! usage: /leave ROOM"
                return Leave(room=room)
            case "msg" | "query" if " " in rest:
                to, _, text = rest.partition(" ")
                return SendDm(to=nick_arg(to), text=text)
            case "me" if rest:
                if self.room is None:
                    return "! join a room first: /join ROOM"
                return Say(room=self.room, text=rest, action=True)
            case "nick" if rest:
                return ChangeNick(nick=nick_arg(rest))
            case "who" | "names":
                room = room_arg(rest) if rest else self.room
                return Who(room=room) if room else "! usage: /who ROOM"
            case "rooms" | "list":
                return ListRooms()
            case "topic" if self.room is not None:
                return SetTopic(room=self.room, topic=rest)
            case "quit" | "exit":
                return Quit(reason=quit_reason(rest))
            case "help":
                return HELP
        return f"! unknown command or missing argument: /{command} (try /help)"


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
) -> int:
    """Run line mode until stdin ends, /quit, or the server closes. Returns an exit status."""
    try:
        conn = await ChatConnection.open(host, port)
    except (OSError, TimeoutError) as exc:
        out(f"! cannot connect to {host}:{port}: {exc}")
        return 1
    show: Callable[[ServerMessage], str] = (
        (lambda e: encode_body(e).decode()) if as_json else describe
    )
    try:
        welcome = await conn.hello(nick, password)
    except HelloRejected as exc:
        out(show(exc.error))
        await conn.close()
        return 1
    except (ConnectionClosed, TimeoutError) as exc:
        out(f"! no welcome from server: {inert(str(exc))}")
        await conn.close()
        return 1
    out(show(welcome))
    client = PlainClient(None)
    if room:
        client.room = room
        await conn.send(Join(room=room))

    async def read_stdin() -> None:
        lines = await _stdin_lines()
        while line := (await lines.readline()).decode(errors="replace"):
            request = client.parse(line)
            if isinstance(request, str):
                out(request)
            elif request is not None:
                await conn.send(request)
                if isinstance(request, Quit):
                    return
        await conn.send(Quit())

    async def keepalive() -> None:
        for n in itertools.count():
            await asyncio.sleep(PING_INTERVAL)
            await conn.send(Ping(token=f"keepalive-{n}"))

    tasks = [asyncio.ensure_future(read_stdin()), asyncio.ensure_future(keepalive())]
    status = 0
    try:
        async for event in conn.events():
            if isinstance(event, Pong) and event.token.startswith("keepalive-"):
                continue
            if isinstance(event, Joined) and event.nick == welcome.nick:
                client.room = event.room
            out(show(event))
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
        await conn.close()
    return status
