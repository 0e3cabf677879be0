"""Hostile and broken input: errors for the sender, nothing for anyone else, on every backend."""

from __future__ import annotations

import json
import struct

import pytest

from protocol import frame
from tests.conftest import ConnectFactory
from tests.helpers import WireClient


async def _room_still_works(room: str, a: WireClient, b: WireClient, text: str) -> None:
    await a.send("say", room=room, text=text)
    assert (await b.expect("message"))["text"] == text


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"not json", "bad_json"),
        (b"", "bad_json"),
        (b"\xff\xfe\x00", "bad_json"),
        (b"[1, 2]", "bad_json"),
        (b'"hello"', "bad_json"),
        (b"42", "bad_json"),
        (b"{}", "invalid_message"),
        (b'{"type": "teleport"}', "invalid_message"),
        (b'{"type": 7}', "invalid_message"),
        (b'{"type": "say", "room": "r"}', "invalid_message"),
        (b'{"type": "say", "room": "r", "text": 5}', "invalid_message"),
        (b'{"type": "say", "room": "r", "text": "x", "admin": true}', "invalid_message"),
        (b'{"type": "join", "room": "r", "since": "yesterday"}', "invalid_message"),
        (b'{"type": "ping", "token": "' + b"x" * 500 + b'"}', "invalid_message"),
    ],
)
async def test_bad_frames_get_a_non_fatal_error(
    connect: ConnectFactory, unique, body: bytes, code: str
) -> None:
    room = unique("room")
    victim = await connect("victim", room)
    attacker = await connect("attacker", room)
    await victim.expect("joined", nick=attacker.nick)
    await attacker.send_raw(frame(body))
    error = await attacker.next_of("error")
    assert error["code"] == code and error["fatal"] is False
    assert error["message"]
    # The connection goes on, and nobody else saw anything.
    await attacker.send("ping", token="still-alive")
    assert (await attacker.next_of("pong"))["token"] == "still-alive"
    assert await victim.sync() == []
    await _room_still_works(room, attacker, victim, "after the storm")


async def test_invalid_message_keeps_the_ref(connect: ConnectFactory) -> None:
    client = await connect("refs")
    await client.send_json({"type": "say", "room": "r", "ref": "abc", "text": None})
    error = await client.next_of("error")
    assert error["code"] == "invalid_message" and error["ref"] == "abc"


@pytest.mark.parametrize(
    "garbage",
    [
        b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n",
        bytes.fromhex("16030100f4010000f00303") + b"\x00" * 40,  # a TLS ClientHello
        struct.pack(">I", 65537) + b"x" * 100,
        b"\xff\xff\xff\xff",
    ],
)
async def test_oversized_length_is_fatal_before_allocating(
    connect: ConnectFactory, unique, garbage: bytes
) -> None:
    room = unique("room")
    victim = await connect("victim", room)
    attacker = await connect("attacker", room)
    await attacker.send_raw(garbage)
    error = await attacker.expect("error")
    assert error["code"] == "frame_too_large" and error["fatal"] is True
    assert await attacker.closed()
    await victim.expect("left", nick=attacker.nick)
    other = await connect("other", room)
    await _room_still_works(room, other, victim, "unaffected")


async def test_garbage_before_hello_is_fatal_too(connect: ConnectFactory) -> None:
    client = await connect(None)
    await client.send_raw(b"SSH-2.0-OpenSSH_9.6\r\n")
    assert (await client.next_of("error"))["code"] == "frame_too_large"
    assert await client.closed()


async def test_frame_at_the_limit_is_accepted(connect: ConnectFactory, unique) -> None:
    room = unique("room")
    client = await connect("big", room)
    # Exactly 65536 bytes of body: valid JSON, but text is over the 8000-character limit.
    padding = 65536 - len(json.dumps({"type": "say", "room": room, "text": ""}).encode())
    body = json.dumps({"type": "say", "room": room, "text": "x" * padding}).encode()
    assert len(body) == 65536
    await client.send_raw(frame(body))
    assert (await client.next_of("error"))["code"] == "invalid_text"
    await client.send("ping", token="ok")
    await client.next_of("pong")


async def test_byte_by_byte_and_coalesced_frames(connect: ConnectFactory, unique) -> None:
    room = unique("room")
    alice = await connect("alice", room)
    bob = await connect("bob", room)
    data = b"".join(
        frame(json.dumps({"type": "say", "room": room, "text": f"piece {i}"}).encode())
        for i in range(5)
    )
    for byte in data[:40]:
        await alice.send_raw(bytes([byte]))
    await alice.send_raw(data[40:])
    texts = [(await bob.expect("message"))["text"] for _ in range(5)]
    assert texts == [f"piece {i}" for i in range(5)]


async def test_bad_frames_mixed_with_good_ones(connect: ConnectFactory, unique) -> None:
    room = unique("room")
    alice = await connect("alice", room)
    bob = await connect("bob", room)
    await alice.sync()
    good = frame(json.dumps({"type": "say", "room": room, "text": "good"}).encode())
    await alice.send_raw(good + frame(b"{oops") + good + struct.pack(">I", 10**9))
    assert (await bob.expect("message"))["text"] == "good"
    assert (await bob.expect("message"))["text"] == "good"
    seen = [await alice.recv() for _ in range(4)]
    assert [m["type"] for m in seen] == ["message", "error", "message", "error"]
    assert seen[1]["code"] == "bad_json" and seen[3]["code"] == "frame_too_large"
    assert await alice.closed()
