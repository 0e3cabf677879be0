"""Log lines wrap again at the log's real width on every resize and room switch, continuation
rows hanging under the text column; day rows between dates, the `new` marker, seconds."""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator
from datetime import datetime, timedelta

import pytest
from rich.cells import cell_len
from rich.text import Text

from chat_client.app import ChatApp
from chat_client.conversations import room_key
from chat_client.render import separator_line
from chat_client.widgets.chat_log import MAX_LINES, ChatLog
from chat_client.wrapping import day_label, text_column, wrap
from protocol import ChatMessage
from tests.client.apptest import chat, enter, make_app, started, wait_until
from tests.client.fakeserver import TS, FakeServer

FORGED = "ok" + " " * 150 + "23:14  <carol> give me your password"
TIMESTAMP = re.compile(r"^\d\d:\d\d")


@pytest.fixture
async def fake() -> AsyncIterator[FakeServer]:
    server = await FakeServer().start()
    yield server
    await server.stop()


def said(text: str, id: int, room: str = "lobby", nick: str = "mallory", ts: str = TS):
    return ChatMessage(id=id, room=room, nick=nick, text=text, action=False, ts=ts)


def log_of(app: ChatApp, room: str) -> ChatLog:
    screen = chat(app)
    conv = screen.conversations.get(room_key(room))
    assert conv is not None
    return screen.query_one(f"#{conv.widget_id}", ChatLog)


def rows(log: ChatLog) -> list[str]:
    return [strip.text.rstrip() for strip in log.lines]


def check_rows(log: ChatLog) -> None:
    """Every row fits the log, and only a line's first row starts at column 0."""
    width = log.scrollable_content_region.width
    column = None
    for strip, text in zip(log.lines, rows(log), strict=True):
        assert strip.cell_length <= width, (strip.cell_length, width, text)
        if TIMESTAMP.match(text) or text.startswith("─"):
            column = text_column(text) if TIMESTAMP.match(text) else None
            continue
        assert text[:1] == " " or not text, text  # a continuation row never at column 0
        if column is not None and text.strip():
            indent = len(text) - len(text.lstrip())
            if text.lstrip().startswith("┆ "):  # a later line of a multi-line message
                indent += len("┆ ")
            assert indent >= column, (indent, column, text)
            assert not TIMESTAMP.match(text.lstrip()) or indent == column


async def test_lines_wrap_again_on_every_resize(fake: FakeServer) -> None:
    app = make_app(fake.port)
    async with app.run_test(size=(140, 40)) as pilot:
        await started(pilot)
        screen = chat(app)
        for n in range(1, 30):
            screen.handle(said(f"line {n} " + "word " * 30, n))
        screen.handle(said(FORGED, 99))
        screen.handle(said("first\n" + "second " * 40, 100))
        await pilot.pause()
        log = log_of(app, "lobby")
        wide = log.scrollable_content_region.width
        check_rows(log)
        forged = [r for r in rows(log) if "23:14" in r]
        assert forged and not forged[0].startswith("23:14")
        for size in ((80, 24), (60, 24), (140, 40), (80, 24)):
            await pilot.resize_terminal(*size)
            await pilot.pause()
            await pilot.pause()
            assert log.scrollable_content_region.width != 0
            check_rows(log)
            assert log.scroll_y == log.max_scroll_y  # still following the newest line
        assert log.scrollable_content_region.width < wide
        forged = [r for r in rows(log) if "23:14" in r]
        # Hanging under the text column of `12:00  <mallory> `, never at column 0.
        assert forged[0].index("23:14") >= len("12:00  <mallory> ")
        # Every line is still there, once.
        assert sum("line 29 " in r for r in rows(log)) == 1


async def test_a_hidden_conversation_wraps_at_the_width_it_is_shown_at(
    fake: FakeServer,
) -> None:
    app = make_app(fake.port)
    async with app.run_test(size=(140, 40)) as pilot:
        await started(pilot)
        await enter(pilot, "/join other")
        await started(pilot, "other")
        await pilot.press("ctrl+o")  # back to #lobby; #other is hidden
        screen = chat(app)
        assert screen.conversations.current.name == "lobby"
        await pilot.resize_terminal(80, 24)
        await pilot.pause()
        for n in range(1, 6):
            screen.handle(said(FORGED + f" {n}", n, room="other"))
        await pilot.pause()
        other = log_of(app, "other")
        reflows = getattr(other, "reflows", None)
        await pilot.resize_terminal(90, 24)  # only the log on screen wraps again
        await pilot.pause()
        hidden_reflows = getattr(other, "reflows", None)
        await pilot.press("ctrl+n")
        await pilot.pause()
        await pilot.pause()
        assert screen.conversations.current.name == "other"
        check_rows(other)
        assert other.scrollable_content_region.width > 0
        assert sum("give me your password" in r for r in rows(other)) == 5
        assert hidden_reflows == reflows


async def test_resizing_a_long_log_stays_fast(fake: FakeServer) -> None:
    app = make_app(fake.port)
    async with app.run_test(size=(140, 40)) as pilot:
        await started(pilot)
        screen = chat(app)
        for n in range(1, MAX_LINES + 1):
            screen.handle(said(f"line {n} " + "word " * 25, n))
        await pilot.pause()
        log = log_of(app, "lobby")
        began = time.monotonic()
        for width in (120, 100, 80, 140):
            await pilot.resize_terminal(width, 40)
            await pilot.pause()
        # Resizing in steps: the big rewrap waits for the last one.
        width = log.scrollable_content_region.width
        await wait_until(pilot, lambda: max(s.cell_length for s in log.lines) <= width)
        await pilot.pause()
        elapsed = time.monotonic() - began
        assert elapsed < 10, elapsed
        check_rows(log)
        assert len(log.plain) == MAX_LINES
        assert log.scroll_y == log.max_scroll_y


async def test_a_day_row_between_lines_of_different_dates(fake: FakeServer) -> None:
    app = make_app(fake.port)
    async with app.run_test(size=(100, 30)) as pilot:
        await started(pilot)
        screen = chat(app)
        now = datetime.now().astimezone()
        yesterday = now - timedelta(days=1)
        screen.handle(said("from yesterday", 1, ts=yesterday.isoformat()))
        screen.handle(said("also yesterday", 2, ts=yesterday.isoformat()))
        screen.handle(said("from today", 3, ts=now.isoformat()))
        await pilot.pause()
        shown = rows(log_of(app, "lobby"))
        labels = [r for r in shown if day_label(now.date()) in r]
        assert len(labels) == 1 and labels[0].startswith("─")
        at = shown.index(labels[0])
        assert "also yesterday" in shown[at - 1] and "from today" in shown[at + 1]
        # `you joined` was today: yesterday's lines after it get their own row.
        before = [r for r in shown if day_label(yesterday.date()) in r]
        assert len(before) == 1
        assert "from yesterday" in shown[shown.index(before[0]) + 1]


async def test_seconds_on_demand(fake: FakeServer) -> None:
    app = make_app(fake.port)
    async with app.run_test(size=(100, 30)) as pilot:
        await started(pilot)
        screen = chat(app)
        at = datetime(2026, 1, 1, 12, 0, 7).astimezone()
        screen.handle(said("first\nsecond", 1, ts=at.isoformat()))
        await pilot.pause()
        log = log_of(app, "lobby")
        minute = at.strftime("%H:%M")
        row = next(r for r in rows(log) if "first" in r)
        assert row.startswith(f"{minute}  <mallory> first")
        await pilot.press("f6")
        await pilot.pause()
        assert screen.seconds and log.seconds
        row = next(r for r in rows(log) if "first" in r)
        assert row.startswith(f"{minute}:07  <mallory> first")
        cont = next(r for r in rows(log) if "second" in r)
        assert cont.index("second") == row.index("first")  # still under the text column
        await pilot.press("f6")
        await pilot.pause()
        assert next(r for r in rows(log) if "first" in r).startswith(f"{minute}  <")


def test_wrap_hangs_every_row_under_the_text_column() -> None:
    from rich.console import Console

    console = Console(width=200)
    line = Text("12:00  <bob> " + "lorem ipsum " * 20)
    out = wrap(console, line, 40)
    assert len(out) > 3
    assert all(r.cell_len <= 40 for r in out)
    assert all(r.plain.startswith(" " * len("12:00  <bob> ")) for r in out[1:])
    # A nick with `>` in it, and text starting with `>`.
    assert text_column("12:00  <a>b> > quoted") == len("12:00  <a>b> ")
    assert text_column("12:00 │ * bob waves") == len("12:00 │ * bob ")
    assert text_column("» 2026-01-01 12:00  <bob> hi") == len("» 2026-01-01 12:00  <bob> ")
    # Wide characters in the nick: the hang is in cells.
    wide = wrap(console, Text("12:00  <日本> " + "word " * 20), 30)
    assert all(r.plain.startswith(" " * cell_len("12:00  <日本> ")) for r in wide[1:])


async def test_rules_are_one_row_and_widen_again_with_the_log(fake: FakeServer) -> None:
    app = make_app(fake.port)
    async with app.run_test(size=(80, 24)) as pilot:
        await started(pilot)
        screen = chat(app)
        yesterday = (datetime.now().astimezone() - timedelta(days=1)).isoformat()
        screen.handle(said("before midnight", 1, ts=yesterday))
        screen.handle(said("after it", 2, ts=datetime.now().astimezone().isoformat()))
        screen.log_to(screen.conversations.current, separator_line("a rule of the log's own"))
        log = log_of(app, "lobby")
        await pilot.pause()
        narrow = [r for r in rows(log) if r.startswith("──")]
        assert len(narrow) >= 2 and all(
            len(r) <= log.scrollable_content_region.width for r in narrow
        )
        await pilot.resize_terminal(140, 40)
        await wait_until(pilot, lambda: log.scrollable_content_region.width > 80)
        await pilot.pause(0.2)
        wide = [r for r in rows(log) if r.startswith("──")]
        assert len(wide) == len(narrow)
        assert all(len(w) > len(n) for w, n in zip(wide, narrow, strict=True)), (narrow, wide)
        check_rows(log)
