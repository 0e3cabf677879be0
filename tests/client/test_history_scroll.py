"""Scrolling up past the oldest line loads older history, and search results jump into the log.

The scripted server (tests/client/fakeserver.py) says exactly what comes back; the last case
pages a real server's SQLite history from the newest message to the first by keyboard alone.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from textual import events
from textual.pilot import Pilot

from chat_client.app import ChatApp
from chat_client.conversations import room_key
from chat_client.screens.paste import PasteScreen
from chat_client.screens.search_results import SearchResultsScreen
from chat_client.widgets.chat_log import ChatLog
from protocol import ChatMessage, GetHistory, History, Left, Say, SearchResults
from tests.client.apptest import (
    chat,
    enter,
    lines,
    make_app,
    peer,
    started,
    text_of,
    wait_until,
)
from tests.client.fakeserver import TS, FakeServer
from tests.client.inprocess import InProcessServer

SIZE = (80, 24)


def msg(id: int, nick: str = "bob") -> ChatMessage:
    return ChatMessage(id=id, room="lobby", nick=nick, text=f"m{id}", action=False, ts=TS)


@pytest.fixture
async def fake() -> AsyncIterator[FakeServer]:
    server = await FakeServer().start()
    yield server
    await server.stop()


def make(fake: FakeServer) -> ChatApp:
    return ChatApp(fake.host, fake.port, "alice", "lobby", cursor_blink=False)


def lobby_log(app: ChatApp) -> ChatLog:
    conv = chat(app).conversations.get(room_key("lobby"))
    assert conv is not None
    return chat(app).query_one(f"#{conv.widget_id}", ChatLog)


def asked(fake: FakeServer) -> list[GetHistory]:
    return [m for m in fake.received(GetHistory) if isinstance(m, GetHistory)]


def said(app: ChatApp) -> list[int]:
    """The ids of bob's messages in the lobby's log, top to bottom (search blocks left out)."""
    return [
        int(line.rsplit("<bob> m", 1)[1])
        for line in lines(app, "lobby")
        if "<bob> m" in line and not line.startswith("» ")
    ]


async def seed(pilot: Pilot[None], app: ChatApp, first: int, end: int) -> None:
    """The lobby's join history: bob's messages `first` to `end - 1`."""
    chat(app).handle(History(room="lobby", messages=[msg(n) for n in range(first, end)]))
    await wait_until(pilot, lambda: f"<bob> m{end - 1}" in text_of(app, "lobby"))


async def test_page_up_at_the_top_loads_older_pages_and_keeps_the_view(fake: FakeServer) -> None:
    app = make(fake)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        await seed(pilot, app, 100, 131)
        log = lobby_log(app)
        await pilot.pause()
        assert not asked(fake)
        while log.scroll_y > log.size.height:
            await pilot.press("pageup")
        assert not asked(fake)  # not at the top yet: nothing asked
        await pilot.press("pageup")  # this one reaches the top
        await fake.wait_for(lambda: len(asked(fake)) == 1)
        assert asked(fake)[0] == GetHistory(room="lobby", before=100, limit=100)
        await pilot.press("pageup")  # at the top, the page on its way: not asked again
        await pilot.pause(0.05)
        assert len(asked(fake)) == 1
        top_before = log.lines[0].text
        fake.conns[0].send(
            History(room="lobby", messages=[msg(n) for n in range(60, 100)], before=100)
        )
        await wait_until(pilot, lambda: "m60" in text_of(app, "lobby"))
        await pilot.pause()
        # The older lines went above, and the view stayed on the line it showed.
        assert said(app) == list(range(60, 131))
        assert log.scroll_y > 0
        assert log.lines[round(log.scroll_y)].text == top_before
        assert "from /history" not in text_of(app, "lobby")
        assert "older message(s) of #lobby shown above" not in text_of(app, "lobby")
        await pilot.press("ctrl+home")
        await fake.wait_for(lambda: len(asked(fake)) == 2)
        assert asked(fake)[1] == GetHistory(room="lobby", before=60, limit=100)
        fake.conns[0].send(
            History(room="lobby", messages=[msg(n) for n in range(1, 60)], before=60, complete=True)
        )
        await wait_until(pilot, lambda: said(app)[:1] == [1])
        assert said(app) == list(range(1, 131))
        assert "start of history of #lobby" in lines(app, "lobby")[0]
        await pilot.press("ctrl+home", "pageup", "pageup")
        await pilot.pause(0.05)
        assert len(asked(fake)) == 2  # the start is shown: never asked again


async def test_the_mouse_wheel_at_the_top_loads_older_history(fake: FakeServer) -> None:
    app = make(fake)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        chat(app).handle(History(room="lobby", messages=[msg(50), msg(51)]))
        await wait_until(pilot, lambda: "m51" in text_of(app, "lobby"))
        log = lobby_log(app)
        assert log.at_top  # two lines fit: the log is at its top already
        wheel = events.MouseScrollUp(
            widget=log,
            x=2,
            y=2,
            delta_x=0,
            delta_y=-1,
            button=0,
            shift=False,
            meta=False,
            ctrl=False,
        )
        log.post_message(wheel)
        await fake.wait_for(lambda: len(asked(fake)) == 1)
        assert asked(fake)[0] == GetHistory(room="lobby", before=50, limit=100)
        fake.conns[0].send(
            History(room="lobby", messages=[msg(48), msg(49)], before=50, complete=True)
        )
        await wait_until(pilot, lambda: said(app) == [48, 49, 50, 51])


async def test_search_results_are_a_list_that_jumps_into_the_log(fake: FakeServer) -> None:
    app = make(fake)
    async with app.run_test(size=(140, 40)) as pilot:
        await started(pilot)
        chat(app).handle(History(room="lobby", messages=[msg(n) for n in range(100, 161)]))
        await wait_until(pilot, lambda: "m160" in text_of(app, "lobby"))
        log = lobby_log(app)
        await enter(pilot, "/search m1")
        found = [msg(150), msg(20), msg(105, nick="mallory")]
        await enter(pilot, "/ignore mallory")
        fake.conns[0].send(SearchResults(room="lobby", query="m1", messages=found))
        await wait_until(pilot, lambda: isinstance(app.screen, SearchResultsScreen))
        screen = app.screen
        assert isinstance(screen, SearchResultsScreen)
        assert [m.id for m in screen.messages] == [150, 20]  # the ignored are left out
        await pilot.press("enter")  # the newest, in the log already: no request
        await wait_until(pilot, lambda: not isinstance(app.screen, SearchResultsScreen))
        assert log.highlighted_message == 150
        assert not asked(fake)
        rows = log.lines
        top = round(log.scroll_y)
        assert any("m150" in row.text for row in rows[top : top + log.size.height])
        # An older one: pages are loaded until it is in the log.
        fake.conns[0].send(SearchResults(room="lobby", query="m1", messages=found))
        await wait_until(pilot, lambda: isinstance(app.screen, SearchResultsScreen))
        await pilot.press("down", "enter")
        await fake.wait_for(lambda: len(asked(fake)) == 1)
        assert asked(fake)[0] == GetHistory(room="lobby", before=100, limit=200)
        fake.conns[0].send(
            History(room="lobby", messages=[msg(n) for n in range(60, 100)], before=100)
        )
        await fake.wait_for(lambda: len(asked(fake)) == 2)
        assert asked(fake)[1] == GetHistory(room="lobby", before=60, limit=200)
        fake.conns[0].send(
            History(room="lobby", messages=[msg(n) for n in range(1, 60)], before=60)
        )
        await wait_until(pilot, lambda: log.highlighted_message == 20)
        top = round(log.scroll_y)
        assert any("<bob> m20" in row.text for row in log.lines[top : top + log.size.height])
        assert said(app) == list(range(1, 161))
        assert len(asked(fake)) == 2


async def test_the_keyboard_alone_reads_a_real_history_back_to_its_first_message(
    db_server: InProcessServer,
) -> None:
    bob = await peer(db_server.port, "bob")
    for n in range(1, 351):
        await bob.send(Say(room="lobby", text=f"m{n}"))
    app = make_app(db_server.port)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        await wait_until(pilot, lambda: "<bob> m350" in text_of(app, "lobby"))
        log = lobby_log(app)
        for _ in range(40):
            if "start of history" in text_of(app, "lobby"):
                break
            await pilot.press("ctrl+home")
            await pilot.pause(0.1)
        assert "start of history of #lobby" in lines(app, "lobby")[0]
        assert said(app) == list(range(1, 351))
        assert not log.at_top  # the last page went above the view, which stayed put
        await pilot.press("ctrl+home")
        await wait_until(pilot, lambda: log.at_top)
    await bob.close()


async def scroll_until_asked(
    pilot: Pilot[None], app: ChatApp, fake: FakeServer, count: int
) -> None:
    log = lobby_log(app)
    for _ in range(50):
        if len(asked(fake)) >= count:
            return
        await pilot.press("pageup")
        await pilot.pause()
    assert len(asked(fake)) >= count, log.scroll_y


async def test_a_page_nobody_waits_for_is_dropped(fake: FakeServer) -> None:
    app = make(fake)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        await seed(pilot, app, 100, 131)
        await scroll_until_asked(pilot, app, fake, 1)
        await pilot.press("ctrl+l")  # cleared while the page is on its way
        fake.conns[0].send(
            History(room="lobby", messages=[msg(n) for n in range(60, 100)], before=100)
        )
        await pilot.pause(0.2)
        assert said(app) == []
        assert "from /history" not in text_of(app, "lobby")
        # A room left meanwhile is not brought back by its page.
        chat(app).handle(History(room="lobby", messages=[msg(n) for n in range(140, 171)]))
        await wait_until(pilot, lambda: "m170" in text_of(app, "lobby"))
        await scroll_until_asked(pilot, app, fake, 2)
        chat(app).handle(Left(room="lobby", nick="alice", ts=TS))
        await wait_until(pilot, lambda: chat(app).conversations.get(room_key("lobby")) is None)
        fake.conns[0].send(
            History(room="lobby", messages=[msg(n) for n in range(120, 140)], before=140)
        )
        await pilot.pause(0.2)
        assert chat(app).conversations.get(room_key("lobby")) is None


async def test_a_page_that_comes_while_another_window_is_read_keeps_the_view(
    fake: FakeServer,
) -> None:
    app = make(fake)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        await seed(pilot, app, 100, 131)
        log = lobby_log(app)
        await scroll_until_asked(pilot, app, fake, 1)
        await pilot.pause()
        top = log.lines[round(log.scroll_y)].text
        await pilot.press("ctrl+o")  # to the server window
        await wait_until(pilot, lambda: not log.display)
        fake.conns[0].send(
            History(room="lobby", messages=[msg(n) for n in range(60, 100)], before=100)
        )
        await wait_until(pilot, lambda: said(app)[:1] == [60])
        await pilot.press("ctrl+n")
        await wait_until(pilot, lambda: log.display)
        await pilot.pause()
        assert log.lines[round(log.scroll_y)].text == top


async def test_search_results_open_no_list_over_a_prompt_or_for_another_room(
    fake: FakeServer,
) -> None:
    app = make(fake)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        await enter(pilot, "/join other")
        await started(pilot, "other")  # the view is on #other now
        fake.conns[0].send(SearchResults(room="lobby", query="m", messages=[msg(5)]))
        await wait_until(pilot, lambda: "end of search" in text_of(app, "lobby"))
        await pilot.pause(0.1)
        assert not isinstance(app.screen, SearchResultsScreen)
        await enter(pilot, "/search m")  # in #other, answered while a prompt is open
        app.push_screen(PasteScreen("a\nb\nc\nd\ne\nf", 6))
        await wait_until(pilot, lambda: isinstance(app.screen, PasteScreen))
        other = ChatMessage(id=7, room="other", nick="bob", text="m7", action=False, ts=TS)
        fake.conns[0].send(SearchResults(room="other", query="m", messages=[other]))
        await wait_until(pilot, lambda: "end of search" in text_of(app, "other"))
        await pilot.pause(0.1)
        assert isinstance(app.screen, PasteScreen)


async def test_a_full_log_says_so_once_and_a_page_never_pushes_lines_out(
    fake: FakeServer,
) -> None:
    app = make(fake)
    async with app.run_test(size=(140, 40), notifications=True) as pilot:
        await started(pilot)
        log = lobby_log(app)
        log.max_lines = 40
        chat(app).handle(History(room="lobby", messages=[msg(n) for n in range(100, 121)]))
        await wait_until(pilot, lambda: "m120" in text_of(app, "lobby"))
        held = len(log.texts)
        await enter(pilot, "/history 50")
        await fake.wait_for(lambda: len(asked(fake)) == 1)
        room = 40 - held - 3  # the rules and the notice of a /history page
        assert asked(fake)[0] == GetHistory(room="lobby", before=100, limit=room)
        # Lines arrive meanwhile; the page is cut to what is left, its newest kept.
        for n in range(121, 124):
            chat(app).handle(msg(n))
        page = [msg(n) for n in range(50, 100)]
        fake.conns[0].send(History(room="lobby", messages=page, before=100, complete=True))
        await wait_until(
            pilot, lambda: "older message(s) of #lobby shown above" in text_of(app, "lobby")
        )
        assert len(log.texts) <= 40
        ids = said(app)
        assert ids == list(range(ids[0], 124)) and ids[0] > 50
        assert "start of history" not in text_of(app, "lobby")  # cut: not the start
        assert not chat(app).conversations.room("lobby").history_complete
        # Full now: asking again says so, in one toast however often it is asked.
        await pilot.press("ctrl+home", "ctrl+home", "pageup")
        await pilot.pause(0.1)
        assert len(asked(fake)) == 1
        assert [n.title for n in app._notifications].count("log full") == 1
