"""Presence in both clients: /away, /back and /whois (and what their answers look like, inert),
away marks in the member list, /me in a DM window, /msg to no one, /close, and DMs kept for
/resend when their nick is not online."""

from __future__ import annotations

import asyncio

from chat_client.conversations import dm_key, room_key
from chat_client.plain import _describe, run_plain
from chat_client.plain_client import PlainClient
from chat_client.session import Backoff, ConnState, Session
from chat_client.widgets.member_list import MemberList, member_entry
from protocol import (
    Away,
    AwayChanged,
    DirectMessage,
    Join,
    Left,
    Members,
    SendDm,
    Whois,
    WhoisReply,
)
from tests.client.apptest import (
    chat,
    enter,
    make_app,
    peer,
    recv_until,
    started,
    text_of,
    wait_until,
)
from tests.client.conftest import HOST
from tests.client.inprocess import InProcessServer
from tests.client.test_session import Recorder

SIZE = (120, 40)
TS = "2026-01-01T12:00:00.000Z"
HOSTILE = "[b]x[/b]\x1b]0;owned\x07"  # markup and an escape: printed inert
MARKUP = "[b]x[/b] [@click=app.quit]q[/]"  # what the server lets through: shown literally

# ---------------------------------------------------------------------- line mode, no server


def test_plain_parses_away_back_and_whois() -> None:
    client = PlainClient("lobby")
    assert client.parse("/away gone fishing") == Away(message="gone fishing")
    assert client.parse("/away") == Away()
    assert client.parse("/back") == Away()
    assert client.parse("/whois bob") == Whois(nick="bob")
    assert client.parse("/whois") == "! not sent: usage: /whois NICK"
    refused = client.parse("/away " + "x" * 301)
    assert isinstance(refused, str) and "at most 300" in refused
    assert "/whois NICK" in str(client.parse("/help"))


def test_plain_prints_presence_frames_inert() -> None:
    away = _describe(AwayChanged(nick=HOSTILE, message=HOSTILE), "me")
    assert "\x1b" not in away and "\x07" not in away and "is away: " in away
    assert _describe(AwayChanged(nick="me", message="lunch"), "me") == "* you are away: lunch"
    assert _describe(AwayChanged(nick="bob"), "me") == "* bob is back"
    reply = WhoisReply(
        nick="bob",
        account="bob",
        away=HOSTILE,
        rooms=["lobby", "dev"],
        idle=200,
        connected=TS,
    )
    text = _describe(reply, "me")
    assert text.startswith("whois bob (logged in as bob)")
    assert "in #lobby, #dev" in text and "idle 3m 20s" in text and "\x1b" not in text
    members = Members(room="lobby", nicks=["bob", "carol"], total=2, away=["carol"])
    assert _describe(members, "me").endswith("; away: carol")


def test_plain_remembers_its_away_message() -> None:
    client = PlainClient("lobby")
    client.nick = "me"
    client.track(AwayChanged(nick="me", message="lunch"))
    assert client.away == "lunch"
    client.track(AwayChanged(nick="someone"))
    assert client.away == "lunch"
    client.track(AwayChanged(nick="me"))
    assert client.away is None


def test_member_entry_marks_the_away() -> None:
    from chat_client.roles import RoomRoles

    assert member_entry("bob", "me", RoomRoles(), away=True).plain.endswith("bob (away)")
    assert member_entry("bob", "me", RoomRoles()).plain.strip() == "bob"


# ---------------------------------------------------------------------- line mode, a server


async def test_plain_away_and_whois_over_a_server(server: InProcessServer) -> None:
    bob = await peer(server.port, "bob")
    lines: list[str] = []
    source = asyncio.StreamReader()
    task = asyncio.create_task(
        run_plain(HOST, server.port, "alice", "lobby", out=lines.append, source=source)
    )
    text = lambda: "\n".join(lines)  # noqa: E731
    async with asyncio.timeout(10):
        while "members:" not in text():
            await asyncio.sleep(0.02)
        source.feed_data(b"/away lunch\n/whois bob\n")
        changed = await recv_until(bob, lambda m: isinstance(m, AwayChanged))
        assert changed == AwayChanged(nick="alice", message="lunch")
        while "whois bob" not in text() or "you are away: lunch" not in text():
            await asyncio.sleep(0.02)
        source.feed_data(b"/back\n")
        assert await recv_until(bob, lambda m: isinstance(m, AwayChanged)) == AwayChanged(
            nick="alice"
        )
        source.feed_eof()
        assert await task == 0
    assert "in #lobby" in text()
    await bob.close()


# ---------------------------------------------------------------------- session


async def test_the_session_says_its_away_message_again_after_a_reconnect(
    server: InProcessServer,
) -> None:
    rec = Recorder()
    session = Session(HOST, server.port, "alice", rooms=["lobby"], backoff=Backoff(0.05, cap=0.2))
    task = asyncio.create_task(session.run(rec))
    await rec.wait_for(lambda: session.connected)
    assert session.submit(Away(message="lunch"))
    await rec.wait_for(lambda: any(isinstance(e, AwayChanged) for e in rec.events))
    server.restart()
    await rec.wait_for(lambda: session.state is not ConnState.CONNECTED)
    await rec.wait_for(lambda: session.connected)
    bob = await peer(server.port, "bob")
    await bob.send(Whois(nick="alice"))
    reply = await recv_until(bob, lambda m: isinstance(m, WhoisReply))
    assert isinstance(reply, WhoisReply) and reply.away == "lunch"
    assert session.submit(Away()) and session.away is None
    session.stop()
    async with asyncio.timeout(5):
        await task
    await bob.close()


# ---------------------------------------------------------------------- the TUI


async def test_tui_away_whois_and_member_marks(server: InProcessServer) -> None:
    app = make_app(server.port)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        screen = chat(app)
        bob = await peer(server.port, "bob")
        await wait_until(pilot, lambda: "bob" in screen.conversations.current.members)
        await bob.send(Away(message=MARKUP))
        await wait_until(pilot, lambda: f"bob is away: {MARKUP}" in text_of(app, "lobby"))
        members = screen.query_one(MemberList)
        await wait_until(pilot, lambda: "(away)" in str(members.get_option_at_index(1).prompt))
        await enter(pilot, "/whois bob")
        await wait_until(pilot, lambda: "whois bob" in text_of(app, "lobby"))
        assert f"away: {MARKUP}" in text_of(app, "lobby") and "in #lobby" in text_of(app, "lobby")
        await bob.send(Away())
        await wait_until(pilot, lambda: "bob is back" in text_of(app, "lobby"))
        assert "(away)" not in str(members.get_option_at_index(1).prompt)
        await enter(pilot, "/away making tea")
        changed = await recv_until(bob, lambda m: isinstance(m, AwayChanged) and m.nick == "alice")
        assert changed == AwayChanged(nick="alice", message="making tea")
        await wait_until(pilot, lambda: "you are away: making tea" in text_of(app, "lobby"))
        await enter(pilot, "/back")
        back = await recv_until(bob, lambda m: isinstance(m, AwayChanged) and m.nick == "alice")
        assert back == AwayChanged(nick="alice")
        await bob.close()


async def test_tui_me_in_a_dm_window_is_an_action_dm(server: InProcessServer) -> None:
    app = make_app(server.port)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        bob = await peer(server.port, "bob")
        await enter(pilot, "/msg bob")
        await enter(pilot, "/me waves")
        dm = await recv_until(bob, lambda m: isinstance(m, DirectMessage))
        assert isinstance(dm, DirectMessage) and dm.action is True and dm.text == "waves"
        await wait_until(pilot, lambda: "* alice waves" in text_of(app, "@bob"))
        await bob.send(SendDm(to="alice", text="nods", action=True))
        await wait_until(pilot, lambda: "* bob nods" in text_of(app, "@bob"))
        await bob.close()


async def test_tui_msg_to_no_one_marks_the_window_and_close_closes_windows(
    server: InProcessServer,
) -> None:
    app = make_app(server.port)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        screen = chat(app)
        await enter(pilot, "/msg nobody hello?")
        await wait_until(pilot, lambda: "reaches no one" in text_of(app, "@nobody"))
        assert "nobody" in screen.events.presence.unreachable
        await enter(pilot, "/close")
        assert screen.conversations.get(dm_key("nobody")) is None
        # A room window: left first, then closed.
        bob = await peer(server.port, "bob", "dev")
        await enter(pilot, "/join dev")
        await started(pilot, "dev")
        await enter(pilot, "/close")
        left = await recv_until(bob, lambda m: isinstance(m, Left))
        assert isinstance(left, Left) and left.nick == "alice"
        await wait_until(pilot, lambda: screen.conversations.get(room_key("dev")) is None)
        await enter(pilot, "/close")  # the server window stays
        assert "the server window stays open" in text_of(app, "server")
        await bob.close()


async def test_tui_dm_typed_offline_to_someone_not_back_yet_is_kept_for_resend(
    server: InProcessServer,
) -> None:
    app = make_app(server.port)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        screen = chat(app)
        bob = await peer(server.port, "bob")
        await enter(pilot, "/msg bob hi")
        await recv_until(bob, lambda m: isinstance(m, DirectMessage))
        server.stop()
        await bob.close()
        await wait_until(pilot, lambda: not screen.session.connected)
        await enter(pilot, "are you there?")  # in @bob: queued until reconnected
        server.start()
        await wait_until(pilot, lambda: "(they may not have reconnected" in text_of(app, "@bob"))
        assert screen.conversations.get(dm_key("bob")) is not None  # kept open
        bob = await peer(server.port, "bob", room=None)
        await bob.send(Join(room="lobby"))
        await wait_until(pilot, lambda: "bob is online: /resend" in text_of(app, "@bob"))
        await enter(pilot, "/resend")
        dm = await recv_until(bob, lambda m: isinstance(m, DirectMessage))
        assert isinstance(dm, DirectMessage) and dm.text == "are you there?"
        await enter(pilot, "/resend")
        assert "no message to bob is waiting" in text_of(app, "@bob")
        await bob.close()
