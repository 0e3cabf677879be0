"""The store and accounts over real sockets, on every backend: each new request crosses the
wire, what the database holds outlives a graceful restart and a kill -9, and a database that
stops taking writes leaves the chat running and says so to every connection.

The rules themselves are tested in process (tests/core/test_accounts.py, test_history.py,
tests/store/). Registrations are few here: each argon2id hash costs the server ~0.1 s.
"""

from __future__ import annotations

import json
import os
import pathlib
import shutil
import signal
import subprocess
from collections.abc import Callable
from typing import Any

import pytest

from protocol import frame
from tests.conftest import ConnectFactory
from tests.helpers import WAIT, ServerProcess, WireClient

PASSWORD = "correct horse"


async def login(server: ServerProcess, nick: str, password: str) -> tuple[WireClient, dict]:
    client = await WireClient.connect(server)
    await client.send("hello", nick=nick, protocol=1, auth={"password": password})
    answer = await client.next_of("welcome", "error")
    if answer["type"] == "welcome":
        client.nick = answer["nick"]
    return client, answer


async def say_all(client: WireClient, room: str, texts: list[str]) -> list[int]:
    """Say every text at once (pipelined), then wait for every echo; their ids in order."""
    await client.send_raw(b"".join(_say_frame(room, text, f"r{i}") for i, text in enumerate(texts)))
    ids = []
    for i in range(len(texts)):
        echo = await client.expect("message", ref=f"r{i}")
        ids.append(echo["id"])
    return ids


def _say_frame(room: str, text: str, ref: str) -> bytes:
    return frame(json.dumps({"type": "say", "room": room, "text": text, "ref": ref}).encode())


async def all_history(client: WireClient, room: str, limit: int = 200) -> list[dict[str, Any]]:
    """Page back with `history` to the room's first message; every message, oldest first."""
    messages: list[dict[str, Any]] = []
    before = None
    for _ in range(1000):
        request: dict[str, Any] = {"room": room, "limit": limit}
        if before is not None:
            request["before"] = before
        await client.send("history", **request)
        answer = await client.expect("history", room=room, before=before)
        messages[:0] = answer["messages"]
        if answer.get("complete"):
            return messages
        assert answer["messages"], answer
        before = answer["messages"][0]["id"]
    raise AssertionError("history never reached the first message")


async def test_history_search_and_accounts_cross_the_wire(
    connect: ConnectFactory, server: ServerProcess, unique
) -> None:
    room = unique("store")
    alice = await connect("alice", room)
    ids = await say_all(alice, room, [f"page {i} lorem" for i in range(7)] + ["ipsum lorem"])
    await alice.send("history", room=room, limit=3)
    first = await alice.next_of("history")
    assert [m["id"] for m in first["messages"]] == ids[-3:]
    assert "before" not in first and not first.get("complete")
    await alice.send("history", room=room, before=ids[1], limit=3)
    last = await alice.next_of("history")
    assert last == {**last, "before": ids[1], "complete": True}
    assert [m["id"] for m in last["messages"]] == ids[:1]
    assert [m["id"] for m in await all_history(alice, room, 3)] == ids
    await alice.send("search", room=room, query="LOREM ipsum")
    found = await alice.next_of("search_results")
    assert found["query"] == "LOREM ipsum" and [m["id"] for m in found["messages"]] == ids[-1:]

    # register, then another connection logs in and takes the nick over.
    await alice.send("register", password=PASSWORD)
    assert await alice.next_of("registered") == {"type": "registered", "account": alice.nick}
    guest = await connect(None)
    await guest.send("hello", nick=alice.nick, protocol=1)
    assert (await guest.next_of("error"))["code"] == "nick_registered"
    device, welcome = await login(server, alice.nick, PASSWORD)
    try:
        assert welcome["type"] == "welcome" and welcome["account"] == alice.nick
        replaced = await alice.next_of("error")
        assert replaced["code"] == "replaced" and replaced["fatal"] is True
        assert await alice.closed()
        await device.send("passwd", old=PASSWORD, new="a new password")
        assert await device.next_of("passwd_changed") == {"type": "passwd_changed"}
        # A DM to the account while it is offline waits for its next login (next test);
        # here, while it is online, it arrives live.
        carol = await connect("carol")
        await carol.send("dm", to=alice.nick, text="live", ref="d")
        assert "offline" not in await carol.next_of("dm")
        assert (await device.next_of("dm"))["text"] == "live"
        await carol.send("passwd", old="whatever", new="a new password")
        assert (await carol.next_of("error"))["code"] == "not_logged_in"
        await device.send("unregister", password="a new password")
        assert await device.next_of("unregistered") == {
            "type": "unregistered",
            "account": alice.nick,
        }
        await guest.hello(alice.nick + "x")  # the guest is still connected and may go on
    finally:
        await device.close()


async def test_what_is_stored_outlives_kill_9_and_a_graceful_restart(backend: str) -> None:
    server = ServerProcess(backend).start()
    clients: list[WireClient] = []
    try:
        alice = await WireClient.connect(server)
        clients.append(alice)
        instance = (await alice.hello("alice"))["instance"]
        await alice.join("kept")
        await alice.send("topic", room="kept", topic="remembered")
        await alice.send("register", password=PASSWORD)
        await alice.next_of("topic")
        await alice.next_of("registered")
        await alice.send("quit")
        assert await alice.closed()
        bob = await WireClient.connect(server)
        clients.append(bob)
        await bob.hello("bob")
        await bob.join("kept")
        assert (await bob.next_of("topic"))["topic"] == "remembered"
        await bob.send("dm", to="alice", text="stored for later", ref="dm")
        stored = await bob.next_of("dm")
        assert stored["offline"] is True
        sent = await say_all(bob, "kept", [f"durable {i}" for i in range(150)])
        assert sent == sorted(sent) and stored["id"] < sent[0]

        assert server.proc is not None
        server.proc.send_signal(signal.SIGKILL)
        assert server.wait() == -signal.SIGKILL
        server.start()

        carol = await WireClient.connect(server)
        clients.append(carol)
        assert (await carol.hello("carol"))["instance"] == instance
        await carol.send("rooms")
        listing = (await carol.next_of("room_list"))["rooms"]
        assert {"name": "kept", "members": 0, "topic": "remembered"} in listing
        replay = await carol.join("kept")
        assert [m["id"] for m in replay["messages"]] == sent[-len(replay["messages"]) :]
        assert (await carol.next_of("topic"))["topic"] == "remembered"
        history = await all_history(carol, "kept", 64)
        assert [m["id"] for m in history] == sent
        assert [m["text"] for m in history] == [f"durable {i}" for i in range(150)]
        after_kill = await say_all(carol, "kept", ["after the kill"])
        assert after_kill[0] > sent[-1]

        back, welcome = await login(server, "alice", PASSWORD)
        clients.append(back)
        assert welcome["type"] == "welcome" and welcome["account"] == "alice"
        delivered = await back.next_of("dm")
        assert delivered == {k: v for k, v in stored.items() if k != "ref"}

        for client in clients:
            await client.close()
        clients.clear()
        assert server.restart().proc is not None  # graceful this time
        dave = await WireClient.connect(server)
        clients.append(dave)
        assert (await dave.hello("dave"))["instance"] == instance
        await dave.join("kept")
        history = await all_history(dave, "kept")
        assert [m["id"] for m in history] == [*sent, *after_kill]
        again = await say_all(dave, "kept", ["after a graceful restart"])
        assert again[0] == after_kill[0] + 1  # a graceful stop leaves no gap
    finally:
        for client in clients:
            await client.close()
        server.kill()


async def fill_until_told(client: WireClient, room: str, most: int = 400) -> list[dict]:
    """Say messages of 8000 characters, one at a time, until a `notice` comes; everything
    received meanwhile (every echo is waited for)."""
    received: list[dict] = []
    for i in range(most):
        await client.send("say", room=room, text=f"w{i} " + "abcdefgh " * 888, ref=f"f{i}")
        while True:
            message = await client.recv()
            received.append(message)
            if message["type"] == "message" and message.get("ref") == f"f{i}":
                break
        if any(m["type"] == "notice" for m in received):
            return received
    raise AssertionError(f"no notice after {most} messages")


async def _until_told(client: WireClient, messages: int = 0) -> list[dict]:
    """Read until the store's `notice` and `messages` chat messages have come; the messages."""
    got: list[dict] = []
    told = False
    while not told or len(got) < messages:
        message = await client.recv()
        if message["type"] == "notice" and not told:
            assert message["from"] == "server"
            assert message["text"].startswith("history is not being kept")
            told = True
        elif message["type"] == "message":
            got.append(message)
    return got


async def test_a_full_database_keeps_the_chat_going_and_says_so(backend: str) -> None:
    server = ServerProcess(backend, "--db-max-mb", "1").start()
    clients: list[WireClient] = []
    try:
        for nick in ("alice", "bob", "carol"):
            client = await WireClient.connect(server)
            clients.append(client)
            await client.hello(nick)
        alice, bob, carol = clients
        await alice.join("full")
        await bob.join("full")
        await alice.expect("joined", nick="bob")
        received = await fill_until_told(alice, "full")
        (notice,) = [m for m in received if m["type"] == "notice"]
        assert notice["from"] == "server" and notice["ts"]
        assert notice["text"].startswith("history is not being kept")
        sent = [m["id"] for m in received if m["type"] == "message"]
        # In the room or not, every connection is told; bob got every message all the same.
        assert await _until_told(carol) == []
        assert [m["id"] for m in await _until_told(bob, len(sent))] == sent
        # The chat goes on.
        await alice.send("say", room="full", text="still chatting " + "x" * 7985, ref="s")
        assert (await alice.expect("message", ref="s"))["text"].startswith("still chatting")
        await bob.expect("message", nick="alice")
        await bob.send("dm", to="carol", text="and DMs")
        assert (await carol.expect("dm"))["text"] == "and DMs"
        await alice.send("history", room="full", limit=5)
        assert len((await alice.expect("history", room="full", before=None))["messages"]) == 5
        assert await server.logged("history is not being kept", WAIT)
    finally:
        for client in clients:
            await client.close()
        server.kill()


def make_read_only(path: str) -> Callable[[], None]:
    """Make the database file unwritable, even for root; returns the undo."""
    if os.geteuid() != 0:
        pathlib.Path(path).chmod(0o444)
        return lambda: pathlib.Path(path).chmod(0o644)
    if shutil.which("chattr") is None:
        pytest.skip("root without chattr: no way to make a file read-only")
    if subprocess.run(["chattr", "+i", path], capture_output=True).returncode:
        pytest.skip("chattr +i is not allowed here")
    return lambda: subprocess.run(["chattr", "-i", path], check=True)


async def test_a_read_only_database_is_served_and_every_client_is_told(backend: str) -> None:
    server = ServerProcess(backend).start()
    undo = None
    clients: list[WireClient] = []
    try:
        alice = await WireClient.connect(server)
        clients.append(alice)
        await alice.hello("alice")
        await alice.join("old")
        sent = await say_all(alice, "old", ["written while writable", "and this"])
        await alice.close()
        clients.clear()
        assert server.stop() == 0
        undo = make_read_only(server.db)
        server.start()
        bob = await WireClient.connect(server)
        clients.append(bob)
        await bob.hello("bob")
        # Nobody was connected when the store failed: a client is told when it arrives.
        seen = [*bob.inbox, *(await bob.sync())]
        bob.inbox.clear()
        told = [m for m in seen if m["type"] == "notice"]
        assert told and told[0]["text"].startswith("history is not being kept"), seen
        assert told[0]["from"] == "server"
        replay = await bob.join("old")
        assert [m["id"] for m in replay["messages"]] == sent
        new = await say_all(bob, "old", ["not kept"])
        assert new[0] > sent[-1]
        assert await server.logged("history is not being kept", WAIT)
    finally:
        for client in clients:
            await client.close()
        server.kill()
        if undo is not None:
            undo()
