"""Multi-line messages: alt+enter, shift+enter and ctrl+j start a new line, enter sends them all
as one message; a long paste asks first."""

from __future__ import annotations

from textual import events
from textual._xterm_parser import XTermParser
from textual.events import Key
from textual.pilot import Pilot

from chat_client.app import ChatApp
from chat_client.keys import install_alt_enter
from chat_client.screens.paste import PasteScreen
from chat_client.widgets.chat_input import ChatInput, DraftRows
from protocol import ChatMessage
from tests.client.apptest import chat, lines, make_app, peer, recv_until, started, wait_until
from tests.client.inprocess import InProcessServer

SIZE = (80, 24)


def parsed(data: str) -> list[str]:
    return [t.key for t in XTermParser().feed(data) if isinstance(t, Key)]


def test_the_parser_reads_esc_cr_as_alt_enter() -> None:
    install_alt_enter()
    assert parsed("\x1b\r") == ["alt+enter"]
    assert parsed("a\x1b\rb\r") == ["a", "alt+enter", "b", "enter"]
    assert parsed("\x1b[13;2u") == ["shift+enter"]  # the kitty keyboard protocol
    assert parsed("\n") == ["ctrl+j"]


def chat_input(app: ChatApp) -> ChatInput:
    widget = chat(app).query_one(ChatInput)
    widget.focus()
    return widget


async def said(pilot: Pilot[None], text: str) -> None:
    app = pilot.app
    assert isinstance(app, ChatApp)
    await wait_until(pilot, lambda: any(text in line for line in lines(app, "lobby")))


async def test_alt_enter_makes_one_message_of_several_lines(server: InProcessServer) -> None:
    app = make_app(server.port)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        bob = await peer(server.port, "bob")
        chat_input(app)
        await pilot.press(*"one", "alt+enter", *"two", "shift+enter", *"three", "ctrl+j")
        await pilot.press(*"four")
        widget = chat(app).query_one(ChatInput)
        assert widget.text == "one\ntwo\nthree\nfour"
        assert widget.value == "four"
        above = chat(app).query_one("#draft-above", DraftRows)
        assert above.display and above.rows == ["one", "two", "three"]
        await pilot.press("enter")
        got = await recv_until(bob, lambda m: isinstance(m, ChatMessage))
        assert isinstance(got, ChatMessage) and got.text == "one\ntwo\nthree\nfour"
        await said(pilot, "four")
        shown = [line for line in lines(app, "lobby") if "<alice> " in line]
        assert len(shown) == 1 and shown[0].endswith(
            "<alice> one\n             ┆ two\n             ┆ three\n             ┆ four"
        )
        assert widget.text == "" and not above.display
        assert widget.history.entries[-1] == "one\ntwo\nthree\nfour"
        await bob.close()


async def test_the_draft_grows_above_the_input_at_80x24(server: InProcessServer) -> None:
    app = make_app(server.port)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        widget = chat_input(app)
        above = chat(app).query_one("#draft-above", DraftRows)
        log = chat(app).ensure_log(chat(app).conversations.current)
        log_height = log.region.height
        await pilot.press(*"a", "alt+enter", *"b", "alt+enter", *"c", "alt+enter", *"d")
        await pilot.pause()
        assert above.region.height == 3
        assert above.region.bottom == widget.region.y  # right above the input line
        assert log.region.height == log_height - 3
        await pilot.press("alt+enter", "e", "alt+enter", "f")
        await pilot.pause()
        # At most four lines and a `more` line: the log keeps most of the screen.
        assert above.region.height == 5
        assert "1 more line(s) above" in str(above.render())
        assert log.region.height >= 10


async def test_editing_a_multi_line_draft(server: InProcessServer) -> None:
    app = make_app(server.port)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        widget = chat_input(app)
        await pilot.press(*"ab", "alt+enter", *"cd")
        await pilot.press("up")  # to the line above, the same column
        assert widget.value == "ab" and widget.rows_below == ["cd"]
        below = chat(app).query_one("#draft-below", DraftRows)
        assert below.display and below.rows == ["cd"]
        await pilot.press("x", "down")
        assert widget.text == "abx\ncd" and widget.value == "cd"
        await pilot.press("home", "backspace")  # joins the line above
        assert widget.text == "abxcd" and not widget.multiline
        await pilot.press("alt+enter")
        assert widget.text == "abx\ncd"
        await pilot.press("up", "end", "delete")  # joins the line below
        assert widget.text == "abxcd"
        # In a one-line draft up browses the history, a multi-line entry included.
        widget.history.add("first\nsecond")
        await pilot.press("up")
        assert widget.text == "first\nsecond" and widget.value == "second"


async def test_a_multi_line_command_is_not_run(server: InProcessServer) -> None:
    app = make_app(server.port)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        chat_input(app)
        await pilot.press(*"/nick", "space", *"bobby", "alt+enter", *"x", "enter")
        await wait_until(
            pilot, lambda: any("takes one line" in line for line in lines(app, "lobby"))
        )
        assert chat(app).me == "alice"


async def test_a_long_paste_asks_first(server: InProcessServer) -> None:
    app = make_app(server.port)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        widget = chat_input(app)
        paste = "\n".join(f"line {n}" for n in range(1, 7)) + "\n"
        app.post_message(events.Paste(paste))
        await wait_until(pilot, lambda: isinstance(app.screen, PasteScreen))
        assert "Send 6 pasted lines" in str(app.screen.query_one("#paste-title").render())
        await pilot.press("enter")  # Cancel has the focus: an enter sends nothing
        await wait_until(pilot, lambda: not isinstance(app.screen, PasteScreen))
        await pilot.pause(0.2)
        assert not any("line 1" in line for line in lines(app, "lobby"))
        assert widget.value == "" and widget.has_focus

        app.post_message(events.Paste(paste))
        await wait_until(pilot, lambda: isinstance(app.screen, PasteScreen))
        await pilot.press("s")
        await said(pilot, "line 6")
        sent = [line.split("<alice> ")[1] for line in lines(app, "lobby") if "<alice> " in line]
        assert sent == [f"line {n}" for n in range(1, 7)]

        # Five lines are sent without asking.
        app.post_message(events.Paste("a1\na2\na3\na4\na5\n"))
        await said(pilot, "a5")
        assert not isinstance(app.screen, PasteScreen)


async def test_a_paste_into_a_multi_line_draft_adds_lines(server: InProcessServer) -> None:
    app = make_app(server.port)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        widget = chat_input(app)
        await pilot.press(*"top", "alt+enter")
        app.post_message(events.Paste("x1\nx2\nx3\nx4\nx5\nx6\nx7"))
        await wait_until(pilot, lambda: widget.value == "x7")
        assert widget.text == "top\nx1\nx2\nx3\nx4\nx5\nx6\nx7"
        assert not isinstance(app.screen, PasteScreen)
        assert not any("x1" in line for line in lines(app, "lobby"))


async def test_a_password_moved_above_the_input_stays_masked(server: InProcessServer) -> None:
    app = make_app(server.port)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        widget = chat_input(app)
        await pilot.press(*"/login", "space", *"hunter22", "alt+enter", "x")
        above = chat(app).query_one("#draft-above", DraftRows)
        assert above.rows == ["/login hunter22"]
        assert "hunter22" not in str(above.render()) and "•" in str(above.render())
        await pilot.press("enter")  # a command takes one line: not run, and not kept
        await wait_until(
            pilot, lambda: any("takes one line" in line for line in lines(app, "lobby"))
        )
        assert not any("hunter22" in entry for entry in widget.history.entries)
