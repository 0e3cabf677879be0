"""The chat over real sockets, on every backend: what a backend must carry in and out.

The chat rules themselves (every message type and error, history, topics, nicks) are tested in
process in tests/core; these tests check that each backend delivers them over TCP.
"""

from __future__ import annotations

import asyncio
import re

from tests.conftest import ConnectFactory
from tests.helpers import WireClient

ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")


async def test_a_room_message_and_a_dm_cross_the_wire(
    connect: ConnectFactory, unique, backend: str
) -> None:
    room = unique("room")
    alice = await connect(None)
    welcome = await alice.hello(unique("alice"))
    assert welcome["backend"] == backend and welcome["protocol"] == 1
    assert welcome["server"]["name"] == "wirechat"
    assert re.fullmatch(r"[0-9a-f]{16}", welcome["instance"])
    history = await alice.join(room)
    assert history["messages"] == []
    bob = await connect("bob")
    carol = await connect("carol", room)
    await bob.send("join", room=room)
    for client in (alice, carol, bob):
        joined = await client.expect("joined", nick=bob.nick)
        assert joined["room"] == room and ISO_UTC.match(joined["ts"])
    assert (await bob.next_of("history"))["messages"] == []
    assert (await bob.next_of("members"))["nicks"] == [alice.nick, carol.nick, bob.nick]

    await alice.send("say", room=room, text="hi all", ref="r1")
    mine = await alice.next_of("message")
    assert mine["ref"] == "r1" and mine["nick"] == alice.nick and mine["text"] == "hi all"
    for other in (bob, carol):
        theirs = await other.next_of("message")
        assert theirs == {k: v for k, v in mine.items() if k != "ref"}

    await bob.send("dm", to=alice.nick, text="psst", ref="d1")
    sent = await bob.next_of("dm")
    got = await alice.next_of("dm")
    assert sent["ref"] == "d1" and got == {k: v for k, v in sent.items() if k != "ref"}
    assert got["from"] == bob.nick and got["to"] == alice.nick and got["id"] > mine["id"]
    assert await carol.sync() == []


async def test_per_room_total_order_with_concurrent_senders(
    connect: ConnectFactory, unique
) -> None:
    room = unique("order")
    senders = [await connect(f"s{i}", room) for i in range(3)]
    observers = [await connect(f"o{i}", room) for i in range(2)]
    per_sender = 40

    async def blast(client: WireClient) -> None:
        for i in range(per_sender):
            await client.send("say", room=room, text=f"{client.nick}:{i}")

    await asyncio.gather(*(blast(s) for s in senders))
    total = per_sender * len(senders)
    sequences = []
    for client in senders + observers:
        seen = []
        while len(seen) < total:
            message = await client.recv()
            if message["type"] == "message":
                seen.append((message["id"], message["text"]))
        sequences.append(seen)
    assert all(seq == sequences[0] for seq in sequences)
    ids = [i for i, _ in sequences[0]]
    assert ids == sorted(ids) and len(set(ids)) == total
    for sender in senders:  # each sender's own messages keep their order
        texts = [t for _, t in sequences[0] if t.startswith(f"{sender.nick}:")]
        assert texts == [f"{sender.nick}:{i}" for i in range(per_sender)]


async def test_quit_says_bye_then_closes(connect: ConnectFactory, unique) -> None:
    room = unique("room")
    alice = await connect("alice", room)
    bob = await connect("bob", room)
    await bob.send("quit", reason="off to lunch")
    assert (await bob.next_of("bye"))["reason"]
    assert await bob.closed()
    left = await alice.expect("left", nick=bob.nick)
    assert left["reason"] == "off to lunch"
    # The nick is free again once the backend has let the connection go.
    again = await connect(None)
    await again.hello(bob.nick)
