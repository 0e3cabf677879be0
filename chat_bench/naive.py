"""The `naive` baseline: a minimal asyncio chat server, one write per recipient per message.

It speaks the same framing and answers hello, join, say, ping and quit well enough for the
benchmark scenarios, with none of the real server's checks. Each `say` becomes one message
frame (encoded once, plus the sender's copy with its `ref`) that is written to every member
with its own `transport.write`: the floor any real server should beat.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
import time
from typing import Any

from protocol.framing import FrameDecoder, frame


def _encode(obj: dict[str, Any]) -> bytes:
    return frame(json.dumps(obj, separators=(",", ":")).encode())


class NaiveServer:
    """Rooms as dicts of members; a message id counter."""

    def __init__(self) -> None:
        self.rooms: dict[str, dict[NaiveProtocol, None]] = {}
        self.next_id = 1


class NaiveProtocol(asyncio.Protocol):
    def __init__(self, server: NaiveServer) -> None:
        self.server = server
        self.decoder = FrameDecoder(1 << 20)
        self.transport: asyncio.Transport | None = None
        self.nick = ""
        self.rooms: list[str] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def send(self, data: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    def data_received(self, data: bytes) -> None:
        for body in self.decoder.feed(data):
            self.handle(json.loads(body))

    def handle(self, msg: dict[str, Any]) -> None:
        kind = msg.get("type")
        server = self.server
        if kind == "say":
            room = msg["room"]
            members = server.rooms.get(room, {})
            out = {
                "type": "message",
                "id": server.next_id,
                "room": room,
                "nick": self.nick,
                "text": msg["text"],
                "action": False,
                "ts": _now(),
            }
            server.next_id += 1
            data = _encode(out)
            for member in members:
                if member is self and "ref" in msg:
                    member.send(_encode({**out, "ref": msg["ref"]}))
                else:
                    member.send(data)
        elif kind == "hello":
            self.nick = msg["nick"]
            self.send(
                _encode(
                    {
                        "type": "welcome",
                        "nick": self.nick,
                        "protocol": 1,
                        "server": {"name": "naive", "version": "0"},
                        "backend": "naive",
                    }
                )
            )
        elif kind == "join":
            room = msg["room"]
            members = server.rooms.setdefault(room, {})
            members[self] = None
            self.rooms.append(room)
            joined = _encode({"type": "joined", "room": room, "nick": self.nick, "ts": _now()})
            for member in members:
                member.send(joined)
            self.send(_encode({"type": "history", "room": room, "messages": []}))
            nicks = [m.nick for m in members]
            self.send(_encode({"type": "members", "room": room, "nicks": nicks}))
        elif kind == "ping":
            self.send(_encode({"type": "pong", "token": msg.get("token", "")}))
        elif kind == "quit":
            self.send(_encode({"type": "bye", "reason": "goodbye"}))
            self.leave()
            if self.transport is not None:
                self.transport.close()

    def leave(self) -> None:
        for room in self.rooms:
            members = self.server.rooms.get(room)
            if members is None:
                continue
            members.pop(self, None)
            if not members:
                del self.server.rooms[room]
                continue
            left = _encode({"type": "left", "room": room, "nick": self.nick, "ts": _now()})
            for member in members:
                member.send(left)
        self.rooms = []

    def connection_lost(self, exc: Exception | None) -> None:
        self.leave()
        self.transport = None


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())


async def _serve(host: str, port: int) -> None:
    loop = asyncio.get_running_loop()
    state = NaiveServer()
    server = await loop.create_server(
        lambda: NaiveProtocol(state), host, port, backlog=1024, reuse_address=True
    )
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    bound = server.sockets[0].getsockname()
    print(f"listening on {bound[0]}:{bound[1]} backend=naive", file=sys.stderr, flush=True)
    await stop.wait()
    server.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="chat-bench-naive", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    args, _ = parser.parse_known_args(argv)
    asyncio.run(_serve(args.host, args.port))
    return 0


if __name__ == "__main__":
    sys.exit(main())
