"""Long logs stay fast and capped, in the room on screen and in one in the background."""

from __future__ import annotations

import time

from chat_client.conversations import room_key
from chat_client.widgets.chat_log import MAX_LINES, ChatLog
from protocol import ChatMessage
from tests.client.apptest import chat, enter, make_app, started, text_of, wait_until
from tests.client.inprocess import InProcessServer

SIZE = (120, 40)


async def test_thousands_of_lines(server: InProcessServer) -> None:
    app = make_app(server.port)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        screen = chat(app)
        await enter(pilot, "/join other")
        await started(pilot, "other")
        await enter(pilot, "/join lobby")
        began = time.monotonic()
        for n in range(1, MAX_LINES + 1001):
            room = "lobby" if n % 2 else "other"
            screen.handle(
                ChatMessage(
                    id=10_000 + n,
                    room=room,
                    nick=f"user{n % 7}",
                    text=f"line {n} " + "x" * 40,
                    action=False,
                    ts="2026-01-01T12:00:00Z",
                )
            )
        await pilot.pause()
        elapsed = time.monotonic() - began
        assert elapsed < 15, elapsed
        lobby = screen.query_one(
            f"#{screen.conversations.get(room_key('lobby')).widget_id}",  # type: ignore[union-attr]
            ChatLog,
        )
        assert len(lobby.plain) <= MAX_LINES
        assert len(lobby.lines) <= MAX_LINES
        other = screen.conversations.get(room_key("other"))
        assert other is not None and other.unread == (MAX_LINES + 1000) // 2
        # Typing stays quick with full logs.
        began = time.monotonic()
        await pilot.press(*"still typing fine")
        await pilot.press("enter")
        await wait_until(pilot, lambda: "still typing fine" in text_of(app, "lobby"))
        assert time.monotonic() - began < 5
