"""A first run: the server down or a wrong port brings the connect form back with the error
(later drops keep reconnecting), and the nick suggested is the login name, not `guest`."""

from __future__ import annotations

import asyncio
import contextlib
import pwd
import socket
from collections.abc import AsyncIterator

import pytest
from textual.widgets import Input

from chat_client.app import ChatApp
from chat_client.login_name import default_nick
from chat_client.screens.chat import ChatScreen
from chat_client.session import Backoff, ConnState, Session, SessionEvent, StateChanged, Unreachable
from tests.client.apptest import form_shown, make_app, started, wait_until
from tests.client.inprocess import InProcessServer

SIZE = (100, 30)
LOGIN_VARIABLES = ("LOGNAME", "USER", "LNAME", "USERNAME")


def free_port() -> int:
    """A loopback port nothing listens on (it was free a moment ago)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.asynccontextmanager
async def mute_server() -> AsyncIterator[int]:
    """Something that accepts connections and closes them at once: not a wirechat server."""

    async def close(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.close()

    server = await asyncio.start_server(close, "127.0.0.1", 0)
    try:
        yield int(server.sockets[0].getsockname()[1])
    finally:
        server.close()
        await server.wait_closed()


def form_error(app: ChatApp) -> str:
    return str(app.screen.query_one("#connect-error").render())


async def test_no_server_at_start_shows_the_form_with_the_error(server: InProcessServer) -> None:
    port = free_port()
    app = make_app(port)  # a nick is given: no form at first
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: form_shown(app))
        assert form_error(app) == (
            f"cannot connect to 127.0.0.1:{port}: Connection refused (is the server running there?)"
        )
        form = app.screen
        assert form.query_one("#nick", Input).value == "alice"
        assert form.query_one("#room", Input).value == "lobby"
        # Put the right port in and connect: the chat comes up, in the room.
        form.query_one("#port", Input).value = str(server.port)
        form.action_connect()  # type: ignore[attr-defined]
        await started(pilot)


async def test_the_error_shows_on_a_small_terminal() -> None:
    """The form is taller than 24 rows: the error sits above the fields, in sight."""
    app = make_app(free_port())
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: form_shown(app))
        await pilot.pause()
        error = app.screen.query_one("#connect-error")
        assert error.display and error.region.y >= 0 and error.region.bottom <= 24
        assert error.region.bottom <= app.screen.query_one("#host").region.y  # above the fields
        assert "Connection refused" in form_error(app)


async def test_a_port_that_is_not_a_chat_server_shows_the_form() -> None:
    async with mute_server() as port:
        app = make_app(port)
        async with app.run_test(size=SIZE) as pilot:
            await wait_until(pilot, lambda: form_shown(app))
            assert form_error(app).startswith(f"no welcome from 127.0.0.1:{port}: ")


async def test_a_drop_after_the_first_welcome_still_reconnects(server: InProcessServer) -> None:
    app = make_app(server.port)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        screen = app.screen
        assert isinstance(screen, ChatScreen)
        screen.session.backoff = Backoff(base=0.05, cap=0.1, jitter=0.0)
        server.stop()
        await wait_until(pilot, lambda: screen.session.state is ConnState.RECONNECTING)
        await pilot.pause(0.3)  # a few attempts fail meanwhile
        assert app.screen is screen  # no form: it keeps trying
        server.start()
        await wait_until(pilot, lambda: screen.session.state is ConnState.CONNECTED)


async def test_session_first_attempt_policy() -> None:
    port = free_port()
    events: list[SessionEvent] = []
    once = Session("127.0.0.1", port, "alice", retry_first=False)
    await asyncio.wait_for(once.run(events.append), 10)
    assert once.state is ConnState.OFFLINE
    unreachable = [e for e in events if isinstance(e, Unreachable)]
    assert len(unreachable) == 1 and events[-1] is unreachable[0]
    assert unreachable[0].reason.startswith(f"cannot connect to 127.0.0.1:{port}")
    # By default (a bot, a script): the first connection is retried like any other.
    events.clear()
    again = Session("127.0.0.1", port, "alice", backoff=Backoff(base=0.05, cap=0.05))
    task = asyncio.ensure_future(again.run(events.append))
    try:
        async with asyncio.timeout(10):
            while not any(isinstance(e, StateChanged) and e.retry_in for e in events):
                await asyncio.sleep(0.02)
        assert not task.done() and not any(isinstance(e, Unreachable) for e in events)
    finally:
        again.stop()
        await asyncio.wait_for(task, 10)


def _passwd(name: str) -> pwd.struct_passwd:
    return pwd.struct_passwd((name, "x", 1000, 1000, "", f"/home/{name}", "/bin/sh"))


def test_default_nick_is_the_login_name(monkeypatch: pytest.MonkeyPatch) -> None:
    for variable in LOGIN_VARIABLES:
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setattr(pwd, "getpwuid", lambda uid: _passwd("carol"))
    assert default_nick() == "carol"  # $USER unset: the password database
    monkeypatch.setenv("LOGNAME", "dave")
    assert default_nick() == "dave"
    monkeypatch.setenv("LOGNAME", "root")  # reserved: the passwd name is tried next
    assert default_nick() == "carol"
    monkeypatch.setattr(pwd, "getpwuid", lambda uid: _passwd("root"))
    assert default_nick() == "guest"  # only as the last resort

    def missing(uid: int) -> pwd.struct_passwd:
        raise KeyError(f"getpwuid(): uid not found: {uid}")

    monkeypatch.delenv("LOGNAME")
    monkeypatch.setattr(pwd, "getpwuid", missing)
    assert default_nick() == "guest"


async def test_the_form_suggests_the_login_name(monkeypatch: pytest.MonkeyPatch) -> None:
    for variable in LOGIN_VARIABLES:
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setattr(pwd, "getpwuid", lambda uid: _passwd("carol"))
    app = ChatApp("127.0.0.1", free_port(), None, None, cursor_blink=False)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: form_shown(app))
        assert app.screen.query_one("#nick", Input).value == "carol"
