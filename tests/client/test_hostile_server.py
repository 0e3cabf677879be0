"""Texts a hostile server controls stay inert outside the log too: notices, input, palette, form."""

from __future__ import annotations

from rich.text import Text

from chat_client.palette import ChatCommands
from chat_client.session import Rejected
from chat_client.widgets.chat_input import ChatInput
from protocol import Bye, DirectMessage, Error, Joined
from tests.client.apptest import chat, form_shown, lines, make_app, started, wait_until
from tests.client.inprocess import InProcessServer

SIZE = (120, 40)
RAW = ("\x1b", "\x9b", "\x07", "\u202e", "\n")


def _raw_free(text: str) -> bool:
    return not any(char in text for char in RAW)


async def test_server_texts_in_notices_stay_on_one_inert_line(server: InProcessServer) -> None:
    app = make_app(server.port)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        screen = chat(app)
        before = len(lines(app, "lobby"))
        forged = "\n12:00  <bob> forged line \x1b]0;owned\x07"
        screen.handle(Error(code="bad\x1b[2J", message=f"no such thing{forged}"))
        screen.handle(Bye(reason=f"maintenance\u202e{forged}"))
        await pilot.pause(0.05)
        shown = lines(app, "lobby")[before:]
        assert len(shown) == 2, shown
        assert all(_raw_free(line) for line in shown)
        assert "bad\\x1b[2J: no such thing\\x0a12:00  <bob> forged" in shown[0]
        assert "maintenance\\u202e\\x0a12:00" in shown[1]


async def test_completion_never_puts_control_characters_in_the_input(
    server: InProcessServer,
) -> None:
    app = make_app(server.port)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        screen = chat(app)
        for nick in ("e\x1b[31mvil", "eve"):
            screen.handle(Joined(room="lobby", nick=nick, ts="2026-01-01T00:00:00Z"))
        screen.handle(Joined(room="l\x1b[2J", nick="alice", ts="2026-01-01T00:00:00Z"))
        await pilot.pause(0.05)
        chat_input = screen.query_one(ChatInput)
        chat_input.focus()
        chat_input.value = ""
        await pilot.press("e", "tab")
        assert chat_input.value == "eve: "
        await pilot.press("tab")  # cycling offers nothing else
        assert chat_input.value == "eve: "
        chat_input.value = "/join "
        chat_input.cursor_position = len(chat_input.value)
        await pilot.press("l", "tab")
        assert chat_input.value == "/join lobby "
        await pilot.press("tab")
        assert _raw_free(chat_input.value)


async def test_palette_hits_are_inert_text(server: InProcessServer) -> None:
    app = make_app(server.port)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        screen = chat(app)
        screen.handle(
            DirectMessage.model_validate(
                {"id": 7, "from": "\x9b2J[b]m", "to": "alice", "text": "hi", "ts": "x"}
            )
        )
        await pilot.pause(0.05)
        provider = ChatCommands(screen)
        for hits in (
            [hit async for hit in provider.search("switch")],
            [hit async for hit in provider.discover()],
        ):
            switch = [hit for hit in hits if "[b]m" in str(hit.text)]
            assert len(switch) == 1
            hit = switch[0]
            # `text` is what the palette copies into its input when the hit is picked.
            assert hit.text == "Switch to @\\x9b2J[b]m"
            prompt = hit.prompt if isinstance(hit.prompt, Text) else hit.match_display
            assert isinstance(prompt, Text) and prompt.plain == "Switch to @\\x9b2J[b]m"


async def test_refusal_reason_on_the_connect_form_is_inert(server: InProcessServer) -> None:
    app = make_app(server.port)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        chat(app).handle(
            Rejected(Error(code="nick_taken", message="[@click=app.quit]x[/] \x1b]0;owned\x07"))
        )
        await wait_until(pilot, lambda: form_shown(app))
        error = str(app.screen.query_one("#connect-error").render())
        assert "nick_taken: [@click=app.quit]x[/] \\x1b]0;owned\\x07" in error
        assert _raw_free(error)
