"""A new server instance on reconnect is a clean slate for what the client knew of its rooms.

Members, topics, roles, modes and bans came from the old server: the new one says its own when
the rooms are rejoined (or, for a room it refuses, nothing). The logs (scrollback) stay.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator

import pytest

from chat_client.conversations import room_key
from chat_client.session import Backoff
from chat_client.widgets.bars import TopicBar
from chat_client.widgets.member_list import MemberList
from protocol import (
    BanEntry,
    BanList,
    ClientMessage,
    Error,
    ErrorCode,
    Hello,
    History,
    Join,
    Joined,
    Members,
    Modes,
    Topic,
)
from protocol.base import WireMessage
from tests.client.apptest import chat, enter, make_app, started, text_of, wait_until
from tests.client.fakeserver import TS, FakeConn, FakeServer, welcome

SIZE = (120, 40)


def answer(conn: FakeConn, message: ClientMessage) -> list[WireMessage] | None:
    """The first connection: an old server where bob is, with topics, roles, modes and bans.
    Every later one: a new server (another instance) where alice is alone, with no topic, and
    which refuses to let her back into `dev`."""
    return _answer(conn, message, "two")


def same_instance(conn: FakeConn, message: ClientMessage) -> list[WireMessage] | None:
    """As `answer`, but the server that comes back is the same instance (its database kept)."""
    return _answer(conn, message, "one")


def _answer(conn: FakeConn, message: ClientMessage, later: str) -> list[WireMessage] | None:
    old = conn.number == 1
    match message:
        case Hello():
            conn.nick = message.nick
            return [welcome(message.nick, instance="one" if old else later)]
        case Join() if old:
            return [
                Joined(room=message.room, nick=conn.nick, ts=TS),
                History(room=message.room, messages=[]),
                Members(
                    room=message.room,
                    nicks=[conn.nick, "bob"],
                    roles={"bob": "owner", conn.nick: "op"},
                    muted=["bob"],
                ),
                Topic(room=message.room, topic=f"old topic of {message.room}", nick="bob"),
                Modes(
                    room=message.room,
                    key=False,
                    invite_only=False,
                    moderated=True,
                    topic_lock=True,
                    secret=False,
                    limit=0,
                ),
                BanList(room=message.room, bans=[BanEntry(mask="nick:carol", by="bob", ts=TS)]),
            ]
        case Join() if message.room == "dev":
            return [Error(code=ErrorCode.INVITE_ONLY, message="dev is invite-only: ask an op")]
    return None


@pytest.fixture
async def fake() -> AsyncIterator[FakeServer]:
    server = await FakeServer(answer).start()
    yield server
    await server.stop()


async def test_a_restarted_server_is_a_clean_slate_for_rooms(fake: FakeServer) -> None:
    app = make_app(fake.port)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        screen = chat(app)
        screen.session.backoff = Backoff(base=0.05, cap=0.1, rng=random.Random(1))
        await enter(pilot, "/join dev")
        await started(pilot, "dev")
        lobby = screen.conversations.get(room_key("lobby"))
        dev = screen.conversations.get(room_key("dev"))
        assert lobby is not None and dev is not None
        await wait_until(pilot, lambda: lobby.topic == "old topic of lobby" and dev.roles.bans)
        assert lobby.members == ["alice", "bob"] and lobby.roles.role("alice") == "op"
        assert dev.roles.modes is not None and dev.roles.modes.moderated

        fake.conns[0].close()  # the server goes away and comes back as a new instance
        await wait_until(pilot, lambda: "reconnected (the server restarted)" in text_of(app, "dev"))
        await fake.wait_for(lambda: len(fake.received(Join)) == 4)  # both rooms, rejoined
        await wait_until(pilot, lambda: "invite-only" in text_of(app, "dev"))
        for conv in (lobby, dev):
            assert conv.topic == "" and conv.topic_by == "", conv.name
            assert conv.roles.role("alice") == "member" and not conv.roles.is_muted("bob")
            assert conv.roles.modes is None and conv.roles.bans == []
        assert lobby.members == ["alice"]  # from the new server's members frame
        assert dev.members == []  # the new server said nothing of dev's members
        screen.switch_to(dev.key)
        await pilot.pause()
        assert screen.query_one(MemberList).nicks == []
        shown = str(screen.query_one(TopicBar).render())
        assert "old topic" not in shown and "no topic" in shown and "+m" not in shown
        # The scrollback stays.
        assert "old topic of dev" in text_of(app, "dev")
        assert "old topic of lobby" in text_of(app, "lobby")


async def test_a_reconnect_to_the_same_instance_forgets_the_topic_until_rejoined() -> None:
    """The topic may have been cleared while we were away; the rejoin says it if it is set.
    What the members frame replaces (members, roles) is left to it."""
    fake = await FakeServer(same_instance).start()
    app = make_app(fake.port)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await started(pilot)
            screen = chat(app)
            screen.session.backoff = Backoff(base=0.05, cap=0.1, rng=random.Random(1))
            lobby = screen.conversations.get(room_key("lobby"))
            assert lobby is not None
            await wait_until(pilot, lambda: lobby.topic == "old topic of lobby")
            fake.conns[0].close()
            await wait_until(pilot, lambda: "reconnected" in text_of(app, "lobby"))
            await fake.wait_for(lambda: len(fake.received(Join)) == 2)
            await wait_until(pilot, lambda: lobby.members == ["alice"])
            assert "restarted" not in text_of(app, "lobby")
            assert lobby.topic == "" and "no topic" in str(screen.query_one(TopicBar).render())
    finally:
        await fake.stop()
