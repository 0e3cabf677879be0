"""Window keys: alt+1..alt+0 jump to the numbered conversations, alt+a to the next one with
activity (mentions first), ctrl+o to the previous one; none of them types into the input."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from textual._xterm_parser import XTermParser
from textual.events import Key

from chat_client.conversations import SERVER_KEY, Conversations, Kind, dm_key, room_key
from chat_client.keys import install_alt_digits
from chat_client.widgets.chat_input import ChatInput
from chat_client.widgets.room_list import RoomList
from protocol import ChatMessage, DirectMessage
from tests.client.apptest import chat, enter, make_app, started
from tests.client.fakeserver import TS, FakeServer

SIZE = (120, 40)


def parsed(data: str) -> list[tuple[str, str | None]]:
    """The keys Textual's own input parser reads from `data`, as a terminal sends it."""
    return [(t.key, t.character) for t in XTermParser().feed(data) if isinstance(t, Key)]


def test_the_parser_reads_esc_digit_as_alt_digit() -> None:
    install_alt_digits()
    install_alt_digits()  # twice is once
    assert parsed("\x1b1\x1b2\x1b0x") == [
        ("alt+1", None),
        ("alt+2", None),
        ("alt+0", None),
        ("x", "x"),
    ]
    # The glyphs themselves are still typed (a British keyboard's £, macOS without Meta).
    assert parsed("£¡") == [("pound_sign", "£"), ("inverted_exclamation_mark", "¡")]


def test_numbers_and_activity_in_the_model() -> None:
    convs = Conversations("srv")
    lobby, dev, bob = convs.room("lobby"), convs.room("dev"), convs.dm("bob")
    assert [convs.nth(n) for n in (1, 2, 3, 4, 5, 0)] == [
        SERVER_KEY,
        lobby.key,
        dev.key,
        bob.key,
        None,
        None,
    ]
    assert convs.next_activity() is None
    convs.bump(lobby)
    convs.bump(bob, mention=True)
    convs.bump(dev)
    assert convs.next_activity() == bob.key  # a mention before plain unread lines
    convs.activate(bob.key)
    assert convs.next_activity() == lobby.key  # then in list order, around from here
    convs.activate(lobby.key)
    assert convs.next_activity() == dev.key
    convs.activate(dev.key)
    assert convs.next_activity() is None
    assert dev.kind is Kind.ROOM


@pytest.fixture
async def fake() -> AsyncIterator[FakeServer]:
    server = await FakeServer().start()
    yield server
    await server.stop()


def said(room: str, text: str, id: int) -> ChatMessage:
    return ChatMessage(id=id, room=room, nick="bob", text=text, action=False, ts=TS)


async def test_alt_digits_and_alt_a_switch_windows(fake: FakeServer) -> None:
    app = make_app(fake.port)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        screen = chat(app)
        for room in ("dev", "ops"):
            await enter(pilot, f"/join {room}")
            await started(pilot, room)
        # The list: 1 server, 2 #lobby, 3 #dev, 4 #ops.
        labels = [str(screen.query_one(RoomList).get_option_at_index(i).prompt) for i in range(4)]
        assert labels[1:] == ["2 #lobby", "3 #dev", "4 #ops"]
        assert labels[0].startswith("1 ")
        chat_input = screen.query_one(ChatInput)
        await pilot.press("alt+2")
        assert screen.conversations.active == room_key("lobby")
        await pilot.press("alt+4")
        assert screen.conversations.active == room_key("ops")
        await pilot.press("alt+1")
        assert screen.conversations.active == SERVER_KEY
        await pilot.press("alt+9", "alt+0")  # no 9th or 10th window: nothing changes
        assert screen.conversations.active == SERVER_KEY
        assert chat_input.value == ""  # nothing was typed
        # Activity: a line in #dev, a mention in #lobby, then a DM (which always mentions).
        screen.handle(said("dev", "plain line", 1))
        screen.handle(said("lobby", "alice: look", 2))
        await pilot.press("alt+a")
        assert screen.conversations.active == room_key("lobby")  # the mention first
        await pilot.press("alt+a")
        assert screen.conversations.active == room_key("dev")
        await pilot.press("alt+a")
        assert screen.conversations.active == room_key("dev")  # nothing else unread
        screen.handle(DirectMessage(id=3, sender="bob", to="alice", text="hi", ts=TS))
        await pilot.press("alt+a")
        assert screen.conversations.active == dm_key("bob")
        assert str(screen.query_one(RoomList).get_option_at_index(4).prompt) == "5 @bob"
        # ctrl+o goes back one window; ctrl+b (tmux's prefix) is left alone.
        await pilot.press("ctrl+o")
        assert screen.conversations.active == room_key("ops")
        await pilot.press("ctrl+b")
        assert screen.conversations.active == room_key("ops")
        assert chat_input.value == ""
