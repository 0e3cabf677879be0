"""Every message type through a real server, on every backend."""

from __future__ import annotations

import asyncio
import re
import unicodedata

import pytest

from tests.conftest import ConnectFactory
from tests.helpers import ServerProcess, WireClient

ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")


async def test_hello_gets_welcome(server: ServerProcess, backend: str) -> None:
    client = await WireClient.connect(server)
    try:
        await client.send("hello", nick="Welcomed", protocol=1)
        welcome = await client.next_of("welcome")
        assert welcome["nick"] == "Welcomed"
        assert welcome["protocol"] == 1
        assert welcome["backend"] == backend
        assert welcome["server"]["name"] == "wirechat"
        assert welcome["server"]["version"]
        assert re.fullmatch(r"[0-9a-f]{16}", welcome["instance"])
    finally:
        await client.close()


async def test_two_clients_chat(connect: ConnectFactory, unique) -> None:
    room = unique("room")
    alice = await connect("alice", room)
    bob = await connect("bob")
    await bob.send("join", room=room)
    joined = await alice.expect("joined", nick=bob.nick)
    assert joined["room"] == room and ISO_UTC.match(joined["ts"])
    await bob.expect("history")
    await alice.send("say", room=room, text="hi bob", ref="r1")
    mine = await alice.expect("message")
    theirs = await bob.expect("message")
    assert mine["ref"] == "r1"
    assert "ref" not in theirs
    assert {k: v for k, v in mine.items() if k != "ref"} == theirs
    assert theirs["nick"] == alice.nick and theirs["text"] == "hi bob"
    assert theirs["action"] is False and ISO_UTC.match(theirs["ts"])
    await bob.send("say", room=room, text="waves", action=True)
    action = await alice.expect("message")
    assert action["action"] is True and action["nick"] == bob.nick
    assert action["id"] > mine["id"]


async def test_three_clients_see_the_same_conversation(connect: ConnectFactory, unique) -> None:
    room = unique("room")
    clients = [await connect(n, room) for n in ("a", "b", "c")]
    for i, client in enumerate(clients):
        await client.send("say", room=room, text=f"line {i}")
        for other in clients:
            message = await other.expect("message")
            assert message["text"] == f"line {i}" and message["nick"] == client.nick


async def test_sender_is_always_the_registered_nick(connect: ConnectFactory, unique) -> None:
    room = unique("room")
    mallory = await connect("mallory", room)
    await mallory.send("say", room=room, text="x", nick="admin")
    error = await mallory.next_of("error")
    assert error["code"] == "invalid_message"
    await mallory.send("dm", to=mallory.nick, text="x", **{"from": "admin"})
    assert (await mallory.next_of("error"))["code"] == "invalid_message"


async def test_dm_reaches_only_its_two_parties(connect: ConnectFactory, unique) -> None:
    room = unique("room")
    alice, bob, carol = [await connect(n, room) for n in ("alice", "bob", "carol")]
    await alice.send("dm", to=bob.nick.upper(), text="secret", ref="d1")
    sent = await alice.expect("dm")
    got = await bob.expect("dm")
    assert sent["ref"] == "d1" and "ref" not in got
    assert got["from"] == alice.nick and got["to"] == bob.nick and got["text"] == "secret"
    assert isinstance(got["id"], int) and ISO_UTC.match(got["ts"])
    assert await carol.sync() == []


async def test_dm_to_unknown_nick(connect: ConnectFactory) -> None:
    alice = await connect("alice")
    await alice.send("dm", to="nobody-here", text="hi", ref="x")
    error = await alice.next_of("error")
    assert error == {**error, "code": "no_such_nick", "ref": "x", "fatal": False}


async def test_nick_collisions_are_case_and_normalisation_insensitive(
    connect: ConnectFactory, unique
) -> None:
    name = unique("Zoé")
    first = await connect(None)
    await first.hello(name)
    for variant in (name.upper(), name.casefold(), unicodedata.normalize("NFD", name)):
        other = await connect(None)
        await other.send("hello", nick=variant, protocol=1)
        error = await other.next_of("error")
        assert error["code"] == "nick_taken" and error["fatal"] is False
        # Not fatal: the same connection can pick another nick.
        await other.send("hello", nick=unique("free"), protocol=1)
        await other.next_of("welcome")


@pytest.mark.parametrize(
    "bad",
    ["", " ", "a b", "x" * 33, "zero\u200bwidth", "bidi\u202eevil", "ctl\x07", "nl\n", "\u2028"],
)
async def test_invalid_nicks(connect: ConnectFactory, bad: str) -> None:
    client = await connect(None)
    await client.send("hello", nick=bad, protocol=1)
    error = await client.next_of("error")
    assert error["code"] in ("invalid_nick", "invalid_message")
    assert error["fatal"] is False


@pytest.mark.parametrize("bad", ["", "a b", "r" * 65, "zw\u200d", "\u202eroom", "tab\t"])
async def test_invalid_rooms(connect: ConnectFactory, bad: str) -> None:
    client = await connect("user")
    await client.send("join", room=bad)
    assert (await client.next_of("error"))["code"] == "invalid_room"


async def test_requests_before_hello_are_refused(connect: ConnectFactory) -> None:
    client = await connect(None)
    for request in (
        {"type": "join", "room": "lobby"},
        {"type": "say", "room": "lobby", "text": "x", "ref": "early"},
        {"type": "who", "room": "lobby"},
        {"type": "rooms"},
        {"type": "nick", "nick": "x"},
        {"type": "dm", "to": "x", "text": "y"},
        {"type": "leave", "room": "lobby"},
        {"type": "topic", "room": "lobby", "topic": "t"},
    ):
        await client.send_json(request)
        error = await client.next_of("error")
        assert error["code"] == "not_registered" and error["fatal"] is False
        if "ref" in request:
            assert error["ref"] == request["ref"]
    await client.send("ping", token="t")
    assert await client.next_of("pong") == {"type": "pong", "token": "t"}


async def test_hello_twice_and_bad_protocol(connect: ConnectFactory) -> None:
    client = await connect("twice")
    await client.send("hello", nick="other", protocol=1)
    assert (await client.next_of("error"))["code"] == "already_registered"
    old = await connect(None)
    await old.send("hello", nick="future", protocol=2)
    error = await old.next_of("error")
    assert error["code"] == "unsupported_protocol" and error["fatal"] is True
    assert await old.closed()


async def test_history_replay_and_since(connect: ConnectFactory, unique) -> None:
    room = unique("room")
    writer = await connect("writer", room)
    ids = []
    for i in range(5):
        await writer.send("say", room=room, text=f"m{i}")
        ids.append((await writer.expect("message"))["id"])
    reader = await connect("reader")
    history = await reader.join(room)
    assert [m["text"] for m in history["messages"]] == [f"m{i}" for i in range(5)]
    assert [m["id"] for m in history["messages"]] == ids
    assert all("ref" not in m for m in history["messages"])
    late = await connect("late")
    await late.send("join", room=room, since=ids[2])
    await late.expect("joined", nick=late.nick)
    history = await late.expect("history")
    assert [m["id"] for m in history["messages"]] == ids[3:]


async def test_history_is_a_bounded_ring() -> None:
    server = ServerProcess("asyncio", "--history", "3").start()
    try:
        writer = await WireClient.connect(server)
        await writer.hello("w")
        await writer.join("ring")
        for i in range(10):
            await writer.send("say", room="ring", text=str(i))
        await writer.sync()
        reader = await WireClient.connect(server)
        await reader.hello("r")
        history = await reader.join("ring")
        assert [m["text"] for m in history["messages"]] == ["7", "8", "9"]
        await writer.close()
        await reader.close()
    finally:
        assert server.stop() == 0


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


async def test_leave_who_rooms_topic(connect: ConnectFactory, unique) -> None:
    room = unique("Hall")
    alice = await connect("alice", room)
    bob = await connect("bob", room.lower())  # rooms are case-insensitive
    await alice.expect("joined", nick=bob.nick)
    await alice.send("who", room=room.upper())
    members = await alice.next_of("members")
    assert members == {
        "type": "members",
        "room": room,
        "nicks": [alice.nick, bob.nick],
        "total": 2,
    }
    await alice.send("topic", room=room, topic="plans for friday")
    for client in (alice, bob):
        topic = await client.expect("topic")
        assert topic == {
            "type": "topic",
            "room": room,
            "topic": "plans for friday",
            "nick": alice.nick,
        }
    await alice.send("rooms")
    listing = await alice.next_of("room_list")
    entry = next(r for r in listing["rooms"] if r["name"] == room)
    assert entry == {"name": room, "members": 2, "topic": "plans for friday"}
    # A newcomer gets the topic after history and members.
    carol = await connect("carol")
    await carol.send("join", room=room)
    assert (await carol.expect("topic"))["topic"] == "plans for friday"
    await bob.send("leave", room=room)
    left = await alice.expect("left", nick=bob.nick)
    assert left["room"] == room and ISO_UTC.match(left["ts"])
    await bob.expect("left", nick=bob.nick)
    await bob.send("say", room=room, text="still here?", ref="q")
    error = await bob.next_of("error")
    assert error["code"] == "not_in_room" and error["ref"] == "q"
    await bob.send("leave", room=room)
    assert (await bob.next_of("error"))["code"] == "not_in_room"
    await bob.send("topic", room=room, topic="hijack")
    assert (await bob.next_of("error"))["code"] == "not_in_room"
    await bob.send("who", room=unique("nowhere"))
    assert (await bob.next_of("error"))["code"] == "no_such_room"


async def test_nick_change_reaches_room_members_once(connect: ConnectFactory, unique) -> None:
    r1, r2 = unique("r"), unique("r")
    alice = await connect("alice")
    await alice.join(r1)
    await alice.join(r2)
    bob = await connect("bob")
    await bob.join(r1)
    await bob.join(r2)
    outsider = await connect("outsider")
    new = unique("alicia")
    await alice.send("nick", nick=new)
    assert await alice.expect("nick_changed") == {
        "type": "nick_changed",
        "old": alice.nick,
        "new": new,
    }
    changes = [m for m in await bob.sync() if m["type"] == "nick_changed"]
    assert changes == [{"type": "nick_changed", "old": alice.nick, "new": new}]
    assert await outsider.sync() == []
    await bob.send("nick", nick=new.upper())
    assert (await bob.next_of("error"))["code"] == "nick_taken"
    await bob.send("nick", nick="bad nick")
    assert (await bob.next_of("error"))["code"] == "invalid_nick"
    await alice.send("say", room=r1, text="renamed")
    assert (await bob.expect("message"))["nick"] == new


async def test_quit_says_bye_and_room_sees_left(connect: ConnectFactory, unique) -> None:
    room = unique("room")
    alice = await connect("alice", room)
    bob = await connect("bob", room)
    await bob.send("quit", reason="off to lunch")
    assert (await bob.expect("bye"))["reason"]
    assert await bob.closed()
    left = await alice.expect("left", nick=bob.nick)
    assert left["reason"] == "off to lunch"
    # The nick is free again.
    again = await connect(None)
    await again.hello(bob.nick)


async def test_empty_topic_clears_it(connect: ConnectFactory, unique) -> None:
    room = unique("room")
    alice = await connect("alice", room)
    await alice.send("topic", room=room, topic="x")
    await alice.expect("topic")
    await alice.send("topic", room=room, topic="")
    assert (await alice.expect("topic"))["topic"] == ""
    await alice.send("topic", room=room, topic="two\nlines")
    assert (await alice.next_of("error"))["code"] == "invalid_text"


async def test_control_characters_in_text_are_refused(connect: ConnectFactory, unique) -> None:
    room = unique("room")
    alice = await connect("alice", room)
    bob = await connect("bob", room)
    for text in ("\x1b]0;pwned\x07", "\x1b[2J", "a\u202eb", "\x9b31m", "   "):
        await alice.send("say", room=room, text=text, ref="t")
        error = await alice.expect("error")
        assert error["code"] == "invalid_text" and error["ref"] == "t"
    await alice.send("say", room=room, text="multi\nline\ttext 👨‍👩‍👧 [bold]x[/]")
    assert (await bob.expect("message"))["text"] == "multi\nline\ttext 👨‍👩‍👧 [bold]x[/]"
