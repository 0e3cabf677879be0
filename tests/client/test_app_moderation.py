"""The terminal client's side of moderation, against the scripted server.

Each command sends its request; the member list shows roles and mutes and follows
`role_changed` and `kicked`; being kicked leaves the room visible but left; moderation frames
and what others typed in them show as inert text; `killed` stops the reconnecting; `/join ROOM
KEY` and the connect form send a key. The real server's moderation is tested on its side.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from rich.text import Text

from chat_client.app import ChatApp
from chat_client.conversations import room_key
from chat_client.session import ConnState
from chat_client.widgets.bars import TopicBar
from chat_client.widgets.chat_input import ChatInput
from chat_client.widgets.chat_log import ChatLog
from chat_client.widgets.member_list import MUTED_STYLE, MemberList
from chat_client.widgets.room_list import room_entry
from protocol import (
    Ban,
    BanEntry,
    BanList,
    Bans,
    ClientMessage,
    Deop,
    Error,
    GetModLog,
    History,
    Invite,
    Invited,
    Join,
    Joined,
    Kick,
    Kicked,
    Kill,
    Members,
    Mode,
    ModeChanged,
    Modes,
    ModLog,
    ModLogEntry,
    Mute,
    Notice,
    Op,
    RoleChanged,
    Say,
    ServerBan,
    ServerBans,
    ServerUnban,
    Unban,
    Unmute,
    Wall,
)
from protocol.base import WireMessage
from tests.client.apptest import chat, enter, form_shown, lines, started, text_of, wait_until
from tests.client.fakeserver import TS, FakeConn, FakeServer

SIZE = (120, 40)
#: Markup that would style, link or act if it were ever parsed, and an escape sequence.
HOSTILE = "[b]x[/b] [link=https://evil.example]y[/link] [@click=app.quit]z[/] \x1b[2J"
SHOWN = "[b]x[/b] [link=https://evil.example]y[/link] [@click=app.quit]z[/] \\x1b[2J"


def members_of(conn: FakeConn, room: str) -> Members:
    return Members(
        room=room,
        nicks=[conn.nick, "bob", "carol", "dave"],
        roles={"bob": "owner", conn.nick: "op"},
        muted=["dave"],
    )


def answer(conn: FakeConn, message: ClientMessage) -> list[WireMessage] | None:
    """A room where bob owns, alice is an op and dave is muted; `mode` and `bans` answered."""
    match message:
        case Join():
            return [
                Joined(room=message.room, nick=conn.nick, ts=TS),
                RoleChanged(
                    room=message.room, nick=conn.nick, role="op", muted=False, by="server", ts=TS
                ),
                History(room=message.room, messages=[]),
                members_of(conn, message.room),
            ]
        case Mode() if not message.model_fields_set - {"room", "type"}:
            return [
                Modes(
                    room=message.room,
                    key=True,
                    invite_only=True,
                    moderated=False,
                    topic_lock=False,
                    secret=False,
                    limit=20,
                )
            ]
        case Bans():
            ban = BanEntry(mask="ip:10.0.0.0/8", by="alice", ts=TS)
            return [BanList(room=message.room, bans=[ban])]
    return None  # hello, ping, quit as usual; anything else unanswered unless a test sends it


@pytest.fixture
async def fake() -> AsyncIterator[FakeServer]:
    server = await FakeServer(answer).start()
    yield server
    await server.stop()


def make(fake: FakeServer, nick: str | None = "alice", room: str | None = "lobby") -> ChatApp:
    return ChatApp(fake.host, fake.port, nick, room, cursor_blink=False)


def member_labels(app: ChatApp) -> list[Text]:
    members = chat(app).query_one(MemberList)
    prompts = [members.get_option_at_index(i).prompt for i in range(members.option_count)]
    assert all(isinstance(p, Text) for p in prompts)
    return prompts  # type: ignore[return-value]


def header(app: ChatApp) -> str:
    return str(chat(app).query_one(TopicBar).render())


def sent(fake: FakeServer) -> list[ClientMessage]:
    """What the client asked beyond hello, join and ping."""
    return [m for m in fake.conns[0].received if m.type not in ("hello", "join", "ping")]


async def test_each_command_sends_its_request(fake: FakeServer) -> None:
    app = make(fake)
    typed = {
        "/op carol": Op(room="lobby", nick="carol"),
        "/deop carol": Deop(room="lobby", nick="carol"),
        "/kick carol flooding [b]the[/b] room": Kick(
            room="lobby", nick="carol", reason="flooding [b]the[/b] room"
        ),
        "/ban carol 2h spam": Ban(room="lobby", mask="nick:carol", duration=7200, reason="spam"),
        "/ban ip:10.0.0.0/8": Ban(room="lobby", mask="ip:10.0.0.0/8"),
        "/unban nick:carol": Unban(room="lobby", mask="nick:carol"),
        "/bans": Bans(room="lobby"),
        "/mute dave 10m": Mute(room="lobby", nick="dave", duration=600),
        "/unmute dave": Unmute(room="lobby", nick="dave"),
        "/mode +im-t limit 20": Mode(
            room="lobby", invite_only=True, moderated=True, topic_lock=False, limit=20
        ),
        "/mode": Mode(room="lobby"),
        "/key sesame": Mode(room="lobby", key="sesame"),
        "/key": Mode(room="lobby", key=""),
        "/invite erin": Invite(room="lobby", nick="erin"),
        "/modlog 10": GetModLog(room="lobby", limit=10),
        "/kill carol bye": Kill(nick="carol", reason="bye"),
        "/wall back in 5": Wall(text="back in 5"),
        "/sban account:eve": ServerBan(mask="account:eve"),
        "/serverunban account:eve": ServerUnban(mask="account:eve"),
        "/serverbans": ServerBans(),
    }
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        for line in typed:
            await enter(pilot, line)
        await fake.wait_for(lambda: len(sent(fake)) == len(typed), timeout=5)
        assert sent(fake) == list(typed.values())
        history = chat(app).query_one(ChatInput).history.entries
        assert "/key sesame" not in history and "/op carol" in history  # a key is not kept
        await enter(pilot, "/ban ip:300.1.1.1")
        await enter(pilot, "/mute dave sometime")
        await pilot.pause(0.05)
        log = lines(app, "lobby")
        assert "not sent: not an address or network: 300.1.1.1" in log[-2]
        assert "not sent: not a duration: sometime" in log[-1]
        await chat(app).session.quit()


async def test_room_commands_outside_a_room_say_so(fake: FakeServer) -> None:
    app = make(fake, room=None)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: chat(app).session.connected)
        await enter(pilot, "/kick bob")
        await pilot.pause(0.05)
        assert "switch to a room first" in lines(app, "server")[-1]
        assert sent(fake) == []


async def test_members_show_roles_and_follow_changes(fake: FakeServer) -> None:
    app = make(fake)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        members = chat(app).query_one(MemberList)
        await wait_until(pilot, lambda: len(members.nicks) == 4)
        assert members.nicks == ["bob", "alice", "carol", "dave"]  # owners, ops, the rest
        labels = member_labels(app)
        assert [label.plain for label in labels] == ["~bob", "@alice", " carol", " dave"]
        dave = labels[3]
        assert any(MUTED_STYLE in str(span.style) for span in dave.spans)
        assert "[op]" in header(app)
        conn = fake.conns[0]
        conn.send(RoleChanged(room="lobby", nick="carol", role="op", muted=True, by="bob", ts=TS))
        await wait_until(pilot, lambda: "bob muted carol" in text_of(app, "lobby"))
        assert "bob made carol an op" in text_of(app, "lobby")
        assert [label.plain for label in member_labels(app)][:3] == ["~bob", "@alice", "@carol"]
        conn.send(
            RoleChanged(room="lobby", nick="dave", role="member", muted=False, by="bob", ts=TS)
        )
        await wait_until(pilot, lambda: "bob unmuted dave" in text_of(app, "lobby"))
        assert not any(MUTED_STYLE in str(s.style) for s in member_labels(app)[3].spans)
        conn.send(Kicked(room="lobby", nick="carol", by="bob", reason=HOSTILE, ts=TS))
        await wait_until(pilot, lambda: "carol was kicked by bob" in text_of(app, "lobby"))
        assert f"carol was kicked by bob ({SHOWN})" in text_of(app, "lobby")
        assert members.nicks == ["bob", "alice", "dave"]
        conn.send(
            RoleChanged(room="lobby", nick="alice", role="member", muted=True, by="bob", ts=TS)
        )
        await wait_until(pilot, lambda: "bob muted you" in text_of(app, "lobby"))
        assert "bob took op from you" in text_of(app, "lobby")
        assert "[op]" not in header(app) and "[muted]" in header(app)
        await enter(pilot, "/who")  # no answer from this server: the members frame is ours
        chat(app).who_requested.add(room_key("lobby"))
        chat(app).handle(members_of(conn, "lobby"))
        await pilot.pause(0.05)
        assert lines(app, "lobby")[-1].endswith("4 in lobby: @alice, ~bob, carol, dave (muted)")


async def test_kicked_yourself_the_room_stays_left_and_rejoins(fake: FakeServer) -> None:
    app = make(fake)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        screen = chat(app)
        conv = screen.conversations.get(room_key("lobby"))
        assert conv is not None
        fake.conns[0].send(Kicked(room="lobby", nick="alice", by="bob", reason=HOSTILE, ts=TS))
        await wait_until(pilot, lambda: not conv.joined)
        log = text_of(app, "lobby")
        assert f"you were kicked from #lobby by bob ({SHOWN})" in log
        assert screen.conversations.active == conv.key  # still on screen, with its log
        assert room_entry(conv).plain == "#lobby (left)"
        assert "[not a member: /join to rejoin]" in header(app)
        assert screen.query_one(MemberList).nicks == []
        assert "lobby" not in screen.session.rooms  # and not rejoined on a reconnect
        await enter(pilot, "still here?")
        await pilot.pause(0.05)
        assert "you are not in #lobby any more" in lines(app, "lobby")[-1]
        assert not any(isinstance(m, Say) for m in fake.conns[0].received)
        await enter(pilot, "/join")
        await wait_until(pilot, lambda: conv.joined)
        assert fake.conns[0].received[-1] == Join(room="lobby")
        assert room_entry(conv).plain == "#lobby"
        assert len(screen.query_one(MemberList).nicks) == 4


async def test_moderation_frames_show_as_inert_text(fake: FakeServer) -> None:
    app = make(fake)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        screen = chat(app)
        conn = fake.conns[0]
        conn.send(ModeChanged(room="lobby", by=HOSTILE, ts=TS, secret=True, key=True, limit=20))
        conn.send(
            BanList(
                room="lobby",
                bans=[BanEntry(mask=HOSTILE, by="bob", reason=HOSTILE, ts=TS, expires=HOSTILE)],
            )
        )
        conn.send(
            ModLog(
                room="lobby",
                entries=[
                    ModLogEntry(ts=TS, by="bob", action="ban", target=HOSTILE, reason=HOSTILE)
                ],
            )
        )
        conn.send(Invited(room=HOSTILE, by=HOSTILE))
        conn.send(Notice(text=HOSTILE, sender="root", ts=TS))
        await wait_until(pilot, lambda: "moderation log of" in text_of(app, "lobby"))
        await wait_until(pilot, lambda: "wall from root" in text_of(app, "lobby"))
        log = text_of(app, "lobby")
        assert f"{SHOWN} set the modes: secret on, limit 20, key set" in log
        assert "bans of #lobby: 1" in log
        assert f"  {SHOWN} by bob, since 2026-01-01 " in log
        assert f", until {HOSTILE[:32]}" in log  # a timestamp that does not parse, cut short
        assert f", until {HOSTILE[:32]} ({SHOWN})" in log
        assert f" bob ban {SHOWN} ({SHOWN})" in log
        assert f"{SHOWN} invited you to #{SHOWN}" in log
        assert f"-! wall from root: {SHOWN}" in log
        assert f"{SHOWN} invited you to #{SHOWN}" in text_of(app, "server")
        assert "[+iks limit 20]" not in header(app)  # invite_only was never said
        assert "[+ks limit 20]" in header(app)
        for widget in screen.query(ChatLog):
            for text in widget.texts:
                for span in text.spans:
                    style = str(span.style)
                    assert "link" not in style and "click" not in style, style
                assert "\x1b" not in text.plain
        assert app.is_running  # no [@click=app.quit] ever ran


async def test_modes_and_bans_answers_and_unban_completion(fake: FakeServer) -> None:
    app = make(fake)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        await enter(pilot, "/mode")
        await wait_until(pilot, lambda: "modes of #lobby:" in text_of(app, "lobby"))
        assert "modes of #lobby: invite_only, limit 20, key" in text_of(app, "lobby")
        assert "[+ik limit 20]" in header(app)
        await enter(pilot, "/bans")
        await wait_until(pilot, lambda: "bans of #lobby: 1" in text_of(app, "lobby"))
        chat_input = chat(app).query_one(ChatInput)
        chat_input.value = "/unban ip"
        chat_input.cursor_position = len(chat_input.value)
        await pilot.press("tab")
        assert chat_input.value == "/unban ip:10.0.0.0/8 "
        chat_input.value = "/kick ca"
        await pilot.press("end", "tab")  # a key other than tab starts a new completion
        assert chat_input.value == "/kick carol "


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("not_op", "for the room's ops and owners, on lower ranks only"),
        ("not_admin", "for server admins only"),
        ("banned", "you are banned from that room"),
        ("bad_key", "that room has a key: /join ROOM KEY"),
        ("invite_only", "that room is invite-only"),
        ("room_full", "that room is full"),
        ("muted", "you cannot speak here now"),
        ("topic_locked", "only the room's ops and owners may set its topic"),
        ("invalid_mask", "a mask is nick:NAME, account:NAME"),
    ],
)
async def test_moderation_errors_are_explained(fake: FakeServer, code: str, expected: str) -> None:
    app = make(fake)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        chat(app).handle(Error(code=code, message=HOSTILE))
        await pilot.pause(0.05)
        last = lines(app, "lobby")[-1]
        assert f"{code}: {expected}" in last and SHOWN in last and "\n" not in last, last


async def test_killed_stops_reconnecting_until_asked(fake: FakeServer) -> None:
    app = make(fake)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        fake.conns[0].send(Error(code="killed", message=f"killed by root: {HOSTILE}", fatal=True))
        fake.conns[0].close()
        await wait_until(pilot, lambda: "a server admin disconnected you" in text_of(app, "lobby"))
        await pilot.pause(1.5)  # longer than the first backoff delays
        assert len(fake.conns) == 1
        assert chat(app).session.state is ConnState.OFFLINE
        assert "not reconnecting by itself: ctrl+r connects again" in text_of(app, "server")
        assert SHOWN in text_of(app, "server")
        await pilot.press("ctrl+r")
        await wait_until(pilot, lambda: len(fake.hellos) == 2)
        await wait_until(pilot, lambda: chat(app).session.connected)


async def test_join_with_a_key_from_the_command_and_the_form(fake: FakeServer) -> None:
    app = make(fake, nick=None, room="vault")
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: form_shown(app))
        form = app.screen
        assert form.query_one("#room").value == "vault"  # type: ignore[attr-defined]
        key_field = form.query_one("#room-key")
        assert key_field.password  # type: ignore[attr-defined]
        form.query_one("#nick").value = "alice"  # type: ignore[attr-defined]
        key_field.value = "two words"  # type: ignore[attr-defined]
        form.action_connect()  # type: ignore[attr-defined]
        error = str(form.query_one("#connect-error").render())
        assert "one word" in error and "two words" not in error
        key_field.value = "sesame"  # type: ignore[attr-defined]
        form.action_connect()  # type: ignore[attr-defined]
        await started(pilot, "vault")
        assert fake.received(Join) == [Join(room="vault", key="sesame")]
        await enter(pilot, "/join #dev open-sesame")
        await started(pilot, "dev")
        assert fake.received(Join)[-1] == Join(room="dev", key="open-sesame")
        assert chat(app).session.rooms["dev"].key == "open-sesame"
        assert "open-sesame" not in chat(app).query_one(ChatInput).history.entries[-1:]
        assert "sesame" not in text_of(app, "dev") + text_of(app, "server")
        await enter(pilot, "/join dev too many words")
        await pilot.pause(0.05)
        assert lines(app, "dev")[-1].endswith(
            "not sent: a room name has no spaces, and a key is one word: /join ROOM [KEY]"
        )


async def test_help_lists_the_moderation_commands(fake: FakeServer) -> None:
    app = make(fake)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        await enter(pilot, "/help")
        await pilot.pause(0.05)
        log = text_of(app, "lobby")
        for text in ("room moderation (ops, owners):", "server (admins):", "/ban MASK [DURATION]"):
            assert text in log
        assert "CHANGES: +i/-i invite only" in log and "DURATION: 30s" in log
