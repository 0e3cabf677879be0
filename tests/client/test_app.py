"""The Textual client against a real server: chatting, commands, DMs, unread, completion."""

from __future__ import annotations

import re

from chat_client.conversations import dm_key, room_key
from chat_client.widgets.chat_input import ChatInput
from chat_client.widgets.chat_log import ChatLog
from chat_client.widgets.member_list import MemberList
from chat_client.widgets.room_list import room_entry
from protocol import ChatMessage, DirectMessage, Say, SendDm, SetTopic, Topic
from tests.client.apptest import (
    chat,
    enter,
    form_shown,
    lines,
    make_app,
    peer,
    recv_until,
    started,
    text_of,
    wait_until,
)
from tests.client.inprocess import InProcessServer

SIZE = (120, 40)


async def test_two_people_chat(server: InProcessServer) -> None:
    app = make_app(server.port)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        bob = await peer(server.port, "bob")
        await wait_until(pilot, lambda: chat(app).query_one(MemberList).nicks == ["alice", "bob"])
        # bob has not spoken here: the smart filter (on by default) leaves his join out.
        assert "bob joined" not in text_of(app, "lobby")
        await enter(pilot, "hello bob")
        said = await recv_until(bob, lambda m: isinstance(m, ChatMessage))
        assert isinstance(said, ChatMessage) and said.nick == "alice" and said.text == "hello bob"
        await bob.send(Say(room="lobby", text="hi there"))
        await wait_until(pilot, lambda: "<bob> hi there" in text_of(app, "lobby"))
        assert "<alice> hello bob" in text_of(app, "lobby")
        await bob.close()
        await wait_until(pilot, lambda: "bob left" in text_of(app, "lobby"))
        assert chat(app).query_one(MemberList).nicks == ["alice"]
        status = chat(app).query_one("#status").render()
        assert "connected" in str(status) and "asyncio" in str(status)


async def test_history_on_join_is_marked(server: InProcessServer) -> None:
    bob = await peer(server.port, "bob")
    await bob.send(Say(room="lobby", text="first"))
    await bob.send(Say(room="lobby", text="second"))
    await recv_until(bob, lambda m: isinstance(m, ChatMessage) and m.text == "second")
    app = make_app(server.port)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        await wait_until(pilot, lambda: "live" in text_of(app, "lobby"))
        log = lines(app, "lobby")
        start = next(i for i, line in enumerate(log) if "history: 2 earlier" in line)
        assert "│ <bob> first" in log[start + 1]
        assert "│ <bob> second" in log[start + 2]
        assert "live" in log[start + 3]
        await bob.send(Say(room="lobby", text="third"))
        await wait_until(pilot, lambda: "<bob> third" in text_of(app, "lobby"))
        assert "│" not in lines(app, "lobby")[-1]
    await bob.close()


async def test_slash_commands(server: InProcessServer) -> None:
    app = make_app(server.port)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        screen = chat(app)
        await enter(pilot, "/join dev")
        await started(pilot, "dev")
        assert screen.conversations.active == room_key("dev")
        await enter(pilot, "/topic all about dev")
        await wait_until(pilot, lambda: "set the topic to all about dev" in text_of(app, "dev"))
        await enter(pilot, "/me waves")
        await wait_until(pilot, lambda: "* alice waves" in text_of(app, "dev"))
        await enter(pilot, "/who")
        # The room's creator is its op on a server with moderation: `@alice`.
        await wait_until(
            pilot, lambda: re.search(r"1 in dev: @?alice", text_of(app, "dev")) is not None
        )
        await enter(pilot, "/rooms")
        await wait_until(pilot, lambda: "#dev (1)  all about dev" in text_of(app, "dev"))
        assert "#lobby (1)" in text_of(app, "dev")
        await enter(pilot, "/help")
        assert "/join ROOM" in text_of(app, "dev")
        await enter(pilot, "/nick alicia")
        await wait_until(pilot, lambda: "alice is now alicia" in text_of(app, "dev"))
        assert screen.me == "alicia"
        await enter(pilot, "/frobnicate now")
        assert "unknown command /frobnicate (try /help)" in text_of(app, "dev")
        await enter(pilot, "/join")
        assert "usage: /join ROOM" in text_of(app, "dev")
        await enter(pilot, "/clear")
        assert lines(app, "dev") == []
        await enter(pilot, "/leave")
        await wait_until(pilot, lambda: screen.conversations.get(room_key("dev")) is None)
        await enter(pilot, "/join lobby")
        assert screen.conversations.active == room_key("lobby")
        await enter(pilot, "/msg nobody hello?")
        await wait_until(pilot, lambda: "no_such_nick" in text_of(app, "@nobody"))
        await enter(pilot, "/quit bye")
        await wait_until(pilot, lambda: not app.is_running)


async def test_direct_messages_and_unread_counts(server: InProcessServer) -> None:
    app = make_app(server.port)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        screen = chat(app)
        bob = await peer(server.port, "bob")
        await bob.send(SendDm(to="alice", text="psst"))
        await wait_until(pilot, lambda: "<bob> psst" in text_of(app, "@bob"))
        conv = screen.conversations.get(dm_key("bob"))
        assert conv is not None and conv.unread == 1 and conv.mention
        assert room_entry(conv).plain == "@bob !1"
        assert any("psst" in n.message for n in app._notifications)
        # A conversation that opens in the background stays hidden: one log on screen.
        assert [log.display for log in screen.query(ChatLog)].count(True) == 1
        # Two lines in lobby while a DM is open: counted there, cleared on switching.
        await enter(pilot, "/msg bob hello back")
        dm = await recv_until(bob, lambda m: isinstance(m, DirectMessage) and m.sender == "alice")
        assert isinstance(dm, DirectMessage) and dm.sender == "alice" and dm.text == "hello back"
        assert conv.unread == 0
        await bob.send(Say(room="lobby", text="one"))
        await bob.send(Say(room="lobby", text="two, alice"))
        lobby = screen.conversations.get(room_key("lobby"))
        assert lobby is not None
        await wait_until(pilot, lambda: "two, alice" in text_of(app, "lobby"))
        assert lobby.unread >= 2 and lobby.mention
        await pilot.press("ctrl+o")
        assert screen.conversations.active == room_key("lobby")
        assert lobby.unread == 0 and not lobby.mention
        await bob.close()


async def test_tab_completion_and_input_history(server: InProcessServer) -> None:
    app = make_app(server.port)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        bob = await peer(server.port, "bobby")
        await wait_until(pilot, lambda: "bobby" in chat(app).query_one(MemberList).nicks)
        chat_input = chat(app).query_one(ChatInput)
        chat_input.focus()
        await pilot.press("/", "j", "o", "tab")
        assert chat_input.value == "/join "
        await pilot.press("l", "o", "tab")
        assert chat_input.value == "/join lobby "
        chat_input.value = ""
        await pilot.press("b", "o", "tab")
        assert chat_input.value == "bobby: "
        await pilot.press("h", "i", "enter")
        await wait_until(pilot, lambda: "<alice> bobby: hi" in text_of(app, "lobby"))
        await pilot.press("up")
        assert chat_input.value == "bobby: hi"
        await pilot.press("down")
        assert chat_input.value == ""
        await bob.close()


async def test_connect_screen_when_no_nick(server: InProcessServer) -> None:
    app = make_app(server.port, nick=None)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: form_shown(app))
        nick_input = app.screen.query_one("#nick")
        nick_input.value = "carol"  # type: ignore[attr-defined]
        await pilot.press("enter")
        await started(pilot)
        assert chat(app).me == "carol"


async def test_nick_taken_goes_back_to_connect_screen(server: InProcessServer) -> None:
    bob = await peer(server.port, "alice")
    app = make_app(server.port)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: form_shown(app))
        error = app.screen.query_one("#connect-error")
        assert "nick_taken" in str(error.render())
    await bob.close()


async def test_topic_and_members_from_server(server: InProcessServer) -> None:
    bob = await peer(server.port, "bob")
    await bob.send(SetTopic(room="lobby", topic="welcome all"))
    await recv_until(bob, lambda m: isinstance(m, Topic))
    app = make_app(server.port)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        await wait_until(pilot, lambda: "topic: welcome all (set by bob)" in text_of(app, "lobby"))
        topic_bar = str(chat(app).query_one("#topic").render())
        assert "welcome all" in topic_bar
        svg = app.export_screenshot()
        assert "lobby" in svg and "welcome" in svg
    await bob.close()
