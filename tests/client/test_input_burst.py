"""Lines typed or pasted in a burst: each line becomes its own message, in order."""

from __future__ import annotations

from textual import events
from textual.pilot import Pilot

from chat_client.app import ChatApp
from chat_client.widgets.chat_input import ChatInput
from protocol import ChatMessage
from tests.client.apptest import (
    chat,
    lines,
    make_app,
    peer,
    recv_until,
    started,
    text_of,
    wait_until,
)
from tests.client.inprocess import InProcessServer

SIZE = (120, 40)


def burst(pilot: Pilot[None], keys: list[str]) -> None:
    """Queue every key at once, the way a terminal delivers `send-keys` or a fast typist."""
    app = pilot.app
    assert isinstance(app, ChatApp)
    chat(app).query_one(ChatInput).focus()
    for key in keys:
        character = "\r" if key == "enter" else key if len(key) == 1 else None
        app.post_message(events.Key(key, character))


def typed(*lines: str) -> list[str]:
    keys: list[str] = []
    for line in lines:
        keys += [*line.replace(" ", "")]
        keys.append("enter")
    return keys


async def said(pilot: Pilot[None], last: str) -> list[str]:
    """Alice's messages in lobby, oldest first, once one ending with `last` is shown."""
    app = pilot.app
    assert isinstance(app, ChatApp)
    await wait_until(pilot, lambda: text_of(app, "lobby").endswith(f"<alice> {last}"))
    return [line.split("<alice> ", 1)[1] for line in lines(app, "lobby") if "<alice> " in line]


async def test_lines_typed_in_a_burst_are_separate_messages(server: InProcessServer) -> None:
    app = make_app(server.port)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        bob = await peer(server.port, "bob")
        burst(pilot, typed("one", "two", "three"))
        assert await said(pilot, "three") == ["one", "two", "three"]
        got = [await recv_until(bob, lambda m: isinstance(m, ChatMessage)) for _ in range(3)]
        assert [m.text for m in got if isinstance(m, ChatMessage)] == ["one", "two", "three"]
        assert chat(app).query_one(ChatInput).value == ""
        await bob.close()


async def test_editing_keys_in_a_burst_apply_in_order(server: InProcessServer) -> None:
    app = make_app(server.port)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        burst(pilot, ["a", "c", "left", "b", "end", "d", "enter", "x", "backspace", "y", "enter"])
        assert await said(pilot, "y") == ["abcd", "y"]


async def test_paste_sends_one_message_per_line(server: InProcessServer) -> None:
    app = make_app(server.port)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        chat_input = chat(app).query_one(ChatInput)
        chat_input.focus()
        chat_input.value = "well: "
        chat_input.cursor_position = len(chat_input.value)
        app.post_message(events.Paste("first\r\nsecond\n\n  \nthird\nlast"))
        assert await said(pilot, "third") == ["well: first", "second", "third"]
        # The unterminated last line waits in the input, as if it had been typed.
        assert chat_input.value == "last"
        assert chat_input.history.entries[-3:] == ["well: first", "second", "third"]
        app.post_message(events.Paste("single line"))
        await wait_until(pilot, lambda: chat_input.value == "lastsingle line")
        assert "single line" not in text_of(app, "lobby")
