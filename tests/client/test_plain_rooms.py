"""Line mode's current room: `/topic` shows the topic, and after `/leave` lines go nowhere."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from chat_client.plain import PlainClient, run_plain
from protocol import (
    ChatMessage,
    Join,
    Joined,
    Kicked,
    Left,
    Say,
    ServerMessage,
    SetTopic,
    Topic,
)
from tests.client.apptest import peer, recv_until
from tests.client.fakeserver import TS, welcome
from tests.client.inprocess import InProcessServer


def _in(client: PlainClient, *rooms: str) -> PlainClient:
    client.nick = "alice"
    for room in rooms:
        client.track(Joined(room=room, nick="alice", ts=TS))
    return client


def test_topic_without_text_shows_the_topic_and_sends_nothing() -> None:
    client = _in(PlainClient("lobby"), "lobby")
    assert client.parse("/topic") == "[lobby] no topic is set; /topic TEXT sets one"
    client.track(Topic(room="lobby", topic="plans \x1b[2J", nick="bob"))
    assert client.parse("/topic") == "[lobby] topic by bob: plans \\x1b[2J"
    assert client.parse("/topic   ") == "[lobby] topic by bob: plans \\x1b[2J"
    assert client.parse("/topic new plans") == SetTopic(room="lobby", topic="new plans")
    client.track(Topic(room="lobby", topic="", nick="bob"))
    assert client.parse("/topic") == "[lobby] no topic is set; /topic TEXT sets one"
    assert str(PlainClient(None).parse("/topic")).startswith("! not sent: you are in no room")


def test_after_leaving_the_current_room_lines_go_nowhere() -> None:
    client = _in(PlainClient("lobby"), "dev", "lobby")
    assert client.room == "lobby"
    client.track(Left(room="lobby", nick="alice", ts=TS))
    assert client.room is None
    assert client.notes == ["* you are in no room now: lines are not sent until /join ROOM"]
    expected = "! not sent: you are in no room now; /join ROOM first (you are in: dev)"
    for line in ("hello", "/me waves", "/topic x", "/history", "/search x"):
        assert client.parse(line) == expected, line
    # Joining a room we are in switches to it: nothing to send.
    assert client.parse("/join #dev") == "* talking in [dev] now"
    assert client.parse("hello") == Say(room="dev", text="hello")
    # Leaving another room, or someone else leaving, changes nothing.
    client.notes.clear()
    client.track(Left(room="lobby", nick="bob", ts=TS))
    assert client.room == "dev" and client.notes == []
    client.track(Kicked(room="dev", nick="alice", by="carol", ts=TS))
    assert client.room is None


def test_a_new_instance_forgets_topics_and_ids() -> None:
    client = _in(PlainClient("lobby"), "lobby")
    client.track(welcome("alice", instance="one"))
    client.track(Topic(room="lobby", topic="old", nick="bob"))
    client.track(ChatMessage(id=7, room="lobby", nick="bob", text="x", action=False, ts=TS))
    client.track(welcome("alice", instance="one"))  # the same server again
    assert client.last_id("lobby") == 7 and client.notes == []
    assert client.parse("/topic") == "[lobby] topic by bob: old"
    client.track(welcome("alice", instance="two"))
    assert client.last_id("lobby") is None
    assert client.parse("/topic") == "[lobby] no topic is set; /topic TEXT sets one"
    assert client.notes == ["* the server restarted: its rooms are rejoined from scratch"]
    assert client.rejoins() == [Join(room="lobby", since=None)]


def test_rejoins_forget_the_topic_until_the_server_says_it() -> None:
    client = _in(PlainClient("lobby"), "lobby")
    client.track(Topic(room="lobby", topic="old", nick="bob"))
    client.track(ChatMessage(id=7, room="lobby", nick="bob", text="x", action=False, ts=TS))
    assert client.rejoins() == [Join(room="lobby", since=7)]
    assert client.parse("/topic") == "[lobby] no topic is set; /topic TEXT sets one"


async def _until(out: list[str], test: Callable[[str], bool], timeout: float = 10.0) -> str:
    async with asyncio.timeout(timeout):
        while True:
            for line in out:
                if test(line):
                    return line
            await asyncio.sleep(0.02)


async def test_plain_topic_and_leave_against_the_server(server: InProcessServer) -> None:
    bob = await peer(server.port, "bob")
    await recv_until(bob, lambda m: isinstance(m, Joined) and m.nick == "bob")
    out: list[str] = []
    lines = asyncio.StreamReader()
    run = asyncio.ensure_future(
        run_plain("127.0.0.1", server.port, "alice", "lobby", out=out.append, source=lines)
    )
    topic_line = "[lobby] topic by alice: plans"
    try:
        await _until(out, lambda line: "-> alice joined" in line)
        lines.feed_data(b"/topic plans\n")
        await _until(out, lambda line: line == topic_line)  # the server's topic frame
        lines.feed_data(b"/topic\n")
        await _until(out, lambda line: out.count(topic_line) == 2)  # printed, not sent
        lines.feed_data(b"/leave\n")
        await _until(out, lambda line: line.startswith("* you are in no room now"))
        lines.feed_data(b"lost line\n/join lobby\n")
        await _until(out, lambda line: line.startswith("! not sent: you are in no room now"))
        await _until(out, lambda line: sum("-> alice joined" in o for o in out) == 2)
        lines.feed_data(b"back\n")
        seen: list[ServerMessage] = []
        await recv_until(bob, lambda m: seen.append(m) or isinstance(m, ChatMessage))
        said = [m for m in seen if isinstance(m, ChatMessage)]
        assert [m.text for m in said] == ["back"]  # never "lost line"
        assert [m.topic for m in seen if isinstance(m, Topic)] == ["plans"]  # never cleared
        lines.feed_eof()
        assert await asyncio.wait_for(run, 10) == 0
    finally:
        run.cancel()
        await bob.close()
