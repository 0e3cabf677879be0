"""Sidebars that make room: the member list hides below 100 columns and the room list below
70 (the header then says `#lobby (2/3)`), again on every resize; F7 and F8 toggle them."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from chat_client.app import ChatApp
from chat_client.widgets.bars import TopicBar
from chat_client.widgets.chat_input import ChatInput
from chat_client.widgets.member_list import MemberList
from chat_client.widgets.room_list import RoomList
from tests.client.apptest import chat, enter, make_app, started
from tests.client.fakeserver import FakeServer


@pytest.fixture
async def fake() -> AsyncIterator[FakeServer]:
    server = await FakeServer().start()
    yield server
    await server.stop()


def shown(app: ChatApp) -> tuple[bool, bool]:
    screen = chat(app)
    return (screen.query_one(RoomList).display, screen.query_one(MemberList).display)


def header(app: ChatApp) -> str:
    return str(chat(app).query_one(TopicBar).render())


async def test_sidebars_follow_the_width_and_f7_f8_toggle_them(fake: FakeServer) -> None:
    app = make_app(fake.port)
    async with app.run_test(size=(140, 40)) as pilot:
        await started(pilot)
        await enter(pilot, "/join dev")
        await started(pilot, "dev")
        await pilot.press("ctrl+o")  # back to #lobby: window 2 of 3
        assert shown(app) == (True, True)
        assert header(app).startswith("#lobby ")
        assert "(2/3)" not in header(app)

        await pilot.resize_terminal(80, 24)
        await pilot.pause()
        assert shown(app) == (True, False)
        assert "(2/3)" not in header(app)

        await pilot.resize_terminal(60, 24)
        await pilot.pause()
        assert shown(app) == (False, False)
        assert header(app).startswith("#lobby (2/3)")
        await pilot.press("ctrl+n")
        assert header(app).startswith("#dev (3/3)")

        # F7 shows the room list at 60 columns, F8 the members; the input keeps the focus.
        await pilot.press("f7")
        assert shown(app) == (True, False)
        assert header(app).startswith("#dev ") and "(3/3)" not in header(app)
        await pilot.press("f8")
        assert shown(app) == (True, True)
        assert chat(app).query_one(ChatInput).has_focus
        # A resize that keeps the width's verdict keeps the choice...
        await pilot.resize_terminal(65, 24)
        await pilot.pause()
        assert shown(app) == (True, True)
        # ... one that changes it lets the width decide again.
        await pilot.resize_terminal(140, 40)
        await pilot.pause()
        assert shown(app) == (True, True)
        await pilot.resize_terminal(80, 24)
        await pilot.pause()
        assert shown(app) == (True, False)
        await pilot.press("f7")
        assert shown(app) == (False, False)
        assert header(app).startswith("#dev (3/3)")
        await pilot.press("f7", "f8")
        assert shown(app) == (True, True)


@pytest.mark.parametrize(
    ("size", "expected"),
    [((60, 24), (False, False)), ((80, 24), (True, False)), ((140, 40), (True, True))],
)
async def test_sidebars_at_start(
    fake: FakeServer, size: tuple[int, int], expected: tuple[bool, bool]
) -> None:
    app = make_app(fake.port)
    async with app.run_test(size=size) as pilot:
        await started(pilot)
        assert shown(app) == expected
        assert ("(2/2)" in header(app)) == (not expected[0])
