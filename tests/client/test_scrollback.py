"""Keyboard scrollback: PgUp/PgDn (and shift+), ctrl+home/ctrl+end scroll the log while the
input keeps the focus; scrolled up, new lines leave the view alone and say `more below`."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from chat_client.conversations import room_key
from chat_client.widgets.chat_input import ChatInput
from chat_client.widgets.chat_log import ChatLog
from protocol import ChatMessage
from tests.client.apptest import chat, make_app, started
from tests.client.fakeserver import TS, FakeServer


@pytest.fixture
async def fake() -> AsyncIterator[FakeServer]:
    server = await FakeServer().start()
    yield server
    await server.stop()


def said(text: str, id: int) -> ChatMessage:
    return ChatMessage(id=id, room="lobby", nick="bob", text=text, action=False, ts=TS)


async def test_page_keys_scroll_the_log_and_new_lines_do_not_yank_it(fake: FakeServer) -> None:
    app = make_app(fake.port)
    async with app.run_test(size=(100, 24)) as pilot:
        await started(pilot)
        screen = chat(app)
        conv = screen.conversations.get(room_key("lobby"))
        assert conv is not None
        log = screen.query_one(f"#{conv.widget_id}", ChatLog)
        chat_input = screen.query_one(ChatInput)
        for n in range(1, 101):
            screen.handle(said(f"line {n}", n))
        await pilot.pause()
        await pilot.pause()
        assert log.max_scroll_y > 0
        assert log.scroll_y == log.max_scroll_y
        await pilot.press("pageup")
        assert log.scroll_y < log.max_scroll_y
        assert chat_input.has_focus
        assert chat_input.value == ""
        assert not log.following and log.border_subtitle == "more below (ctrl+end)"
        held = log.scroll_y
        screen.handle(said("new line", 101))
        screen.handle(said("another", 102))
        await pilot.pause()
        await pilot.pause()
        assert log.scroll_y == held  # not pulled back down
        assert log.border_subtitle == "2 more below (ctrl+end)"
        assert log.has_class("-more-below")
        await pilot.press("shift+pageup")
        assert log.scroll_y < held
        await pilot.press("ctrl+home")
        assert log.scroll_y == 0
        await pilot.press("ctrl+end")
        await pilot.pause()
        assert log.scroll_y == log.max_scroll_y
        assert log.following and log.border_subtitle == ""
        assert not log.has_class("-more-below")
        # PgDn back to the end clears the marker too.
        await pilot.press("pageup")
        screen.handle(said("third", 103))
        await pilot.pause()
        assert log.border_subtitle == "1 more below (ctrl+end)"
        for _ in range(5):
            await pilot.press("shift+pagedown")
        await pilot.pause()
        assert log.scroll_y == log.max_scroll_y
        assert log.following and log.border_subtitle == ""
        # Following again: a new line scrolls to it.
        screen.handle(said("fourth", 104))
        await pilot.pause()
        await pilot.pause()
        assert log.scroll_y == log.max_scroll_y
        assert chat_input.has_focus
