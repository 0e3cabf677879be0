"""Snapshots of the chat screen (pytest-textual-snapshot): a layout regression shows as a picture.

The real app, built by `make_app` as the other client tests build it, against a scripted server
(tests/client/fakeserver.py) whose content is fixed: the nicks, the topic, the history and its
timestamps. What would change from run to run is held still: local time is UTC and the
client's clock stands at NOW (every `datetime` and `date` that a chat_client module imported is
swapped for one whose now() and today() say so), the server answers no ping, so the status line
shows no round trip, and the connection goes to the scripted server's ephemeral port while the
app, and so the screen, says 127.0.0.1:8089. The cursor does not blink.

The scripted server runs on a thread of its own: snap_compare runs the app with `App.run` on
the test's thread, in an event loop of its own.

A changed layout fails here with a report (snapshot_report.html) that shows the two pictures
side by side. When the change is meant, accept it with
`.venv/bin/pytest tests/client/test_snapshots.py --snapshot-update` and commit the .svg files
under tests/client/__snapshots__/ with it.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from textual.pilot import Pilot

from chat_client.conversations import room_key
from chat_client.net import ChatConnection
from chat_client.widgets.chat_log import ChatLog
from protocol import (
    ChatMessage,
    ClientMessage,
    Hello,
    History,
    Join,
    Joined,
    Members,
    Ping,
    ServerInfo,
    Topic,
    Welcome,
)
from protocol.base import WireMessage
from tests.client.apptest import chat, make_app, started, text_of, wait_until
from tests.client.fakeserver import FakeConn, FakeServer

SHOWN_PORT = 8089
NOW = dt.datetime(2026, 3, 14, 9, 20, 30)  # local time (UTC here), naive as datetime.now() is


def _ts(minute: int, second: int = 0) -> str:
    return f"2026-03-14T09:{minute:02d}:{second:02d}.000Z"


LOBBY_HISTORY = [
    ("bob", "morning all", False),
    ("carol", "morning! the release notes are up for review", False),
    ("dave", "waves from the train", True),
    ("bob", "alice: could you look at the TLS section when you have a minute?", False),
    (
        "carol",
        "a longer line, to see how the log wraps it: the reconnect logic now keeps what was "
        "typed while offline and sends it once the server is back, in order",
        False,
    ),
    ("alice", "on it after lunch", False),
]


def _answer(conn: FakeConn, message: ClientMessage) -> list[WireMessage] | None:
    match message:
        case Hello():
            conn.nick = message.nick
            server = ServerInfo(name="wirechat", version="0.1.0")
            return [
                Welcome(
                    nick=message.nick,
                    protocol=message.protocol,
                    server=server,
                    backend="asyncio",
                    instance="snapshots",
                )
            ]
        case Join():
            history = [
                ChatMessage(
                    id=i + 1, room=message.room, nick=nick, text=text, action=action, ts=_ts(i * 3)
                )
                for i, (nick, text, action) in enumerate(LOBBY_HISTORY)
            ]
            return [
                Joined(room=message.room, nick=conn.nick, ts=_ts(20)),
                Topic(room=message.room, topic="release 0.2 on Friday", nick="carol"),
                History(room=message.room, messages=history),
                Members(
                    room=message.room,
                    nicks=[conn.nick, "bob", "carol", "dave"],
                    total=4,
                    roles={"carol": "owner", "bob": "op"},
                ),
            ]
        case Ping():
            return []  # no pong: no round trip time in the status line
    return None


class ThreadedFakeServer:
    """A FakeServer on a thread with an event loop of its own."""

    def __init__(self, answer: Callable[[FakeConn, ClientMessage], Any]) -> None:
        self.answer = answer
        self.port = 0
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._main, name="fake-server", daemon=True)

    def start(self) -> ThreadedFakeServer:
        self._thread.start()
        if not self._ready.wait(10) or not self.port:
            raise RuntimeError("the scripted server did not start")
        return self

    def _main(self) -> None:
        asyncio.run(self._serve())

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        server = FakeServer(self.answer)
        try:
            await server.start()
            self.port = server.port
        finally:
            self._ready.set()
        try:
            await self._stop.wait()
        finally:
            await server.stop()

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)


class FrozenDatetime(dt.datetime):
    @classmethod
    def now(cls, tz: dt.tzinfo | None = None) -> FrozenDatetime:
        return cls.fromtimestamp(NOW.timestamp(), tz)


class FrozenDate(dt.date):
    @classmethod
    def today(cls) -> FrozenDate:
        return cls(NOW.year, NOW.month, NOW.day)


@pytest.fixture
def frozen(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Local time is UTC (the log shows server timestamps in local time), and the client's
    clock stands at NOW (its date lines and the lines it stamps itself)."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    for name, module in list(sys.modules.items()):
        if name == "chat_client" or name.startswith("chat_client."):
            if getattr(module, "datetime", None) is dt.datetime:
                monkeypatch.setattr(module, "datetime", FrozenDatetime)
            if getattr(module, "date", None) is dt.date:
                monkeypatch.setattr(module, "date", FrozenDate)
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.fixture
def scripted(monkeypatch: pytest.MonkeyPatch, frozen: None) -> Iterator[ThreadedFakeServer]:
    server = ThreadedFakeServer(_answer).start()
    real_open = ChatConnection.open

    async def open_scripted(
        cls: type[ChatConnection], host: str, port: int, *args: Any, **kwargs: Any
    ) -> ChatConnection:
        return await real_open(host, server.port, *args, **kwargs)

    monkeypatch.setattr(ChatConnection, "open", classmethod(open_scripted))
    try:
        yield server
    finally:
        server.stop()


async def _in_the_lobby(pilot: Pilot[None]) -> None:
    """Connected, in #lobby, with its whole history in the log and laid out."""
    app = pilot.app
    await started(pilot)  # type: ignore[arg-type]
    await wait_until(pilot, lambda: "on it after lunch" in text_of(app, "lobby"))  # type: ignore[arg-type]
    lobby = chat(app).conversations.get(room_key("lobby"))  # type: ignore[arg-type]
    assert lobby is not None
    log = app.screen.query_one(f"#{lobby.widget_id}", ChatLog)
    await wait_until(pilot, lambda: log.size.width > 0)
    await pilot.pause()


@pytest.mark.parametrize("size", [(80, 24), (140, 40)], ids=["80x24", "140x40"])
def test_chat_screen(
    size: tuple[int, int], scripted: ThreadedFakeServer, snap_compare: Callable[..., bool]
) -> None:
    """The chat screen in #lobby: the status and topic bars, the room list (from 70 columns),
    the member list (from 100 columns), the log with its history, the input and the footer."""
    app = make_app(SHOWN_PORT, nick="alice", room="lobby")
    assert snap_compare(app, terminal_size=size, run_before=_in_the_lobby)
