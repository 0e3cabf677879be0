"""Text other people control stays text: no markup, no actions, no escapes reach the terminal."""

from __future__ import annotations

from pathlib import Path

import pytest
from rich.text import Text

from chat_client.conversations import room_key
from chat_client.palette import ChatCommands
from chat_client.render import message_line
from chat_client.widgets.chat_log import ChatLog
from protocol import ChatMessage, DirectMessage, Join, Say, SendDm, SetTopic, Topic
from tests.client.apptest import chat, enter, lines, make_app, peer, started, text_of, wait_until
from tests.client.inprocess import InProcessServer

SIZE = (120, 40)

MARKUP = [
    "[bold red]x[/]",
    "[@click=app.quit]quit me[/]",
    "[ @click=app.screenshot('a','.')]shot",
    "unbalanced [/] close [/bold]",
    "[link=https://example.com]link[/link]",
]
CONTROLS = [
    "\x1b]0;title\x07",
    "\x1b[2J wipe",
    "c1 \x9b31m red",
    "bidi \u202eevil\u202c",
    "isolate \u2066x\u2069 mark \u200f \u061c",
    "del \x7f nul \x00",
]


def _no_actions(log: ChatLog) -> None:
    for strip in log.lines:
        for segment in strip:
            style = segment.style
            if style is not None:
                assert not style.meta, style.meta
                assert style.link is None


async def test_hostile_markup_from_other_users_is_literal(
    server: InProcessServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    app = make_app(server.port)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        # This server refuses nicks that start with `[`; markup after the first character
        # is allowed, and must stay literal (test_hostile_server covers a server that allows
        # anything).
        mallory = await peer(server.port, "m[@click=app.quit]m")
        await mallory.send(SetTopic(room="lobby", topic="[@click=app.quit]topic[/]"))
        for text in MARKUP:
            await mallory.send(Say(room="lobby", text=text))
            await mallory.send(Say(room="lobby", text=text, action=True))
        await mallory.send(SendDm(to="alice", text="[@click=app.quit]dm alice[/]"))
        await mallory.send(Join(room="[@click=app.quit]room"))
        await wait_until(pilot, lambda: "unbalanced" in text_of(app, "lobby"))
        await wait_until(pilot, lambda: "dm alice" in text_of(app, "@m[@click=app.quit]m"))
        log_text = text_of(app, "lobby")
        for text in MARKUP:
            assert f"<m[@click=app.quit]m> {text}" in log_text
            assert f"* m[@click=app.quit]m {text}" in log_text
        assert "[@click=app.quit]topic[/]" in str(chat(app).query_one("#topic").render())
        # The notification for the DM shows the text as is.
        assert any(n.message == "[@click=app.quit]dm alice[/]" for n in app._notifications)
        assert all(not n.markup for n in app._notifications)
        # Clicking all over the log, the room list and the members does nothing.
        await pilot.pause(0.2)
        log = chat(app).query_one(f"#{chat(app).conversations.current.widget_id}", ChatLog)
        _no_actions(log)
        for y in range(2, 30):
            await pilot.click(ChatLog, offset=(12, y))
        await pilot.click("#members", offset=(3, 2))
        await pilot.click("#rooms", offset=(3, 2))
        await pilot.pause(0.2)
        assert app.is_running
        assert list(tmp_path.iterdir()) == []
        # /rooms lists the hostile room name literally; the palette does not parse it either.
        await enter(pilot, "/join lobby")
        await enter(pilot, "/rooms")
        await wait_until(pilot, lambda: "#[@click=app.quit]room (1)" in text_of(app, "lobby"))
        provider = ChatCommands(chat(app))
        hits = [hit async for hit in provider.search("switch")]
        prompts = [hit.prompt.plain for hit in hits if isinstance(hit.prompt, Text)]
        assert "Switch to @m[@click=app.quit]m" in prompts
        await mallory.close()
        await wait_until(pilot, lambda: "[@click=app.quit]m left" in text_of(app, "lobby"))
        assert app.is_running


async def test_control_characters_from_a_hostile_server_are_escaped(
    server: InProcessServer,
) -> None:
    app = make_app(server.port)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        screen = chat(app)
        for n, text in enumerate(CONTROLS, start=1000):
            screen.handle(
                ChatMessage(
                    id=n, room="lobby", nick="e\x1b[31mvil", text=text, action=False, ts="bogus"
                )
            )
        screen.handle(Topic(room="lobby", topic="\x1b]0;owned\x07", nick="x\u202e"))
        screen.handle(
            DirectMessage.model_validate(
                {"id": 5000, "from": "\x9bz", "to": "alice", "text": "\x1b[2J", "ts": "x"}
            )
        )
        await pilot.pause(0.1)
        log_text = text_of(app, "lobby")
        assert "\\x1b]0;title\\x07" in log_text
        assert "\\x1b[2J wipe" in log_text
        assert "\\x9b31m" in log_text
        assert "\\u202eevil\\u202c" in log_text
        assert "\\u2066x\\u2069" in log_text and "\\u200f" in log_text and "\\u061c" in log_text
        assert "\\x7f" in log_text and "\\x00" in log_text
        assert "e\\x1b[31mvil" in log_text
        for line in [*lines(app, "lobby"), *lines(app, "@\x9bz")]:
            assert "\x1b" not in line and "\x9b" not in line and "\u202e" not in line
        assert "\x1b" not in str(screen.query_one("#topic").render())
        assert "\\x1b[2J" in text_of(app, "@\x9bz")
        assert app.is_running
        assert screen.conversations.get(room_key("lobby")) is not None


def test_message_line_never_parses_markup() -> None:
    line = message_line("2026-01-01T00:00:00Z", "[b]n[/b]", "[@click=app.quit]x[/]")
    assert "<[b]n[/b]> [@click=app.quit]x[/]" in line.plain
    assert all(not span.style or "@click" not in str(span.style) for span in line.spans)
