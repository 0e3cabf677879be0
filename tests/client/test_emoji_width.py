"""Emoji sequences terminals draw at different widths (a skin-tone modifier, a joiner between
emoji, the emoji presentation selector) are made steady wherever they are shown, so a row's
columns are where every terminal draws them: the log, the topic bar, the room list."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from rich.text import Text

from chat_client.text import STEADY_PATTERN, steady
from chat_client.widgets.bars import TopicBar
from chat_client.wrapping import steady_text
from protocol import ChatMessage, Topic
from tests.client.apptest import chat, make_app, started
from tests.client.fakeserver import TS, FakeServer
from tests.client.test_reflow import log_of

SEQUENCES = "thumbs 👍🏽 coder 👩‍💻 heart ❤️ flag 🏳️‍🌈 family 👨‍👩‍👧 keycap 1️⃣ lone 🏽"


@pytest.fixture
async def fake() -> AsyncIterator[FakeServer]:
    server = await FakeServer().start()
    yield server
    await server.stop()


def test_steady_drops_only_what_is_ambiguous() -> None:
    assert steady("👍🏽 👩‍💻 ❤️") == "👍 👩💻 ❤"
    assert steady("क्‍ष") == "क्‍ष"  # a joiner between letters stays (Devanagari)
    assert steady("plain text, ä, 日本") == "plain text, ä, 日本"
    line = Text("12:00  ")
    line.append("<bob> ", style="bold")
    line.append("hi 👍🏽 there", style="italic")
    out = steady_text(line)
    assert out.plain == "12:00  <bob> hi 👍 there"
    assert out[13:].spans and all(str(s.style) == "italic" for s in out[13:].spans)


@pytest.mark.parametrize("size", [(80, 24), (140, 40)])
async def test_no_ambiguous_sequence_reaches_the_screen(
    fake: FakeServer, size: tuple[int, int]
) -> None:
    app = make_app(fake.port)
    async with app.run_test(size=size) as pilot:
        await started(pilot)
        screen = chat(app)
        screen.handle(Topic(room="lobby", topic=SEQUENCES, nick="bob"))
        screen.handle(
            ChatMessage(id=1, room="lobby", nick="bob", text=SEQUENCES * 3, action=False, ts=TS)
        )
        await pilot.pause()
        rows = [strip.text for strip in log_of(app, "lobby").lines]
        assert any("👍" in r for r in rows)
        assert not any(STEADY_PATTERN.search(r) for r in rows)
        width = log_of(app, "lobby").scrollable_content_region.width
        assert all(strip.cell_length <= width for strip in log_of(app, "lobby").lines)
        topic = str(screen.query_one(TopicBar).render())
        assert "👍" in topic and not STEADY_PATTERN.search(topic)
