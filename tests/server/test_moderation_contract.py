"""Moderation over real sockets, on every backend: roles and refusals, a kick racing a
member's `say`, bans by network from other loopback addresses, mutes and modes; and, on a
server of its own, admins, owners and bans across a restart.

The rules one by one are tested in process (tests/core/test_moderation.py).
"""

from __future__ import annotations

import asyncio
from typing import Any

from tests.conftest import ConnectFactory
from tests.helpers import ServerProcess, WireClient

PASSWORD = "correct horse"


async def error_of(client: WireClient, code: str) -> dict[str, Any]:
    error = await client.expect("error")
    assert error["code"] == code, error
    return error


async def guest(server: ServerProcess, nick: str, address: str) -> WireClient:
    client = await WireClient.connect(server, local_addr=address)
    await client.hello(nick)
    return client


async def test_moderation_crosses_the_wire(
    connect: ConnectFactory, server: ServerProcess, unique
) -> None:
    room = unique("mod")
    ann = await connect("ann", room)  # the creator, a guest: op while there
    bob = await guest(server, unique("bob"), "127.0.0.2")
    await bob.join(room)
    watcher = await connect("watcher", room)
    await ann.sync()

    await bob.send("kick", room=room, nick=ann.nick)
    await error_of(bob, "not_op")

    # A kick racing the kicked member's say: nothing of bob's arrives after `kicked`.
    await asyncio.gather(
        ann.send("kick", room=room, nick=bob.nick, reason="race"),
        bob.send("say", room=room, text="racing the kick", ref="late"),
    )
    seen = []
    while True:
        message = await watcher.recv()
        seen.append(message)
        if message["type"] == "kicked":
            break
    after = await watcher.sync()
    assert not any(m["type"] == "message" and m["nick"] == bob.nick for m in after)
    await bob.sync()  # its say: delivered before the kick, or refused (`not_in_room`)

    # A ban by network refuses every address in it, and not the others.
    await ann.send("ban", room=room, mask="ip:127.0.0.2/31", reason="spam")
    listed = await ann.expect("ban_list", room=room)
    assert [b["mask"] for b in listed["bans"]] == ["ip:127.0.0.2/31"]
    await bob.send("join", room=room)
    assert "spam" in (await error_of(bob, "banned"))["message"]
    carol = await guest(server, unique("carol"), "127.0.0.5")
    await carol.join(room)

    await ann.send("mute", room=room, nick=carol.nick, duration=600)
    changed = await carol.expect("role_changed", nick=carol.nick)
    assert changed["muted"] is True
    await carol.send("say", room=room, text="hello?")
    await error_of(carol, "muted")
    await ann.send("who", room=room)
    members = await ann.expect("members", room=room)
    assert members["roles"] == {ann.nick: "op"} and members["muted"] == [carol.nick]

    await ann.send("mode", room=room, key="door", invite_only=False, limit=10)
    changed = await watcher.expect("mode_changed", room=room)
    assert changed["key"] is True and "door" not in str(changed)
    dave = await guest(server, unique("dave"), "127.0.0.6")
    await dave.send("join", room=room)
    await error_of(dave, "bad_key")
    await dave.send("join", room=room, key="door")
    await dave.expect("joined", nick=dave.nick)
    modes = await dave.expect("modes", room=room)
    assert (modes["key"], modes["limit"]) == (True, 10)

    await ann.send("modlog", room=room, limit=3)
    entries = (await ann.expect("mod_log", room=room))["entries"]
    assert [e["action"] for e in entries] == ["mode", "mute", "ban"]
    for client in (bob, carol, dave):
        client.writer.close()


async def test_admins_owners_and_bans_survive_a_restart(backend: str, unique) -> None:
    server = ServerProcess(backend, "--admin", "sysop").start()
    clients: list[WireClient] = []

    async def login(nick: str, register: bool = False, address: str = "127.0.0.1") -> WireClient:
        client = await WireClient.connect(server, local_addr=address)
        clients.append(client)
        if register:
            await client.hello(nick)
            await client.send("register", password=PASSWORD)
            await client.expect("registered")
        else:
            await client.send("hello", nick=nick, protocol=1, auth={"password": PASSWORD})
            client.nick = (await client.expect("welcome"))["nick"]
        return client

    try:
        root = await login("sysop", register=True)
        alice = await login("alice", register=True)
        await alice.join("team")
        await alice.send("ban", room="team", mask="nick:eve", reason="troll")
        await alice.expect("ban_list")
        await root.send("server_ban", mask="ip:127.0.0.9", reason="abuse")
        await root.expect("ban_list")
        server.restart()

        root = await login("sysop")
        alice = await login("alice")
        await alice.join("team")
        bob = await WireClient.connect(server)
        clients.append(bob)
        await bob.hello(unique("bob"))
        await bob.join("team")
        await bob.send("who", room="team")
        assert (await bob.expect("members"))["roles"] == {"alice": "owner"}
        await alice.send("bans", room="team")
        (ban,) = (await alice.expect("ban_list"))["bans"]
        assert (ban["mask"], ban["reason"]) == ("nick:eve", "troll")

        banned = await WireClient.connect(server, local_addr="127.0.0.9")
        clients.append(banned)
        await banned.send("hello", nick=unique("x"), protocol=1)
        assert (await error_of(banned, "banned"))["fatal"] is True

        await root.send("wall", text="restarted fine")
        notice = await bob.expect("notice")
        assert (notice["text"], notice["from"]) == ("restarted fine", "sysop")
        await root.send("kill", nick=bob.nick, reason="testing")
        assert (await error_of(bob, "killed"))["fatal"] is True
        assert await bob.closed()
        left = await alice.expect("left", nick=bob.nick)
        assert left["reason"] == "killed"
        await alice.send("server_bans")
        await error_of(alice, "not_admin")
    finally:
        for client in clients:
            client.writer.close()
        server.stop()


async def test_every_refusal_crosses_the_wire(
    connect: ConnectFactory, server: ServerProcess, unique
) -> None:
    room = unique("rules")
    owner_nick = unique("owner")
    owner = await WireClient.connect(server)
    await owner.hello(owner_nick)
    await owner.send("register", password=PASSWORD)
    await owner.expect("registered")
    await owner.join(room)  # created by an account: a registered room
    guest = await connect("guest", room)
    await owner.sync()

    await owner.send("op", room=room, nick=guest.nick)
    await error_of(owner, "not_logged_in")  # op in a registered room goes to an account
    await guest.send("op", room=room, nick=guest.nick)
    await error_of(guest, "not_op")
    await owner.send("ban", room=room, mask="host:nowhere")
    await error_of(owner, "invalid_mask")

    await owner.send("mode", room=room, topic_lock=True, invite_only=True, limit=2)
    await guest.expect("mode_changed", room=room)
    await guest.send("topic", room=room, topic="mine")
    await error_of(guest, "topic_locked")
    outsider = await connect("outsider")
    await outsider.send("join", room=room)
    await error_of(outsider, "invite_only")
    await owner.send("invite", room=room, nick=outsider.nick)
    invited = await outsider.expect("invited", room=room)
    assert invited["by"] == owner_nick
    await owner.send("mode", room=room, invite_only=False)
    await guest.expect("mode_changed", room=room)
    await outsider.send("join", room=room)
    await outsider.expect("joined", nick=outsider.nick)  # the invitation passes the cap
    late = await connect("late")
    await late.send("join", room=room)
    await error_of(late, "room_full")
    owner.writer.close()
