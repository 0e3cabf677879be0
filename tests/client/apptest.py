"""Helpers for driving the Textual client against a real server in tests."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from textual.pilot import Pilot

from chat_client.app import ChatApp
from chat_client.conversations import dm_key, room_key
from chat_client.net import ChatConnection
from chat_client.screens.chat import ChatScreen
from chat_client.widgets.chat_input import ChatInput
from chat_client.widgets.chat_log import ChatLog
from protocol import Join, ServerMessage

HOST = "127.0.0.1"


def make_app(port: int, nick: str | None = "alice", room: str | None = "lobby") -> ChatApp:
    return ChatApp(HOST, port, nick, room, cursor_blink=False)


async def wait_until(
    pilot: Pilot[None], condition: Callable[[], bool], timeout: float = 10.0
) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await pilot.pause(0.02)


def chat(app: ChatApp) -> ChatScreen:
    """The chat screen, also while a modal screen (search results, a prompt) is over it."""
    screens = [s for s in app.screen_stack if isinstance(s, ChatScreen)]
    assert screens, f"no chat screen: {app.screen!r}"
    return screens[-1]


def lines(app: ChatApp, key: str) -> list[str]:
    """The plain text of one conversation's log (`lobby`, `@bob` or `server`)."""
    screen = chat(app)
    if key.startswith("@"):
        conv = screen.conversations.get(dm_key(key[1:]))
    elif key == "server":
        conv = screen.conversations.get("server")
    else:
        conv = screen.conversations.get(room_key(key))
    if conv is None:
        return []
    found = screen.query(f"#{conv.widget_id}")
    return list(found.first(ChatLog).plain) if found else []


def text_of(app: ChatApp, key: str) -> str:
    return "\n".join(lines(app, key))


async def enter(pilot: Pilot[None], text: str) -> None:
    """Type a line into the input (set at once) and press enter."""
    chat_input = pilot.app.screen.query_one(ChatInput)
    chat_input.focus()
    chat_input.value = text
    chat_input.cursor_position = len(text)
    await pilot.press("enter")


async def started(pilot: Pilot[None], room: str = "lobby") -> None:
    """Wait until the app is connected and has joined `room`."""
    app = pilot.app
    assert isinstance(app, ChatApp)
    await wait_until(pilot, lambda: isinstance(app.screen, ChatScreen))
    await wait_until(
        pilot,
        lambda: (conv := chat(app).conversations.get(room_key(room))) is not None and conv.joined,
    )


async def peer(port: int, nick: str, room: str | None = "lobby") -> ChatConnection:
    conn = await ChatConnection.open(HOST, port)
    await conn.hello(nick)
    if room:
        await conn.send(Join(room=room))
    return conn


async def recv_until(
    conn: ChatConnection, condition: Callable[[ServerMessage], bool], timeout: float = 10.0
) -> ServerMessage:
    async with asyncio.timeout(timeout):
        while True:
            message = await conn.recv()
            if condition(message):
                return message


def form_shown(app: ChatApp) -> bool:
    """The connect form is up with all its fields (a pushed screen composes a moment later)."""
    from chat_client.screens.connect import ConnectScreen

    return isinstance(app.screen, ConnectScreen) and bool(app.screen.query("#room-key"))
