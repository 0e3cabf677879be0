"""Hostile and broken input in process: errors for the sender, nothing for anyone else; which
error wins when a request breaks several rules; and every error code one client can cause."""

from __future__ import annotations

import json
import struct
from collections.abc import Callable
from typing import Any

import pytest

from chat_server.core import AddressLimits, Hub
from protocol import frame
from tests.core.harness import Clock, encode_request, make_hub
from tests.core.peer import Peer, peer


def _room_still_works(room: str, a: Peer, b: Peer, text: str) -> None:
    a.send("say", room=room, text=text)
    assert b.expect("message")["text"] == text


def _victim_and_attacker(hub: Hub, room: str = "room") -> tuple[Peer, Peer]:
    victim = peer(hub, "victim", room)
    attacker = peer(hub, "attacker", room)
    assert victim.next_of("joined")["nick"] == "attacker"
    return victim, attacker


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"not json", "bad_json"),
        (b"", "bad_json"),
        (b"\xff\xfe\x00", "bad_json"),
        (b"[1, 2]", "bad_json"),
        (b'"hello"', "bad_json"),
        (b"42", "bad_json"),
        (b"null", "bad_json"),
        (b"{}", "invalid_message"),
        (b'{"type": "teleport"}', "invalid_message"),
        (b'{"type": 7}', "invalid_message"),
        (b'{"type": "say", "room": "r"}', "invalid_message"),
        (b'{"type": "say", "room": "r", "text": 5}', "invalid_message"),
        (b'{"type": "say", "room": "r", "text": "x", "admin": true}', "invalid_message"),
        (b'{"type": "say", "room": "r", "text": "x", "action": "true"}', "invalid_message"),
        (b'{"type": "join", "room": "r", "since": "yesterday"}', "invalid_message"),
        (b'{"type": "hello", "nick": "n", "protocol": "1"}', "invalid_message"),
        (b'{"type": "ping", "token": "' + b"x" * 500 + b'"}', "invalid_message"),
        (b'{"type": "ping", "token": "' + b"x" * 129 + b'"}', "invalid_message"),
        (
            b'{"type": "say", "room": "r", "text": "x", "ref": "' + b"r" * 129 + b'"}',
            "invalid_message",
        ),
        (b'{"type": "join", "room": "' + b"r" * 257 + b'"}', "invalid_message"),
        (b'{"type": "dm", "to": "' + b"n" * 257 + b'", "text": "x"}', "invalid_message"),
    ],
)
def test_bad_frames_get_a_non_fatal_error(body: bytes, code: str) -> None:
    hub, _ = make_hub()
    victim, attacker = _victim_and_attacker(hub)
    attacker.pending()
    attacker.send_raw(frame(body))
    error = attacker.next_of("error")
    assert error["code"] == code and error["fatal"] is False
    assert error["message"]
    # The connection goes on, and nobody else saw anything.
    attacker.send("ping", token="still-alive")
    assert attacker.next_of("pong")["token"] == "still-alive"
    assert victim.pending() == []
    _room_still_works("room", attacker, victim, "after the storm")


def test_invalid_message_keeps_the_ref() -> None:
    hub, _ = make_hub()
    client = peer(hub, "refs")
    client.send_json({"type": "say", "room": "r", "ref": "abc", "text": None})
    error = client.next_of("error")
    assert error["code"] == "invalid_message" and error["ref"] == "abc"
    client.send_json({"type": "dm", "to": "x", "ref": "def"})  # missing text
    error = client.next_of("error")
    assert error["code"] == "invalid_message" and error["ref"] == "def"


def test_null_means_absent_where_the_protocol_allows_it() -> None:
    hub, _ = make_hub()
    alice = peer(hub, None)
    alice.send("hello", nick="alice", protocol=1, password=None)
    alice.nick = alice.next_of("welcome")["nick"]
    alice.join("room")
    watcher = peer(hub, "watcher", "room")
    alice.pending()
    alice.send("say", room="room", text="x", ref=None)
    assert "ref" not in alice.next_of("message")
    late = peer(hub, "late")
    late.send("join", room="room", since=None)
    late.next_of("joined")
    assert [m["text"] for m in late.next_of("history")["messages"]] == ["x"]
    alice.pending()
    alice.send("say", room="room", text="x", action=None)  # `action` must be a bool
    assert alice.next_of("error")["code"] == "invalid_message"
    alice.send("quit", reason=None)
    alice.next_of("bye")
    assert watcher.expect("left", nick="alice")["reason"] == "quit"


def test_sender_is_always_the_registered_nick() -> None:
    hub, _ = make_hub()
    mallory = peer(hub, "mallory", "room")
    watcher = peer(hub, "watcher", "room")
    mallory.pending()
    mallory.send("say", room="room", text="x", nick="admin")
    error = mallory.next_of("error")
    assert error["code"] == "invalid_message"
    mallory.send("dm", to="mallory", text="x", **{"from": "admin"})
    assert mallory.next_of("error")["code"] == "invalid_message"
    mallory.send("dm", to="watcher", text="x", sender="admin")
    assert mallory.next_of("error")["code"] == "invalid_message"
    assert watcher.pending() == []


@pytest.mark.parametrize(
    "garbage",
    [
        b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n",
        bytes.fromhex("16030100f4010000f00303") + b"\x00" * 40,  # a TLS ClientHello
        struct.pack(">I", 65537) + b"x" * 100,
        b"\xff\xff\xff\xff",  # the length alone: the body is never waited for
    ],
)
def test_oversized_length_is_fatal_before_allocating(garbage: bytes) -> None:
    hub, _ = make_hub()
    victim, attacker = _victim_and_attacker(hub)
    attacker.pending()
    attacker.send_raw(garbage)
    error = attacker.next_of("error")
    assert error["code"] == "frame_too_large" and error["fatal"] is True
    assert attacker.closed and attacker.pending() == []
    assert attacker.conn.decoder.buffered == 0  # nothing of it was kept
    left = victim.expect("left", nick="attacker")
    assert left["reason"] == "frame_too_large"
    other = peer(hub, "other", "room")
    _room_still_works("room", other, victim, "unaffected")


def test_garbage_before_hello_is_fatal_too() -> None:
    hub, _ = make_hub()
    client = peer(hub, None)
    client.send_raw(b"SSH-2.0-OpenSSH_9.6\r\n")
    assert client.next_of("error")["code"] == "frame_too_large"
    assert client.closed and client.pending() == []
    assert not hub.connections


def test_frame_at_the_limit_is_accepted() -> None:
    hub, _ = make_hub()
    client = peer(hub, "big", "room")
    # Exactly 65536 bytes of body: valid JSON, but text is over the 8000-character limit.
    padding = 65536 - len(json.dumps({"type": "say", "room": "room", "text": ""}).encode())
    body = json.dumps({"type": "say", "room": "room", "text": "x" * padding}).encode()
    assert len(body) == 65536
    client.send_raw(frame(body))
    assert client.next_of("error")["code"] == "invalid_text"
    client.send("ping", token="ok")
    client.next_of("pong")
    # One byte more is refused on its length.
    client.send_raw(struct.pack(">I", 65537))
    assert client.next_of("error")["code"] == "frame_too_large" and client.closed


def test_the_frame_limit_is_configurable() -> None:
    hub, _ = make_hub(max_frame=100)
    client = peer(hub, "small")
    client.send_raw(frame(json.dumps({"type": "ping", "token": "x" * 100}).encode()))
    assert client.next_of("error")["code"] == "frame_too_large"


def _says(room: str, count: int) -> bytes:
    return b"".join(
        frame(json.dumps({"type": "say", "room": room, "text": f"piece {i}"}).encode())
        for i in range(count)
    )


def test_byte_by_byte_and_coalesced_frames() -> None:
    hub, _ = make_hub()
    alice = peer(hub, "alice", "room")
    bob = peer(hub, "bob", "room")
    bob.pending()
    data = _says("room", 5)
    for byte in data[:40]:
        alice.send_raw(bytes([byte]))
    alice.send_raw(data[40:])
    texts = [bob.next_of("message")["text"] for _ in range(5)]
    assert texts == [f"piece {i}" for i in range(5)]


def test_frames_split_at_every_byte() -> None:
    hub, _ = make_hub()
    alice = peer(hub, "alice", "room")
    bob = peer(hub, "bob", "room")
    bob.pending()
    data = _says("room", 3)
    for cut in range(len(data) + 1):  # every split of the stream into two reads
        alice.send_raw(data[:cut])
        alice.send_raw(data[cut:])
        texts = [m["text"] for m in bob.pending()]
        assert texts == [f"piece {i}" for i in range(3)], cut
    for byte in data:  # and every byte a read of its own
        alice.send_raw(bytes([byte]))
    assert [m["text"] for m in bob.pending()] == [f"piece {i}" for i in range(3)]


def test_bad_frames_mixed_with_good_ones() -> None:
    hub, _ = make_hub()
    alice = peer(hub, "alice", "room")
    bob = peer(hub, "bob", "room")
    alice.pending()
    bob.pending()
    good = frame(json.dumps({"type": "say", "room": "room", "text": "good"}).encode())
    alice.send_raw(good + frame(b"{oops") + good + struct.pack(">I", 10**9))
    assert bob.next_of("message")["text"] == "good"
    assert bob.next_of("message")["text"] == "good"
    assert bob.next_of("left")["reason"] == "frame_too_large"
    seen = alice.pending()
    assert [m["type"] for m in seen] == ["message", "error", "message", "error"]
    assert seen[1]["code"] == "bad_json" and seen[3]["code"] == "frame_too_large"
    assert alice.closed


def test_nothing_after_a_fatal_error_in_the_same_read_is_handled() -> None:
    hub, _ = make_hub()
    client = peer(hub, None)
    client.send_raw(
        encode_request({"type": "hello", "nick": "x", "protocol": 2})
        + encode_request({"type": "ping", "token": "t"})
    )
    assert [m["code"] for m in client.pending()] == ["unsupported_protocol"]
    assert client.closed


# ---------------------------------------------------------------------- precedence

HUGE = struct.pack(">I", 65537)


def _frame(obj: dict[str, Any]) -> bytes:
    return frame(json.dumps(obj).encode())


JOIN_FIRST = ({"type": "join", "room": "first"},)


@pytest.mark.parametrize(
    ("config", "registered", "before", "data", "code"),
    [
        # The frame first: its length, then JSON, then the message's shape.
        ({}, False, (), HUGE + b"not json", "frame_too_large"),
        ({}, True, (), HUGE + b'{"type": "say"}', "frame_too_large"),
        ({}, False, (), frame(b"{oops"), "bad_json"),
        ({}, False, (), _frame({"type": "teleport"}), "invalid_message"),
        ({}, False, (), _frame({"type": "join", "room": 5}), "invalid_message"),
        ({}, False, (), _frame({"type": "ping", "token": "x" * 129}), "invalid_message"),
        ({}, True, (), _frame({"type": "say", "room": "nowhere", "x": 1}), "invalid_message"),
        # Then the phase, before the request's own checks.
        ({}, False, (), _frame({"type": "join", "room": "a b"}), "not_registered"),
        (
            {},
            True,
            (),
            _frame({"type": "hello", "nick": "a b", "protocol": 2}),
            "already_registered",
        ),
        # Then the request's checks, first to last.
        (
            {},
            False,
            (),
            _frame({"type": "hello", "nick": "a b", "protocol": 2}),
            "unsupported_protocol",
        ),
        (
            {"password": "s3cret"},
            False,
            (),
            _frame({"type": "hello", "nick": "a b", "protocol": 1, "password": "guess"}),
            "bad_password",
        ),
        ({}, True, (), _frame({"type": "say", "room": "nowhere", "text": ""}), "not_in_room"),
        ({}, True, (), _frame({"type": "dm", "to": "nobody", "text": ""}), "no_such_nick"),
        ({}, True, (), _frame({"type": "topic", "room": "no", "topic": "a\nb"}), "not_in_room"),
        ({"max_rooms": 0}, True, (), _frame({"type": "join", "room": "a b"}), "invalid_room"),
        (
            {"max_rooms": 1, "max_rooms_per_client": 1},
            True,
            JOIN_FIRST,
            _frame({"type": "join", "room": "second"}),
            "invalid_room",
        ),
    ],
)
def test_the_first_rule_broken_decides_the_error(
    config: dict[str, Any],
    registered: bool,
    before: tuple[dict[str, Any], ...],
    data: bytes,
    code: str,
) -> None:
    hub, _ = make_hub(**config)
    client = peer(hub, "me" if registered else None)
    for request in before:
        client.send_json(request)
    client.pending()
    client.send_raw(data)
    assert [m["code"] for m in client.pending() if m["type"] == "error"] == [code]


# ---------------------------------------------------------------------- every error code


Cause = Callable[[Hub, Clock], Peer]


def _unregistered(data: bytes) -> Cause:
    def cause(hub: Hub, clock: Clock) -> Peer:
        client = peer(hub, None)
        client.send_raw(data)
        return client

    return cause


def _registered(*requests: dict[str, Any], address: str = "127.0.0.1") -> Cause:
    def cause(hub: Hub, clock: Clock) -> Peer:
        client = peer(hub, "me", address=address)
        for request in requests:
            client.send_json(request)
        return client

    return cause


def _idle(hub: Hub, clock: Clock) -> Peer:
    client = peer(hub, "me")
    clock.now += 301
    hub.tick()
    return client


def _just_connect(hub: Hub, clock: Clock) -> Peer:
    return peer(hub, None)


HELLO = {"type": "hello", "nick": "me", "protocol": 1}
JOIN_A, JOIN_B = ({"type": "join", "room": "a"}, {"type": "join", "room": "b"})
# Each documented code one client can cause alone, whether it is fatal, the server's settings
# and the cause. Elsewhere: nick_taken (two clients, tests/core/test_session.py), flood and
# too_many_connections (tests/core/test_limits.py), slow_consumer and internal_error
# (tests/core/test_hub.py).
EVERY_CODE: list[tuple[str, bool, dict[str, Any], Cause]] = [
    ("bad_json", False, {}, _unregistered(frame(b"[]"))),
    ("invalid_message", False, {}, _unregistered(_frame({"type": "teleport"}))),
    ("not_registered", False, {}, _unregistered(_frame({"type": "rooms"}))),
    ("already_registered", False, {}, _registered(HELLO)),
    ("invalid_nick", False, {}, _unregistered(_frame({**HELLO, "nick": "@me"}))),
    ("invalid_room", False, {}, _registered({"type": "join", "room": "\x07"})),
    ("invalid_text", False, {}, _registered({"type": "dm", "to": "me", "text": " "})),
    ("not_in_room", False, {}, _registered({"type": "leave", "room": "r"})),
    ("no_such_room", False, {}, _registered({"type": "who", "room": "r"})),
    ("no_such_nick", False, {}, _registered({"type": "dm", "to": "you", "text": "x"})),
    (
        "rate_limited",
        False,
        {"per_address": AddressLimits(rooms_created=1)},
        _registered(JOIN_A, JOIN_B, address="192.0.2.1"),
    ),
    ("limit_reached", False, {"max_rooms": 0}, _registered(JOIN_A)),
    ("unsupported_protocol", True, {}, _unregistered(_frame({**HELLO, "protocol": 0}))),
    ("bad_password", True, {"password": "s3cret"}, _unregistered(_frame(HELLO))),
    ("frame_too_large", True, {}, _unregistered(HUGE)),
    ("server_full", True, {"max_clients": 0}, _just_connect),
    ("idle_timeout", True, {}, _idle),
]


@pytest.mark.parametrize(
    ("code", "fatal", "config", "cause"), EVERY_CODE, ids=[row[0] for row in EVERY_CODE]
)
def test_every_error_code_one_client_can_cause(
    code: str, fatal: bool, config: dict[str, Any], cause: Cause
) -> None:
    hub, clock = make_hub(**config)
    client = cause(hub, clock)
    errors = [m for m in client.pending() if m["type"] == "error"]
    assert [(e["code"], e["fatal"]) for e in errors] == [(code, fatal)]
    assert errors[0]["message"]
    assert ("retry_after" in errors[0]) is (code == "rate_limited")
    # A fatal error closes the connection; any other leaves it as it was.
    assert client.closed is fatal
    if not fatal:
        client.send("ping", token="after")
        assert client.next_of("pong")["token"] == "after"
