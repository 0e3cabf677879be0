"""The in-process harness for chat rules: a Hub with a fake clock and fake IO per connection."""

from __future__ import annotations

import json
from typing import Any

from chat_server.core import Connection, CoreConfig, Hub
from protocol import FrameDecoder, frame


class FakeIO:
    """Records wake-ups and reading pauses; `drain()` plays the backend's flush."""

    def __init__(self) -> None:
        self.wakeups = 0
        self.conn: Connection | None = None
        self.received: list[dict[str, Any]] = []
        self.decoder = FrameDecoder(1 << 24)
        self.socket_closed = False
        self.paused = False
        self.pauses = 0

    def output_ready(self) -> None:
        self.wakeups += 1

    def pause_reading(self) -> None:
        assert not self.paused, "paused twice"
        self.paused = True
        self.pauses += 1

    def resume_reading(self) -> None:
        assert self.paused, "resumed while reading"
        self.paused = False

    def drain(self) -> list[dict[str, Any]]:
        assert self.conn is not None
        fresh = [json.loads(b) for b in self.decoder.feed(self.conn.take_output())]
        self.received += fresh
        if self.conn.closed:
            self.socket_closed = True
        return fresh

    def types(self) -> list[str]:
        return [m["type"] for m in self.drain()]


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make_hub(**config: Any) -> tuple[Hub, Clock]:
    clock = Clock()
    return Hub(CoreConfig(**config), backend="test", clock=clock), clock


def connect(
    hub: Hub, nick: str | None = None, address: str | None = "127.0.0.1"
) -> tuple[Connection, FakeIO]:
    """A connection from `address` (127.0.0.1 is exempt by default; use 192.0.2.x or
    127.0.0.2 for one that flood control and the per-address caps apply to)."""
    io = FakeIO()
    conn = hub.open(io, f"{address}:1", address=address)
    io.conn = conn
    if nick is not None and not conn.closed:
        send(hub, conn, {"type": "hello", "nick": nick, "protocol": 1})
        assert io.drain()[-1]["type"] == "welcome"
    return conn, io


def encode_request(obj: dict[str, Any]) -> bytes:
    return frame(json.dumps(obj).encode())


def send(hub: Hub, conn: Connection, obj: dict[str, Any]) -> None:
    hub.receive(conn, encode_request(obj))
