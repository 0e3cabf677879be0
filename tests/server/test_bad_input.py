"""Bytes in and out of every backend: frames cut and merged by TCP, a big burst, a fatal error
and the close after it, and other protocols knocking on the port.

Which error each kind of broken input gets is tested in process in tests/core/test_bad_input.py.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import struct
from typing import Any

import pytest

from protocol import frame
from tests.conftest import ConnectFactory
from tests.helpers import WireClient


def _say(room: str, text: str) -> bytes:
    return frame(json.dumps({"type": "say", "room": room, "text": text}).encode())


async def _messages(client: WireClient, count: int) -> list[dict[str, Any]]:
    """The next `count` messages and errors, skipping anything else."""
    seen: list[dict[str, Any]] = []
    while len(seen) < count:
        message = await client.recv()
        if message["type"] in ("message", "error"):
            seen.append(message)
    return seen


async def test_frames_split_at_every_byte_and_coalesced_across_reads(
    connect: ConnectFactory, unique
) -> None:
    room = unique("room")
    alice = await connect("alice", room)
    bob = await connect("bob", room)
    frames = [_say(room, f"piece {i}") for i in range(8)]
    for byte in frames[0] + frames[1]:  # every byte in a read of its own
        await alice.send_raw(bytes([byte]))
        await asyncio.sleep(0.001)
    # Frames straddling writes: one write ends 3 bytes into a length, the next mid-body.
    rest = frames[2] + frames[3] + frames[4]
    cuts = [0, len(frames[2]) + 3, len(frames[2]) + len(frames[3]) + 20, len(rest)]
    for start, stop in itertools.pairwise(cuts):
        await alice.send_raw(rest[start:stop])
        await asyncio.sleep(0.01)
    await alice.send_raw(b"".join(frames[5:]))  # several whole frames in one write
    for client in (bob, alice):
        texts = [m["text"] for m in await _messages(client, 8)]
        assert texts == [f"piece {i}" for i in range(8)]


async def test_a_big_burst_in_one_write_arrives_whole_and_in_order(
    connect: ConnectFactory, unique
) -> None:
    room = unique("burst")
    alice = await connect("alice", room)
    bob = await connect("bob", room)
    await alice.sync()
    count, size = 400, 1000  # about 400 KB: more than one read of the server's
    # In the middle, a frame of exactly the largest accepted body (65,536 bytes), which is
    # read whole (its text is over the 8,000-character limit: invalid_text, not fatal).
    padding = 65536 - len(json.dumps({"type": "say", "room": room, "text": ""}).encode())
    biggest = _say(room, "x" * padding)
    assert len(biggest) == 4 + 65536
    burst = [_say(room, f"{i}:" + "y" * size) for i in range(count)]
    data = b"".join(burst[: count // 2]) + biggest + b"".join(burst[count // 2 :])
    _, mine, theirs = await asyncio.gather(
        alice.send_raw(data), _messages(alice, count + 1), _messages(bob, count)
    )
    numbers = [str(i) for i in range(count)]
    assert [m["text"].split(":")[0] for m in theirs] == numbers
    assert [m["type"] for m in mine].count("error") == 1
    error = mine.pop(count // 2)
    assert error["code"] == "invalid_text" and error["fatal"] is False
    assert [m["text"].split(":")[0] for m in mine] == numbers
    ids = [m["id"] for m in theirs]
    assert ids == sorted(ids) and ids == [m["id"] for m in mine]


async def test_a_fatal_error_follows_what_came_before_then_the_close(
    connect: ConnectFactory, unique
) -> None:
    room = unique("room")
    alice = await connect("alice", room)
    bob = await connect("bob", room)
    await alice.sync()
    good = _say(room, "good")
    await alice.send_raw(good + frame(b"{oops") + good + struct.pack(">I", 10**9))
    assert (await bob.expect("message"))["text"] == "good"
    assert (await bob.expect("message"))["text"] == "good"
    seen = [await alice.recv() for _ in range(4)]
    assert [m["type"] for m in seen] == ["message", "error", "message", "error"]
    assert seen[1]["code"] == "bad_json" and seen[1]["fatal"] is False
    assert seen[3]["code"] == "frame_too_large" and seen[3]["fatal"] is True
    assert await alice.closed()
    assert not alice.inbox  # nothing after the fatal error
    left = await bob.expect("left", nick=alice.nick)
    assert left["reason"] == "frame_too_large"
    # The room goes on.
    other = await connect("other", room)
    await other.send("say", room=room, text="unaffected")
    assert (await bob.expect("message"))["text"] == "unaffected"


@pytest.mark.parametrize(
    "banner",
    [
        b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n",
        bytes.fromhex("16030100f4010000f00303") + b"\x00" * 40,  # a TLS ClientHello
        b"SSH-2.0-OpenSSH_9.6\r\n",
    ],
    ids=["http", "tls", "ssh"],
)
async def test_another_protocol_on_the_port_is_refused_at_once(
    connect: ConnectFactory, banner: bytes
) -> None:
    client = await connect(None)
    await client.send_raw(banner)
    error = await client.next_of("error")
    assert error["code"] == "frame_too_large" and error["fatal"] is True
    assert await client.closed()
