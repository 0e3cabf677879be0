"""Notifications: a toast and the bell for a mention or a DM in another conversation only, none
for a tab that completes nothing, toasts clear of the input; the `new` row where a conversation
was left; the terminal title with the unread counts, inert."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from textual.widgets._toast import Toast

from chat_client.app import ChatApp, setting
from chat_client.widgets.chat_input import ChatInput
from protocol import ChatMessage, DirectMessage
from tests.client.apptest import chat, enter, make_app, started
from tests.client.fakeserver import TS, FakeServer
from tests.client.test_reflow import log_of, rows


@pytest.fixture
async def fake() -> AsyncIterator[FakeServer]:
    server = await FakeServer().start()
    yield server
    await server.stop()


def said(text: str, id: int, room: str = "lobby", nick: str = "bob") -> ChatMessage:
    return ChatMessage(id=id, room=room, nick=nick, text=text, action=False, ts=TS)


def dm(text: str, sender: str = "bob") -> DirectMessage:
    body = {"id": 1, "from": sender, "to": "alice", "text": text, "ts": TS}
    return DirectMessage.model_validate(body)


def ring_counter(app: ChatApp, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    bells: list[int] = []
    monkeypatch.setattr(app, "bell", lambda: bells.append(1))
    return bells


@pytest.mark.parametrize("size", [(80, 24), (140, 40)])
async def test_mentions_and_dms_notify_only_from_other_conversations(
    fake: FakeServer, monkeypatch: pytest.MonkeyPatch, size: tuple[int, int]
) -> None:
    app = make_app(fake.port)
    async with app.run_test(size=size, notifications=True) as pilot:
        bells = ring_counter(app, monkeypatch)
        await started(pilot)
        await enter(pilot, "/join other")
        await started(pilot, "other")
        await pilot.press("ctrl+o")  # reading #lobby
        screen = chat(app)
        screen.handle(said("alice: in the room you read", 1))
        await pilot.pause()
        assert bells == [] and not app._notifications
        screen.handle(said("alice: elsewhere", 2, room="other"))
        await pilot.pause()
        assert bells == [1]
        assert [n.message for n in app._notifications] == ["alice: elsewhere"]
        await pilot.pause(0.3)
        toasts = list(app.screen.query(Toast))
        assert toasts
        chat_input = screen.query_one(ChatInput)
        for toast in toasts:
            assert not toast.region.overlaps(chat_input.region), (toast.region, chat_input.region)
        # A DM from someone whose window is not open: the bell; in the open DM window: none.
        screen.handle(dm("psst"))
        await pilot.pause()
        assert bells == [1, 1]
        await enter(pilot, "/msg bob")
        await pilot.pause()
        assert screen.conversations.current.name == "bob"
        screen.handle(dm("again"))
        await pilot.pause()
        assert bells == [1, 1]
        assert len(app._notifications) == 2


async def test_the_bell_can_be_turned_off(
    fake: FakeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = ChatApp("127.0.0.1", fake.port, "alice", "lobby", cursor_blink=False, bell=False)
    async with app.run_test(size=(80, 24)) as pilot:
        bells = ring_counter(app, monkeypatch)
        await started(pilot)
        chat(app).handle(dm("psst"))
        await pilot.pause()
        assert bells == [] and len(app._notifications) == 1  # the toast still shows
    assert setting(None, "WIRECHAT_BELL", True, {"WIRECHAT_BELL": "off"}) is False
    assert setting(None, "WIRECHAT_BELL", True, {}) is True
    assert setting(True, "WIRECHAT_BELL", True, {"WIRECHAT_BELL": "0"}) is True
    assert setting(None, "WIRECHAT_SECONDS", False, {"WIRECHAT_SECONDS": "1"}) is True


async def test_a_tab_that_completes_nothing_rings_no_bell(
    fake: FakeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = make_app(fake.port)
    async with app.run_test(size=(80, 24)) as pilot:
        bells = ring_counter(app, monkeypatch)
        await started(pilot)
        await pilot.press(*"zzq", "tab", "tab")
        await pilot.pause()
        assert bells == []
        assert chat(app).query_one(ChatInput).value == "zzq"


async def test_a_new_row_where_the_conversation_was_left(fake: FakeServer) -> None:
    app = make_app(fake.port)
    async with app.run_test(size=(100, 30)) as pilot:
        await started(pilot)
        await enter(pilot, "/join other")
        await started(pilot, "other")
        await pilot.press("ctrl+o")  # #lobby
        screen = chat(app)
        screen.handle(said("read before leaving", 1))
        await pilot.press("ctrl+n")  # #other: lobby goes on without us
        screen.handle(said("missed one", 2))
        screen.handle(said("missed two", 3))
        await pilot.pause()
        await pilot.press("ctrl+o")  # back to #lobby
        await pilot.pause()
        shown = rows(log_of(app, "lobby"))
        marks = [i for i, r in enumerate(shown) if r.startswith("─") and " new " in r]
        assert len(marks) == 1
        assert "read before leaving" in shown[marks[0] - 1]
        assert "missed one" in shown[marks[0] + 1]
        # Read now: leaving and coming back with nothing new shows no marker.
        await pilot.press("ctrl+n")
        await pilot.press("ctrl+o")
        await pilot.pause()
        shown = rows(log_of(app, "lobby"))
        assert not [r for r in shown if r.startswith("─") and " new " in r]


class _Driver:
    is_headless = False
    is_inline = False
    is_web = False

    def __init__(self) -> None:
        self.written: list[str] = []

    def write(self, data: str) -> None:
        self.written.append(data)


async def test_the_terminal_title_counts_unread_lines_and_is_inert(fake: FakeServer) -> None:
    app = make_app(fake.port)
    async with app.run_test(size=(100, 30)) as pilot:
        await started(pilot)
        screen = chat(app)
        assert screen.title_text() == "#lobby - wirechat"
        await enter(pilot, "/join other")
        await started(pilot, "other")
        screen.handle(said("one", 1))
        screen.handle(said("alice: two", 2))
        screen.handle(dm("psst", sender="b\x1b]2;pwned\x07ob"))
        await pilot.pause()
        assert screen.title_text() == "[!2 3] #other - wirechat"
        assert app._title == "[!2 3] #other - wirechat"
        await pilot.press("ctrl+n")  # the DM window: its name has control characters
        await pilot.pause()
        title = screen.title_text()
        assert "\x1b" not in title and "\x07" not in title
        assert title == "[!1 2] @b]2;pwnedob - wirechat"
        assert all(ch.isprintable() for ch in title)
    # Written as OSC 2 to a real terminal, once per change.
    app = make_app(fake.port)
    driver = _Driver()
    app._driver = driver  # type: ignore[assignment]
    app.set_terminal_title("[1] #lobby - wirechat")
    app.set_terminal_title("[1] #lobby - wirechat")
    assert driver.written == ["\x1b]2;[1] #lobby - wirechat\x07"]
