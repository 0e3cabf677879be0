"""A scripted wirechat server for client tests: it answers what a test tells it to, and records.

For the client's side of a contract the real server may not have yet (or where a test needs a
server to misbehave on cue): each connection's frames are parsed with the protocol's own models
and handed to `answer(conn, message)`, which returns the frames to send back. Every request is
kept in `received`, per connection, in order. A fatal `error` among the replies closes the
connection after it, as the real server does.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field

from protocol import (
    CLIENT_MESSAGE,
    PROTOCOL_VERSION,
    Bye,
    ClientMessage,
    Error,
    FrameDecoder,
    Hello,
    History,
    Join,
    Joined,
    Members,
    Ping,
    Pong,
    Quit,
    ServerInfo,
    Welcome,
    encode,
)
from protocol.base import WireMessage as _Message

TS = "2026-01-01T12:00:00.000Z"


@dataclass(slots=True)
class FakeConn:
    """One client connection as the fake server sees it."""

    number: int
    writer: asyncio.StreamWriter
    received: list[ClientMessage] = field(default_factory=list)
    nick: str = ""

    def send(self, *messages: _Message) -> None:
        for message in messages:
            self.writer.write(encode(message))

    def close(self) -> None:
        self.writer.close()


Answer = Callable[[FakeConn, ClientMessage], list[_Message] | None]


def welcome(nick: str, account: str | None = None, instance: str = "db-1") -> Welcome:
    return Welcome(
        nick=nick,
        protocol=PROTOCOL_VERSION,
        server=ServerInfo(name="fake", version="0"),
        backend="fake",
        instance=instance,
        account=account,
    )


def usual(conn: FakeConn, message: ClientMessage) -> list[_Message] | None:
    """What a plain server does with hello, join, ping and quit (for `answer` to fall back on)."""
    match message:
        case Hello():
            conn.nick = message.nick
            account = message.nick if message.auth is not None else None
            return [welcome(message.nick, account)]
        case Join():
            return [
                Joined(room=message.room, nick=conn.nick, ts=TS),
                History(room=message.room, messages=[]),
                Members(room=message.room, nicks=[conn.nick]),
            ]
        case Ping():
            return [Pong(token=message.token)]
        case Quit():
            return [Bye(reason="quit")]
    return None


class FakeServer:
    """Listens on an ephemeral loopback port; `answer` decides what each request gets."""

    def __init__(self, answer: Answer = usual) -> None:
        self.answer = answer
        self.host = "127.0.0.1"
        self.port = 0
        self.conns: list[FakeConn] = []
        self._server: asyncio.Server | None = None
        self._changed = asyncio.Event()

    async def start(self) -> FakeServer:
        self._server = await asyncio.start_server(self._serve, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            for conn in self.conns:
                conn.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)

    @property
    def hellos(self) -> list[Hello]:
        """Every hello received, in order of connection."""
        return [m for c in self.conns for m in c.received if isinstance(m, Hello)]

    def received(self, kind: type) -> list[ClientMessage]:
        return [m for c in self.conns for m in c.received if isinstance(m, kind)]

    async def wait_for(self, test: Callable[[], bool], timeout: float = 10.0) -> None:
        async with asyncio.timeout(timeout):
            while not test():
                self._changed.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), 0.05)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = FakeConn(len(self.conns) + 1, writer)
        self.conns.append(conn)
        self._changed.set()
        decoder = FrameDecoder()
        try:
            while data := await reader.read(65536):
                for body in decoder.feed(data):
                    message = CLIENT_MESSAGE.validate_json(body)
                    conn.received.append(message)
                    self._changed.set()
                    replies = self.answer(conn, message)
                    if replies is None:
                        replies = usual(conn, message) or []
                    conn.send(*replies)
                    fatal = any(isinstance(r, Error) and r.fatal for r in replies)
                    if isinstance(message, Quit) or fatal:
                        await writer.drain()
                        writer.close()
                        return
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            self._changed.set()
            writer.close()
