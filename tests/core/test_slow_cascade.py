"""The core when one broadcast drops several slow consumers at once (no IO involved)."""

from __future__ import annotations

import json

from chat_server.core import Connection, CoreConfig, Hub
from protocol import PROTOCOL_VERSION, FrameDecoder


class FakeIO:
    """A backend that never writes: every byte stays queued in the core."""

    def __init__(self) -> None:
        self.wakes = 0

    def output_ready(self) -> None:
        self.wakes += 1

    def pause_reading(self) -> None:
        raise AssertionError("exempt connections are never paused")

    def resume_reading(self) -> None:
        raise AssertionError("exempt connections are never paused")


def _frames(conn: Connection) -> list[dict[str, object]]:
    return [json.loads(body) for body in FrameDecoder(1 << 20).feed(b"".join(conn.out))]


def _client(hub: Hub, nick: str, room: str) -> Connection:
    conn = hub.open(FakeIO(), nick, address="127.0.0.1")
    for message in (
        {"type": "hello", "nick": nick, "protocol": PROTOCOL_VERSION},
        {"type": "join", "room": room},
    ):
        body = json.dumps(message).encode()
        hub.receive(conn, len(body).to_bytes(4, "big") + body)
    return conn


def test_one_broadcast_dropping_every_member_leaves_a_consistent_hub() -> None:
    hub = Hub(CoreConfig(max_outbuf=4096, outbuf_hard=4 * 4096))
    members = [_client(hub, f"n{i}", "r") for i in range(4)]
    for conn in members:
        conn.take_output()
    text = "x" * 3000
    body = json.dumps({"type": "say", "room": "r", "text": text}).encode()
    # Enough in one read to pass the hard cap of every member.
    hub.receive(members[0], (len(body).to_bytes(4, "big") + body) * 2 * 4)
    assert all(c.closed for c in members)
    assert len(hub.rooms) == 0 and len(hub.nicks) == 0 and hub.connections == {}
    for conn in members:
        frames = _frames(conn)
        assert frames[-1]["type"] == "error", frames[-1]
        assert frames[-1]["code"] == "slow_consumer"
        assert not any(f.get("code") == "internal_error" for f in frames)
        assert conn.wake_pending  # the backend was told to flush and close it
        assert conn.rooms == {}


def test_leaver_dropped_by_its_own_left_broadcast_is_announced_once() -> None:
    hub = Hub(CoreConfig(max_outbuf=2048, outbuf_hard=4 * 2048))
    stayer = _client(hub, "stayer", "r")
    leaver = _client(hub, "leaver", "r")
    stayer.take_output()
    nearly_full = 4 * 2048 - 48  # the `left` frame tips it over
    leaver.out.append(b"x" * nearly_full)
    leaver.out_bytes = nearly_full
    body = json.dumps({"type": "leave", "room": "r"}).encode()
    hub.receive(leaver, len(body).to_bytes(4, "big") + body)
    assert leaver.closed
    lefts = [f for f in _frames(stayer) if f["type"] == "left"]
    assert len(lefts) == 1 and lefts[0]["nick"] == "leaver"
