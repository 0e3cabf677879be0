"""Searching what the log holds: /lastlog TEXT as a block, ctrl+f to jump between matches."""

from __future__ import annotations

from textual.pilot import Pilot

from chat_client.app import ChatApp
from chat_client.render import message_line
from chat_client.widgets.chat_input import ChatInput
from chat_client.widgets.chat_log import ChatLog
from chat_client.widgets.find_bar import FindBar
from tests.client.apptest import chat, enter, lines, make_app, started, wait_until
from tests.client.inprocess import InProcessServer

SIZE = (80, 24)
TS = "2026-12-02T09:14:03.000Z"


def fill(app: ChatApp, texts: list[str]) -> ChatLog:
    """Lines from bob in the current conversation, as if they had arrived."""
    screen = chat(app)
    conv = screen.conversations.current
    for text in texts:
        screen.log_to(conv, message_line(TS, "bob", text), ts=TS)
    return screen.ensure_log(conv)


def block(app: ChatApp) -> list[str]:
    """The lines of the last /lastlog block, its rules included."""
    shown = lines(app, "lobby")
    start = max(i for i, line in enumerate(shown) if "lastlog '" in line)
    end = next(i for i in range(start, len(shown)) if "end of lastlog" in shown[i])
    return shown[start : end + 1]


async def test_lastlog_shows_the_lines_with_the_text_as_a_block(server: InProcessServer) -> None:
    app = make_app(server.port)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        fill(app, ["Apple pie", "banana", "an APPLE a day", "cherry"])
        await enter(pilot, "/lastlog apple")
        await wait_until(
            pilot, lambda: any("end of lastlog" in line for line in lines(app, "lobby"))
        )
        shown = block(app)
        assert "lastlog 'apple' in #lobby: 2 line(s)" in shown[0]
        assert [line.split("<bob> ")[1] for line in shown[1:-1]] == ["Apple pie", "an APPLE a day"]
        # The copies are not found again: a second /lastlog finds the same two lines.
        await enter(pilot, "/lastlog APPLE")
        await wait_until(pilot, lambda: "'APPLE'" in block(app)[0])
        assert "2 line(s)" in block(app)[0] and len(block(app)) == 4
        await enter(pilot, "/lastlog zzz")
        await wait_until(pilot, lambda: "'zzz'" in block(app)[0])
        assert "0 line(s)" in block(app)[0] and len(block(app)) == 2
        await enter(pilot, "/lastlog")
        await wait_until(pilot, lambda: "usage: /lastlog TEXT" in lines(app, "lobby")[-1])


async def find(pilot: Pilot[None], *keys: str) -> str:
    await pilot.press(*keys)
    await pilot.pause()
    return str(chat(pilot.app).query_one(FindBar).border_subtitle)  # type: ignore[arg-type]


def row_shown(log: ChatLog, text: str) -> bool:
    """Whether a row holding `text` is in view."""
    top = round(log.scroll_y)
    rows = log.lines[top : top + log.scrollable_content_region.height]
    return any(text in row.text for row in rows)


async def test_ctrl_f_jumps_between_matches(server: InProcessServer) -> None:
    app = make_app(server.port)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        texts = [f"filler {n}" for n in range(80)]
        texts[10] = "the first Needle"
        texts[40] = "a second needle"
        log = fill(app, texts)
        await pilot.pause()
        assert not row_shown(log, "second needle")
        chat(app).query_one(ChatInput).focus()
        await pilot.press("ctrl+f")
        bar = chat(app).query_one(FindBar)
        await wait_until(pilot, lambda: bar.display and bar.has_focus)
        assert await find(pilot, *"needle", "enter") == "2/2"  # the newest first
        assert row_shown(log, "a second needle") and not log.following
        assert await find(pilot, "up") == "1/2"
        assert row_shown(log, "the first Needle")
        assert await find(pilot, "up") == "2/2"  # wraps around
        assert await find(pilot, "down") == "1/2"
        assert row_shown(log, "the first Needle")
        assert await find(pilot, "ctrl+a", "ctrl+k", *"nothing", "enter") == "no match"
        await pilot.press("escape")
        await wait_until(pilot, lambda: not bar.display)
        assert chat(app).query_one(ChatInput).has_focus


async def test_the_line_found_is_shown_reversed(server: InProcessServer) -> None:
    app = make_app(server.port)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        log = fill(app, ["one", "two needle", "three"])
        await pilot.pause()
        assert log.find("needle") == (1, 1)
        await pilot.pause()
        row = next(i for i, strip in enumerate(log.lines) if "needle" in strip.text)
        strip = log.render_line(row - round(log.scroll_y))
        assert all(segment.style is not None and segment.style.reverse for segment in strip)
        other = log.render_line(row + 1 - round(log.scroll_y))
        assert not any(segment.style is not None and segment.style.reverse for segment in other)
        log.clear_found()
        strip = log.render_line(row - round(log.scroll_y))
        assert not any(segment.style is not None and segment.style.reverse for segment in strip)
