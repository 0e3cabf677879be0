"""The core's limits, in process: flood control, per-address caps, output caps, bounded history
and replies, the hello timeout, and the rules for quit reasons, names and text.

Addresses from the documentation ranges (192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24,
2001:db8::/32) are not exempt; 127.0.0.1 and ::1 are, by default. The clock is the harness's
fake one, moved by hand; `run` plays the backend's timer, calling `hub.tick()` every TICK.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from chat_server.core import TICK, AddressLimits, Connection, CoreConfig, FloodLimits, Hub
from chat_server.core.config import REPLY_BUDGET
from protocol import frame
from tests.core.harness import Clock, FakeIO, connect, encode_request, make_hub, send

PASTER = "192.0.2.1"
FLOODER = "198.51.100.7"
# Requests a fresh non-exempt connection has left for its first burst after hello and join.
BURST_AFTER_JOIN = FloodLimits().burst - 2
EMOJI = "\U0001f600"  # four bytes of UTF-8


def run(hub: Hub, clock: Clock, seconds: float, *drained: FakeIO) -> None:
    """Let `seconds` pass as a backend would: tick every TICK, and flush `drained` after each
    tick, reporting nothing left unsent (readers that keep up)."""
    steps = round(seconds / TICK)
    for _ in range(steps):
        clock.now += TICK
        hub.tick()
        for io in drained:
            io.drain()
            assert io.conn is not None
            hub.check_backlog(io.conn, 0)


def member(
    hub: Hub, nick: str, room: str | None = None, address: str | None = "127.0.0.1"
) -> tuple[Connection, FakeIO]:
    """A registered connection, in `room` if given, with its replies so far drained."""
    conn, io = connect(hub, nick, address=address)
    if room is not None:
        send(hub, conn, {"type": "join", "room": room})
    io.drain()
    return conn, io


def says(room: str, texts: list[str]) -> bytes:
    """One read holding a `say` per text, each with its index as `ref`."""
    return b"".join(
        encode_request({"type": "say", "room": room, "text": text, "ref": str(i)})
        for i, text in enumerate(texts)
    )


def send_utf8(hub: Hub, conn: Connection, obj: dict[str, Any]) -> None:
    """`send`, with the JSON as UTF-8 rather than \\u escapes (four bytes an emoji, not 12)."""
    hub.receive(conn, frame(json.dumps(obj, ensure_ascii=False).encode()))


def of_type(messages: list[dict[str, Any]], type_: str) -> list[dict[str, Any]]:
    return [m for m in messages if m["type"] == type_]


def texts(messages: list[dict[str, Any]]) -> list[str]:
    return [m["text"] for m in messages if m["type"] == "message"]


def error(io: FakeIO) -> dict[str, Any]:
    """The one error among what `io` has not drained yet."""
    errors = of_type(io.drain(), "error")
    assert len(errors) == 1, errors
    return errors[0]


def test_the_defaults_are_the_documented_limits() -> None:
    config = CoreConfig()
    assert config.flood == FloodLimits(
        burst=16,
        rate=4.0,
        byte_burst=256 * 1024,
        byte_rate=64 * 1024,
        ping_burst=8,
        ping_rate=2.0,
        max_waiting=64,
        max_waiting_seconds=10.0,
    )
    assert config.per_address == AddressLimits(
        connections=16,
        connects=10,
        connects_window=10.0,
        rooms_created=20,
        rooms_window=60.0,
        bad_passwords=5,
        bad_passwords_window=60.0,
    )
    assert config.exempt == ("127.0.0.1/32", "::1/128")
    assert (config.max_outbuf, config.outbuf_hard, config.outbuf_soft_seconds) == (
        1 << 20,
        8 << 20,
        10.0,
    )
    assert (config.hello_timeout, config.max_combining, config.max_rooms) == (10.0, 4, 10_000)


# ---------------------------------------------------------------------- flood control


def test_a_30_line_paste_of_quick_says_arrives_whole_and_in_order() -> None:
    hub, clock = make_hub()
    paster, paster_io = member(hub, "paster", "r", address=PASTER)
    _, reader_io = member(hub, "reader", "r")
    lines = [f"line {i:02d} of the paste" for i in range(30)]
    hub.receive(paster, says("r", lines))
    assert len(texts(reader_io.drain())) == BURST_AFTER_JOIN
    assert paster_io.paused  # the rest waits for the bucket, read but not yet handled
    started = clock.now
    for _ in range(200):  # at most 10 seconds
        if len(texts(reader_io.received)) == 30:
            break
        run(hub, clock, 0.05, reader_io, paster_io)
    assert texts(reader_io.received) == lines
    assert clock.now - started <= 4.5  # the other 16 at 4 a second
    echoes = of_type(paster_io.received, "message")
    assert [m["ref"] for m in echoes] == [str(i) for i in range(30)]
    assert of_type(paster_io.received, "error") == []
    assert not paster.closed and not paster_io.paused and paster_io.pauses == 1


def test_a_30_line_paste_in_one_say_is_one_message() -> None:
    hub, _ = make_hub()
    paster, paster_io = member(hub, "paster", "r", address=PASTER)
    _, reader_io = member(hub, "reader", "r")
    paste = "\n".join(f"    line {i:02d}\tof the paste" for i in range(30))
    assert paste.count("\n") == 29
    send(hub, paster, {"type": "say", "room": "r", "text": paste})
    assert texts(reader_io.drain()) == [paste]
    assert not paster.closed and not paster_io.paused


def test_a_say_flood_is_paused_and_resumes_as_the_bucket_refills() -> None:
    hub, clock = make_hub()
    flooder, flood_io = member(hub, "flooder", "r", address=FLOODER)
    _, reader_io = member(hub, "reader", "r")
    sent = [f"flood {i}" for i in range(40)]
    hub.receive(flooder, says("r", sent))
    assert len(texts(reader_io.drain())) == BURST_AFTER_JOIN
    assert flood_io.paused and flood_io.pauses == 1 and flooder in hub.throttled
    assert len(flooder.waiting) == 40 - BURST_AFTER_JOIN
    # 4 requests a second after the burst: 8 more in the next two seconds, one per 0.25 s.
    run(hub, clock, 2.0, reader_io, flood_io)
    assert len(texts(reader_io.received)) in range(BURST_AFTER_JOIN + 7, BURST_AFTER_JOIN + 10)
    assert flood_io.paused
    run(hub, clock, 10.0, reader_io, flood_io)
    assert texts(reader_io.received) == sent  # nothing dropped, nothing reordered
    assert not flood_io.paused and flood_io.pauses == 1 and flooder not in hub.throttled
    assert of_type(flood_io.received, "error") == [] and not flooder.closed


def test_pings_have_their_own_bucket() -> None:
    hub, clock = make_hub()
    conn, io = member(hub, "pinger", "r", address=FLOODER)
    hub.receive(conn, says("r", ["x"] * BURST_AFTER_JOIN))  # the request bucket is now empty
    assert len(texts(io.drain())) == BURST_AFTER_JOIN and not io.paused
    pings = b"".join(encode_request({"type": "ping", "token": str(i)}) for i in range(12))
    hub.receive(conn, pings)
    assert [m["token"] for m in of_type(io.drain(), "pong")] == [str(i) for i in range(8)]
    assert io.paused  # 8 at once, then 2 a second
    run(hub, clock, 1.0, io)
    assert len(of_type(io.received, "pong")) in (9, 10)
    run(hub, clock, 1.2, io)
    assert [m["token"] for m in of_type(io.received, "pong")] == [str(i) for i in range(12)]
    assert not io.paused and not conn.closed


def test_the_byte_bucket_paces_large_requests() -> None:
    hub, clock = make_hub(flood=FloodLimits(burst=1000, rate=1000.0))
    conn, io = member(hub, "big", "r", address=FLOODER)
    sent = [f"{i:02d}" + "x" * 7998 for i in range(40)]  # about 8 KB a request
    hub.receive(conn, says("r", sent))
    first = len(texts(io.drain()))
    assert 30 <= first <= 32 and io.paused  # 256 KiB at once ...
    run(hub, clock, 0.5, io)
    assert len(texts(io.received)) - first in range(3, 6)  # ... then 64 KiB a second
    run(hub, clock, 2.0, io)
    assert texts(io.received) == sent and not io.paused and not conn.closed


def test_more_than_64_requests_held_for_over_10_seconds_is_a_flood() -> None:
    hub, clock = make_hub()
    flooder, flood_io = member(hub, "flooder", "r", address=FLOODER)
    _, reader_io = member(hub, "reader", "r")
    sent = [f"flood {i}" for i in range(200)]
    hub.receive(flooder, says("r", sent))
    run(hub, clock, 9.9, reader_io, flood_io)
    assert not flooder.closed and flood_io.paused
    run(hub, clock, 0.3, reader_io, flood_io)
    assert flooder.closed and flood_io.socket_closed
    errors = of_type(flood_io.received, "error")
    assert errors == [
        {
            "type": "error",
            "code": "flood",
            "message": "more than 64 requests waiting for over 10 seconds; disconnected",
            "fatal": True,
        }
    ]
    got = texts(reader_io.received)
    assert got == sent[: len(got)] and 50 <= len(got) <= 60  # in order, as far as it got
    left = of_type(reader_io.received, "left")
    assert [(m["nick"], m["reason"]) for m in left] == [("flooder", "flood")]
    assert flooder not in hub.throttled and len(hub.connections) == 1


def test_64_requests_held_however_long_are_not_a_flood() -> None:
    hub, clock = make_hub()
    flooder, flood_io = member(hub, "flooder", "r", address=FLOODER)
    sent = [f"queued {i}" for i in range(BURST_AFTER_JOIN + 64)]
    hub.receive(flooder, says("r", sent))
    assert len(flooder.waiting) == 64
    run(hub, clock, 20.0, flood_io)
    assert texts(flood_io.received) == sent and not flooder.closed


def test_a_dm_flood_from_several_senders_never_drops_a_victim_that_reads() -> None:
    hub, clock = make_hub()
    victim, victim_io = member(hub, "victim", address="203.0.113.9")
    senders = [member(hub, f"sender{i}", address=f"198.51.100.{i + 1}") for i in range(8)]
    big = "y" * 7990
    for i, (conn, io) in enumerate(senders):
        # 150 DMs of 8 KB each, 9.6 MB in all: far more than any output cap if let through.
        dms = (
            encode_request({"type": "dm", "to": "victim", "text": f"{i}:{n:03d}:{big}"})
            for n in range(150)
        )
        hub.receive(conn, b"".join(dms))
        assert io.paused
    victim_io.drain()
    run(hub, clock, 12.0, victim_io, *(io for _, io in senders))
    assert not victim.closed and of_type(victim_io.received, "error") == []
    by_sender: dict[str, list[int]] = {}
    for dm in of_type(victim_io.received, "dm"):
        sender, number, _ = dm["text"].split(":")
        by_sender.setdefault(sender, []).append(int(number))
    assert sorted(by_sender) == [str(i) for i in range(8)]
    for numbers in by_sender.values():
        assert numbers == list(range(len(numbers)))  # each sender's DMs in order, no gap
    for conn, io in senders:  # the senders were throttled, then cut for flooding
        assert conn.closed and of_type(io.received, "error")[-1]["code"] == "flood"
    assert list(hub.connections.values()) == [victim]


@pytest.mark.parametrize("address", ["127.0.0.1", "::1", "::ffff:127.0.0.1", "10.1.2.3", None])
def test_exempt_addresses_are_never_paused(address: str | None) -> None:
    hub, clock = make_hub(exempt=("127.0.0.1/32", "::1/128", "10.0.0.0/8"))
    conn, io = member(hub, "local", "r", address=address)
    assert conn.exempt and conn.flood is None
    sent = [f"fast {i}" for i in range(300)]
    hub.receive(conn, says("r", sent))
    pings = b"".join(encode_request({"type": "ping", "token": str(i)}) for i in range(50))
    hub.receive(conn, pings)
    replies = io.drain()
    assert texts(replies) == sent and len(of_type(replies, "pong")) == 50
    assert io.pauses == 0 and not io.paused and conn not in hub.throttled
    run(hub, clock, 20.0, io)
    assert not conn.closed


def test_without_exempt_networks_loopback_is_flood_controlled_too() -> None:
    hub, _ = make_hub(exempt=())
    conn, io = member(hub, "local", "r", address="127.0.0.1")
    hub.receive(conn, says("r", ["x"] * 30))
    assert len(texts(io.drain())) == BURST_AFTER_JOIN and io.paused


def test_a_malformed_frame_held_by_flood_control_is_answered_once() -> None:
    hub, clock = make_hub()
    conn, io = member(hub, "sloppy", "r", address=FLOODER)
    hub.receive(conn, says("r", ["x"] * BURST_AFTER_JOIN) + frame(b"{not json"))
    run(hub, clock, 1.0, io)
    assert [m["code"] for m in of_type(io.received, "error")] == ["bad_json"]
    assert not io.paused


# ---------------------------------------------------------------------- per-address caps


def test_the_17th_concurrent_connection_from_an_address_is_refused() -> None:
    hub, clock = make_hub()
    held = [connect(hub, address="192.0.2.1")[0] for _ in range(10)]
    clock.now += 10  # the connect throttle allows 10 per 10 seconds
    held += [connect(hub, address="192.0.2.1")[0] for _ in range(6)]
    assert not any(conn.closed for conn in held)
    refused, refused_io = connect(hub, address="192.0.2.1")
    assert refused.closed and refused_io.drain() == [
        {
            "type": "error",
            "code": "too_many_connections",
            "message": "your address already has 16 connections open",
            "fatal": True,
        }
    ]
    assert refused_io.socket_closed and refused.id not in hub.connections
    assert not connect(hub, address="192.0.2.2")[0].closed  # another address is not affected
    assert not connect(hub, address="127.0.0.1")[0].closed
    hub.lost(held[0])  # one goes away: there is room for one more
    assert not connect(hub, address="192.0.2.1")[0].closed
    assert connect(hub, address="192.0.2.1")[0].closed


def test_the_connect_throttle_allows_10_new_connections_per_10_seconds() -> None:
    hub, clock = make_hub()
    for _ in range(10):
        conn, _ = connect(hub, address="192.0.2.1")
        assert not conn.closed
        hub.lost(conn)  # short-lived: only the rate counts here, not the concurrency
        clock.now += 0.5
    clock.now -= 0.25  # the 11th attempt comes 4.75 s after the first
    refused, refused_io = connect(hub, address="192.0.2.1")
    assert refused.closed
    assert refused_io.drain() == [
        {
            "type": "error",
            "code": "too_many_connections",
            "message": "more than 10 new connections from your address in 10 seconds",
            "fatal": True,
            "retry_after": 6,  # 5.25 s, in whole seconds rounded up
        }
    ]
    assert not connect(hub, address="192.0.2.2")[0].closed
    clock.now += 5.25  # the first attempt leaves the window; the refused one never counted
    assert not connect(hub, address="192.0.2.1")[0].closed
    assert connect(hub, address="192.0.2.1")[0].closed


def test_ipv6_addresses_in_one_64_share_their_caps() -> None:
    hub, _ = make_hub(per_address=AddressLimits(connects=100))
    held = [connect(hub, address=f"2001:db8::{i:x}")[0] for i in range(1, 17)]
    assert not any(conn.closed for conn in held)
    for neighbour in ("2001:db8::ffff:1", "2001:db8:0:0:8000::1", "2001:0db8:0000::abcd"):
        conn, io = connect(hub, address=neighbour)
        assert conn.closed and io.drain()[0]["code"] == "too_many_connections"
    assert not connect(hub, address="2001:db8:0:1::1")[0].closed  # the next /64
    # An IPv4-mapped address counts as the IPv4 address.
    v4 = [connect(hub, address="192.0.2.1")[0] for _ in range(16)]
    assert not any(conn.closed for conn in v4)
    assert connect(hub, address="::ffff:192.0.2.1")[0].closed


def test_the_connect_throttle_counts_a_64_as_one_address() -> None:
    hub, _ = make_hub()
    for i in range(10):
        assert not connect(hub, address=f"2001:db8::{i + 1:x}")[0].closed
    conn, io = connect(hub, address="2001:db8::beef")
    assert conn.closed and io.drain()[0]["retry_after"] == 10


def test_room_creation_is_rate_limited_per_address() -> None:
    hub, clock = make_hub()
    a, a_io = member(hub, "a", address="192.0.2.1")
    b, b_io = member(hub, "b", address="192.0.2.1")  # the same address: one allowance
    for i in range(10):
        send(hub, a, {"type": "join", "room": f"a{i}"})
        send(hub, b, {"type": "join", "room": f"b{i}"})
    assert len(hub.rooms) == 20 and of_type(a_io.drain() + b_io.drain(), "error") == []
    send(hub, b, {"type": "join", "room": "one-too-many"})
    assert error(b_io) == {
        "type": "error",
        "code": "rate_limited",
        "message": "more than 20 new rooms from your address in 60 seconds",
        "fatal": False,
        "retry_after": 60,
    }
    assert not b.closed and hub.rooms.find("one-too-many") is None
    send(hub, b, {"type": "join", "room": "a0"})  # joining a room that exists is not creating
    assert "joined" in b_io.types()
    c, c_io = member(hub, "c", address="192.0.2.2")
    send(hub, c, {"type": "join", "room": "elsewhere"})
    assert "joined" in c_io.types()
    clock.now += 60
    send(hub, b, {"type": "join", "room": "one-too-many"})
    assert "joined" in b_io.types()


def test_exempt_addresses_skip_the_per_address_caps() -> None:
    hub, _ = make_hub()
    conns = [connect(hub, address="127.0.0.1")[0] for _ in range(40)]
    assert not any(conn.closed for conn in conns)
    conn, io = member(hub, "local")
    for i in range(30):
        send(hub, conn, {"type": "join", "room": f"room{i}"})
    assert of_type(io.drain(), "error") == [] and len(hub.rooms) == 30


def test_the_room_cap_is_limit_reached() -> None:
    hub, _ = make_hub(max_rooms=3)
    owner, _ = member(hub, "owner")
    for name in ("r1", "r2", "r3"):
        send(hub, owner, {"type": "join", "room": name})
    other, other_io = member(hub, "other")
    send(hub, other, {"type": "join", "room": "r4"})
    assert error(other_io) == {
        "type": "error",
        "code": "limit_reached",
        "message": "the server holds 3 rooms, its limit; join an existing one",
        "fatal": False,
    }
    assert not other.closed
    send(hub, other, {"type": "join", "room": "R1"})
    assert "joined" in other_io.types()
    send(hub, owner, {"type": "leave", "room": "r3"})  # r3 is gone: a room may be created
    send(hub, other, {"type": "join", "room": "r4"})
    assert "joined" in other_io.types() and len(hub.rooms) == 3


def test_a_room_refused_by_the_room_cap_does_not_count_as_created() -> None:
    hub, clock = make_hub(max_rooms=1)
    owner, _ = member(hub, "owner")
    send(hub, owner, {"type": "join", "room": "only"})
    conn, io = member(hub, "hopeful", address=PASTER)
    for i in range(20):  # 20 attempts in 10 s: within flood control, and within one window
        send(hub, conn, {"type": "join", "room": f"mine{i}"})
        assert error(io)["code"] == "limit_reached"
        run(hub, clock, 0.5)
    send(hub, owner, {"type": "leave", "room": "only"})
    send(hub, conn, {"type": "join", "room": "mine"})  # no room was created from this address
    assert io.types()[:1] == ["joined"]


def test_failed_passwords_are_throttled_per_address_even_for_exempt_ones() -> None:
    hub, clock = make_hub(password="s3cret")
    checked: list[str | None] = []
    real = hub.auth

    class Spy:
        def check(self, conn: Connection, hello: Any) -> None:
            checked.append(hello.password)
            real.check(conn, hello)

    hub.auth = Spy()
    for address in (PASTER, "127.0.0.1"):
        checked.clear()
        for _ in range(5):
            conn, io = connect(hub, address=address)
            send(hub, conn, {"type": "hello", "nick": "n", "protocol": 1, "password": "guess"})
            assert error(io)["code"] == "bad_password" and conn.closed
        conn, io = connect(hub, address=address)
        send(hub, conn, {"type": "hello", "nick": "n", "protocol": 1, "password": "s3cret"})
        assert error(io) == {
            "type": "error",
            "code": "rate_limited",
            "message": "more than 5 wrong passwords from your address in 60 seconds",
            "fatal": True,
            "retry_after": 60,
        }
        assert conn.closed and io.socket_closed
        assert checked == ["guess"] * 5  # the sixth password was not even compared
    conn, io = connect(hub, address="192.0.2.77")
    send(hub, conn, {"type": "hello", "nick": "n", "protocol": 1, "password": "s3cret"})
    assert io.types() == ["welcome"]
    clock.now += 60
    conn, io = connect(hub, address=PASTER)
    send(hub, conn, {"type": "hello", "nick": "m", "protocol": 1, "password": "s3cret"})
    assert io.types() == ["welcome"]


# ---------------------------------------------------------------------- output caps


def test_over_the_hard_output_cap_at_once_is_a_reset() -> None:
    hub, _ = make_hub(max_outbuf=64 * 1024, outbuf_hard=256 * 1024)
    talker, talker_io = member(hub, "talker", "r")
    sleeper, sleeper_io = member(hub, "sleeper", "r")
    big = "z" * 7900
    for i in range(40):  # 320 KB for the sleeper, which takes none of it
        send(hub, talker, {"type": "say", "room": "r", "text": f"{i} {big}"})
        talker_io.drain()
        hub.check_backlog(talker, 0)
    assert sleeper.closed and sleeper.reset
    # What was queued is discarded: the error alone is left to send (if it can be).
    assert sleeper_io.drain() == [
        {
            "type": "error",
            "code": "slow_consumer",
            "message": "more than 262144 bytes waiting to be read; disconnected",
            "fatal": True,
        }
    ]
    left = of_type(talker_io.received, "left")
    assert [(m["nick"], m["reason"]) for m in left] == [("sleeper", "slow_consumer")]
    assert not talker.closed and not talker.reset


def test_over_the_soft_output_cap_for_its_time_is_a_reset() -> None:
    hub, clock = make_hub(max_outbuf=64 * 1024, outbuf_hard=1 << 20, outbuf_soft_seconds=10)
    stuck, stuck_io = member(hub, "stuck")
    slow, slow_io = member(hub, "slow")
    for conn, io in ((stuck, stuck_io), (slow, slow_io)):
        io.drain()
        hub.check_backlog(conn, 100_000)  # the backend holds more than the soft cap for each
    run(hub, clock, 6.0)
    hub.check_backlog(slow, 10_000)  # one catches up for a moment
    hub.check_backlog(slow, 100_000)
    run(hub, clock, 4.1)
    assert stuck.closed and stuck.reset and not slow.closed
    assert stuck_io.drain()[-1]["message"] == (
        "more than 65536 bytes waiting to be read for 10 seconds; disconnected"
    )
    run(hub, clock, 6.0)
    assert slow.closed and slow.reset


# ---------------------------------------------------------------------- history and replies


def test_room_history_memory_stays_bounded_when_hoarded() -> None:
    total = 3 << 20
    hub, _ = make_hub(history_bytes=total)
    per_room = hub.history.room_bytes  # type: ignore[attr-defined]
    assert per_room == min(CoreConfig().room_history_bytes, REPLY_BUDGET) == 256 * 1024
    heavy = EMOJI * 8000  # 32,000 bytes of text, the most one message can carry
    assert len(heavy.encode()) == 32_000
    hoarders = [member(hub, f"hoarder{i}")[0] for i in range(3)]
    rooms = [f"hoard{n:03d}" for n in range(300)]
    for n, room in enumerate(rooms):
        conn = hoarders[n % 3]
        send(hub, conn, {"type": "join", "room": room})
        for _ in range(10):
            send_utf8(hub, conn, {"type": "say", "room": room, "text": heavy})
        conn.take_output()
        assert hub.history.held <= total  # type: ignore[attr-defined]
    held = {room: hub.history.since(hub.rooms.find(room), None, 1 << 30) for room in rooms}  # type: ignore[arg-type]
    sizes = {room: sum(map(len, bodies)) for room, bodies in held.items()}
    assert max(sizes.values()) <= per_room
    assert sum(sizes.values()) == hub.history.held > total - 2 * per_room  # type: ignore[attr-defined]
    # The oldest messages across the server went first: the newest rooms keep theirs.
    kept = [room for room in rooms if sizes[room]]
    assert kept == rooms[-len(kept) :] and len(kept) < 20
    assert [len(held[room]) for room in kept[1:]] == [8] * (len(kept) - 1)
    # A joiner gets what the room still holds, within the reply budget.
    joiner, joiner_io = member(hub, "joiner")
    send(hub, joiner, {"type": "join", "room": rooms[-1]})
    history = of_type(joiner_io.drain(), "history")[0]
    assert len(history["messages"]) == 8 and history["messages"][0]["text"] == heavy
    send(hub, joiner, {"type": "join", "room": rooms[0]})
    assert of_type(joiner_io.drain(), "history")[0]["messages"] == []
    for conn in hoarders:  # the rooms empty out: their history goes with them
        send(hub, conn, {"type": "quit"})
    send(hub, joiner, {"type": "quit"})
    assert len(hub.rooms) == 0 and hub.history.held == 0  # type: ignore[attr-defined]


def test_history_per_room_is_capped_by_the_replay_budget() -> None:
    hub, _ = make_hub(max_outbuf=64 * 1024, outbuf_hard=1 << 20)
    assert hub.replay_budget == 32 * 1024
    assert hub.history.room_bytes == 32 * 1024  # type: ignore[attr-defined]
    hub, _ = make_hub(room_history_bytes=10_000)
    assert hub.history.room_bytes == 10_000  # type: ignore[attr-defined]
    talker, _ = member(hub, "talker", "r")
    for i in range(10):
        send(hub, talker, {"type": "say", "room": "r", "text": f"{i}" + "h" * 2999})
    bodies = hub.history.since(hub.rooms.find("r"), None, 1 << 30)  # type: ignore[arg-type]
    assert len(bodies) == 3 and sum(map(len, bodies)) <= 10_000
    assert [json.loads(b)["text"][0] for b in bodies] == ["7", "8", "9"]


def test_the_rooms_reply_is_cached_until_something_shown_changes() -> None:
    hub, _ = make_hub()
    a, a_io = member(hub, "a", "alpha")
    b, _ = member(hub, "b", "beta")

    def listing() -> bytes:
        send(hub, a, {"type": "rooms"})
        reply = a.out[-1]
        a_io.drain()
        return reply

    first = listing()
    assert listing() is first  # the same bytes object: encoded once
    assert json.loads(first[4:])["rooms"] == [
        {"name": "alpha", "members": 1, "topic": ""},
        {"name": "beta", "members": 1, "topic": ""},
    ]
    send(hub, a, {"type": "who", "room": "beta"})  # shows nothing of the list
    send(hub, a, {"type": "say", "room": "alpha", "text": "hi"})
    assert listing() is first
    changes: list[tuple[Connection, dict[str, Any]]] = [
        (b, {"type": "join", "room": "alpha"}),
        (b, {"type": "topic", "room": "beta", "topic": "the b side"}),
        (b, {"type": "leave", "room": "alpha"}),
        (a, {"type": "join", "room": "gamma"}),
        (a, {"type": "leave", "room": "gamma"}),
    ]
    previous = first
    for conn, change in changes:
        send(hub, conn, change)
        current = listing()
        assert current is not previous and current != previous, change
        assert listing() is current
        previous = current
    assert json.loads(previous[4:])["rooms"] == [
        {"name": "alpha", "members": 1, "topic": ""},
        {"name": "beta", "members": 1, "topic": "the b side"},
    ]


def test_the_rooms_reply_fits_the_budget_with_10000_rooms() -> None:
    hub, _ = make_hub()
    rooms: list[str] = []
    for c in range(100):
        conn, _ = member(hub, f"owner{c}")
        for r in range(100):
            name = f"room-{c:02d}-{r:02d}-" + "n" * 52  # 64 characters: the longest name
            rooms.append(name)
            send(hub, conn, {"type": "join", "room": name})
        conn.take_output()
    assert len(hub.rooms) == 10_000
    # A few late rooms are the most populated: the reply must show them.
    popular = [rooms[-1], rooms[-500], rooms[-5000]]
    for i in range(3):
        conn, _ = member(hub, f"crowd{i}")
        for name in popular[: i + 1]:
            send(hub, conn, {"type": "join", "room": name})
    asker, asker_io = member(hub, "asker")
    send(hub, asker, {"type": "rooms"})
    reply = asker.out[-1]
    assert len(reply) - 4 <= REPLY_BUDGET
    listed = json.loads(reply[4:])["rooms"]
    assert 2000 < len(listed) < 10_000
    counts = {entry["name"]: entry["members"] for entry in listed}
    assert [counts.get(name) for name in popular] == [4, 3, 2]
    asker_io.drain()
    send(hub, asker, {"type": "rooms"})
    assert asker.out[-1] is reply


def test_the_rooms_reply_is_sorted_by_name() -> None:
    hub, _ = make_hub()
    conn, io = member(hub, "lister")
    names = ["room-22", "Beta", "10", "room-20", "alpha", "9", "room-1", "Zulu", "room-l0"]
    for name in names:
        send(hub, conn, {"type": "join", "room": name})
    io.drain()
    send(hub, conn, {"type": "rooms"})
    listed = [entry["name"] for entry in of_type(io.drain(), "room_list")[0]["rooms"]]
    assert listed == sorted(names, key=str.casefold)


def test_the_rooms_reply_never_exceeds_the_budget() -> None:
    # Entries of 511 bytes: 512 of them with their commas fill the budget exactly, and the
    # reply's own wrapper must still fit.
    hub, _ = make_hub()
    conns = [member(hub, f"titler{c}")[0] for c in range(6)]
    for i in range(600):
        conn = conns[i // 100]
        name = f"r{i:04d}"
        send(hub, conn, {"type": "join", "room": name})
        bare = len(json.dumps({"name": name, "members": 1, "topic": ""}, separators=(",", ":")))
        send(hub, conn, {"type": "topic", "room": name, "topic": "t" * (511 - bare)})
        conn.take_output()
    asker, _ = member(hub, "asker")
    send(hub, asker, {"type": "rooms"})
    assert len(asker.out[-1]) - 4 <= REPLY_BUDGET


def test_members_carries_the_total() -> None:
    hub, _ = make_hub()
    a, a_io = member(hub, "a", "r")
    member(hub, "b", "r")
    member(hub, "c", "r")
    send(hub, a, {"type": "who", "room": "r"})
    assert of_type(a_io.drain(), "members") == [
        {
            "type": "members",
            "room": "r",
            "nicks": ["a", "b", "c"],
            "total": 3,
            "roles": {"a": "op"},  # the room's creator, a guest: op while there
            "muted": [],
        }
    ]


def _wide_nick(i: int) -> str:
    """A distinct 32-character nick of 128 bytes (CJK Extension B ideographs, 4 bytes each)."""
    return "".join(chr(0x20000 + k * 256 + (i >> (8 * k)) % 256) for k in range(4)) * 8


def test_members_of_a_huge_room_is_cut_to_the_budget_with_the_full_total() -> None:
    hub, _ = make_hub()
    joined: list[str] = []
    for i in range(2100):
        conn, _ = connect(hub, _wide_nick(i))
        send(hub, conn, {"type": "join", "room": "crowd"})
        conn.take_output()  # its own `members` reply, up to 256 KiB: not kept 2100 times
        joined.append(conn.nick or "")
    asker, asker_io = member(hub, "asker")
    send(hub, asker, {"type": "who", "room": "crowd"})
    reply = asker.out[-1]
    members = of_type(asker_io.drain(), "members")[0]
    assert members["total"] == 2100
    assert 1900 < len(members["nicks"]) < 2100
    assert members["nicks"] == joined[: len(members["nicks"])]  # the first, in join order
    assert len(reply) - 4 <= REPLY_BUDGET


# ---------------------------------------------------------------------- hello timeout


@pytest.mark.parametrize("timeout", [10.0, 0.5])
def test_a_connection_without_hello_is_dropped_after_the_hello_timeout(timeout: float) -> None:
    hub, clock = make_hub(hello_timeout=timeout)
    run(hub, clock, 1.0)  # a server that has been running for a while
    silent, silent_io = connect(hub, address=PASTER)
    pinger, pinger_io = connect(hub, address="127.0.0.1")
    registered, registered_io = member(hub, "registered")
    opened = clock.now
    dropped_after = None
    while clock.now - opened < timeout + 10:
        send(hub, pinger, {"type": "ping", "token": "p"})  # pings do not register anyone
        run(hub, clock, 0.05)
        if silent.closed:
            dropped_after = clock.now - opened
            break
        assert not pinger.closed
    # Dropped once the timeout is over, within a quarter of it (as reaping is done in steps).
    assert dropped_after is not None and timeout < dropped_after <= timeout * 1.25 + TICK
    assert error(silent_io) == {
        "type": "error",
        "code": "idle_timeout",
        "message": f"no hello within {timeout:g} seconds",
        "fatal": True,
    }
    assert silent_io.socket_closed
    run(hub, clock, 0.1)
    assert pinger.closed and of_type(pinger_io.drain(), "error")[-1]["code"] == "idle_timeout"
    run(hub, clock, 2 * timeout)
    assert not registered.closed and of_type(registered_io.drain(), "error") == []


def test_a_connection_that_says_hello_in_time_stays() -> None:
    hub, clock = make_hub(hello_timeout=10.0)
    conn, io = connect(hub, address=PASTER)
    run(hub, clock, 9.0)
    send(hub, conn, {"type": "hello", "nick": "late", "protocol": 1})
    assert io.types() == ["welcome"]
    run(hub, clock, 30.0)
    assert not conn.closed


# ---------------------------------------------------------------------- quit reasons


def test_a_quit_reason_reaches_the_rooms_as_sent() -> None:
    hub, _ = make_hub()
    _, watcher_io = member(hub, "watcher", "r")
    leaver, leaver_io = member(hub, "leaver", "r")
    reason = "off to lunch 🍜 — back at 2"
    send(hub, leaver, {"type": "quit", "reason": reason})
    assert leaver_io.types() == ["bye"] and leaver.closed
    left = of_type(watcher_io.drain(), "left")
    assert [(m["nick"], m["reason"]) for m in left] == [("leaver", reason)]
    longest, longest_io = member(hub, "longest", "r")
    send(hub, longest, {"type": "quit", "reason": "q" * 256})
    assert longest_io.types() == ["bye"]


@pytest.mark.parametrize(
    "reason",
    [
        "two\nlines",
        "a\ttab",
        "\x1b[31mred\x1b[0m",
        "bell\x07",
        "carriage\rreturn",
        "C1 \x9b control",
        "bidi \u202eesrever",
        "separator\u2028line",
        "tag \U000e0041",
        "unassigned \u0378",
        "zalgo e\u0301\u0302\u0303\u0304\u0305",
        "   ",
    ],
)
def test_a_quit_reason_that_breaks_the_text_rules_is_refused(reason: str) -> None:
    hub, _ = make_hub()
    _, watcher_io = member(hub, "watcher", "r")
    quitter, quitter_io = member(hub, "quitter", "r")
    send(hub, quitter, {"type": "quit", "reason": reason})
    refusal = error(quitter_io)
    assert refusal["code"] == "invalid_text" and refusal["fatal"] is False
    assert not quitter.closed  # the request had no effect: the connection stays
    send(hub, quitter, {"type": "say", "room": "r", "text": "still here"})
    assert texts(watcher_io.drain()) == ["still here"]
    send(hub, quitter, {"type": "quit", "reason": "fine now"})
    assert quitter_io.types()[-1] == "bye"


def test_a_bad_quit_reason_before_hello_is_refused_too() -> None:
    hub, _ = make_hub()
    conn, io = connect(hub, address=PASTER)
    send(hub, conn, {"type": "quit", "reason": "x\ny"})
    assert error(io)["code"] == "invalid_text" and not conn.closed
    send(hub, conn, {"type": "hello", "nick": "after", "protocol": 1})
    assert io.types() == ["welcome"]


def test_a_quit_reason_over_256_characters_is_refused_by_the_model() -> None:
    # docs/protocol.md: longer than 256 characters is `invalid_message`, as for every field
    # the message model bounds; the connection stays all the same.
    hub, _ = make_hub()
    conn, io = member(hub, "verbose")
    send(hub, conn, {"type": "quit", "reason": "q" * 257})
    refusal = error(io)
    assert (refusal["code"], refusal["fatal"]) == ("invalid_message", False) and not conn.closed


def test_a_quit_reason_may_carry_4_combining_marks_on_a_character() -> None:
    hub, _ = make_hub()
    _, watcher_io = member(hub, "watcher", "r")
    conn, io = member(hub, "accents", "r")
    reason = "e\u0301\u0302\u0303\u0304 bye"
    send(hub, conn, {"type": "quit", "reason": reason})
    assert io.types() == ["bye"]
    assert of_type(watcher_io.drain(), "left")[0]["reason"] == reason


# ---------------------------------------------------------------------- names


@pytest.mark.parametrize(
    "spoof",
    [
        "ALICE",
        "\u0430lice",  # Cyrillic a
        "aIice",  # capital I for l
        "a1ice",  # digit one for l
        "\uff41\uff4c\uff49\uff43\uff45",  # fullwidth
        "".join(chr(0x1D41A + ord(c) - ord("a")) for c in "alice"),  # mathematical bold
    ],
)
def test_a_nick_that_looks_like_one_in_use_is_taken(spoof: str) -> None:
    hub, _ = make_hub()
    alice, _ = member(hub, "alice")
    conn, io = connect(hub, address=PASTER)
    send(hub, conn, {"type": "hello", "nick": spoof, "protocol": 1})
    refusal = error(io)
    assert refusal["code"] == "nick_taken" and refusal["fatal"] is False
    assert "alice" in refusal["message"]
    other, other_io = member(hub, "bob")
    send(hub, other, {"type": "nick", "nick": spoof})
    assert error(other_io)["code"] == "nick_taken" and other.nick == "bob"
    hub.lost(alice)  # free again once its holder is gone
    send(hub, conn, {"type": "hello", "nick": spoof, "protocol": 1})
    assert io.types() == ["welcome"]


@pytest.mark.parametrize(
    "nick",
    [
        "\u3164",  # Hangul filler
        "\u2800",  # braille blank
        "\u115f\u1160",
        "a\u200bb",  # zero-width space
        "x\u034fy",  # combining grapheme joiner
        "\U000e0041",  # a tag character
        "#room",
        "@op",
        "*star",
        "!bang",
        "[bracket]",
        "\uff03wide",  # fullwidth number sign
        "server",
        "Server",
        "\u0455erver",  # Cyrillic dze for s
        "ADMIN",
        "NickServ",
    ],
)
def test_blank_invisible_misleading_and_reserved_nicks_are_refused(nick: str) -> None:
    hub, _ = make_hub()
    conn, io = connect(hub, address=PASTER)
    send(hub, conn, {"type": "hello", "nick": nick, "protocol": 1})
    refusal = error(io)
    assert refusal["code"] == "invalid_nick" and refusal["fatal"] is False
    assert not conn.closed


def test_look_alike_room_names_are_one_room() -> None:
    hub, _ = make_hub()
    member(hub, "a", "lobby")
    b, b_io = member(hub, "b")
    for spelling in ("LOBBY", "\u217cobby", "l\u043ebby"):  # roman numeral l, Cyrillic o
        send(hub, b, {"type": "join", "room": spelling})
        assert of_type(b_io.drain(), "joined")[0]["room"] == "lobby"
    assert len(hub.rooms) == 1


# ---------------------------------------------------------------------- text


@pytest.mark.parametrize(
    "text",
    [
        "hidden \U000e0068\U000e0069",  # tag characters outside a flag
        "\U0001f3f4\U000e0067\U000e0062",  # a flag's tags without its end
        "unassigned \u0378",
        "unassigned \U0002fa20",
        "noncharacter \ufdd0",
        "e\u0301\u0302\u0303\u0304\u0305",  # 5 combining marks on one base
        "z" + "\u0300" * 12 + "algo",
    ],
)
def test_text_with_hidden_unassigned_or_stacked_characters_is_invalid_text(text: str) -> None:
    hub, _ = make_hub()
    a, a_io = member(hub, "a", "r")
    member(hub, "b")
    for request in (
        {"type": "say", "room": "r", "text": text, "ref": "s"},
        {"type": "dm", "to": "b", "text": text, "ref": "d"},
        {"type": "topic", "room": "r", "topic": text},
    ):
        send(hub, a, request)
        refusal = error(a_io)
        assert refusal["code"] == "invalid_text" and refusal["fatal"] is False, request
        assert refusal.get("ref") == request.get("ref")
    assert not a.closed


@pytest.mark.parametrize(
    "text",
    [
        "e\u0301\u0302\u0303\u0304",  # 4 combining marks: the most allowed
        "\U0001f3f4\U000e0067\U000e0062\U000e0065\U000e006e\U000e0067\U000e007f",  # England
        "\U0001f469\u200d\U0001f469\u200d\U0001f467",  # a family: zero-width joiners
        "\U0001fae9",  # an emoji newer than some Unicode data
    ],
)
def test_text_within_the_rules_is_delivered(text: str) -> None:
    hub, _ = make_hub()
    a, a_io = member(hub, "a", "r")
    send(hub, a, {"type": "say", "room": "r", "text": text})
    assert texts(a_io.drain()) == [text]


def test_the_combining_limit_is_configurable() -> None:
    hub, _ = make_hub(max_combining=2)
    a, a_io = member(hub, "a", "r")
    send(hub, a, {"type": "say", "room": "r", "text": "e\u0301\u0302"})
    assert texts(a_io.drain()) == ["e\u0301\u0302"]
    send(hub, a, {"type": "say", "room": "r", "text": "e\u0301\u0302\u0303"})
    assert error(a_io)["code"] == "invalid_text"


def test_retry_after_is_whole_seconds_rounded_up() -> None:
    # Every wait below is fractional; each refusal says how long in whole seconds, at least 1.
    hub, clock = make_hub(per_address=AddressLimits(connects=1, connects_window=0.4))
    assert not connect(hub, address=PASTER)[0].closed
    clock.now += 0.1
    conn, io = connect(hub, address=PASTER)
    assert conn.closed and io.drain()[0]["retry_after"] == 1
    clock.now += 0.35
    assert not connect(hub, address=PASTER)[0].closed
