"""The connect form's status line: a real StatusProbe answered, a silent port, hostile text."""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator

import pytest
from textual.app import App, ComposeResult
from textual.widgets import Input, Static

from chat_client.app import ChatApp
from chat_client.screens.connect import ConnectScreen
from chat_client.widgets.probe_status import ProbeStatus, status_summary
from chat_server.probe import StatusProbe
from tests.client.apptest import form_shown, wait_until
from tests.helpers import ServerProcess

STATUS: dict[str, object] = {
    "name": "wirechat",
    "version": "0.1.0",
    "backend": "uvloop",
    "protocol": 1,
    "users": 1,
    "rooms": 3,
    "uptime": 3725,
}


class _Form(App[None]):
    def compose(self) -> ComposeResult:
        yield ProbeStatus(timeout=0.5, id="status")


@pytest.fixture
def status_probe() -> Iterator[StatusProbe]:
    probe = StatusProbe("127.0.0.1", 0, lambda: STATUS)
    probe.start()
    yield probe
    probe.stop()


def _text(app: App[None]) -> str:
    return str(app.screen.query_one(ProbeStatus).render())


def test_summary_reads_well_and_leaves_out_what_is_missing() -> None:
    assert status_summary(STATUS, 0.0012) == (
        "wirechat 0.1.0 · uvloop · 1 user · 3 rooms · up 1h 2m 5s · 1.2 ms"
    )
    assert status_summary({"users": True, "uptime": -5}, 0.002) == "2.0 ms"


def test_summary_is_inert() -> None:
    line = status_summary({"name": "evil\x1b]2;pwned\x07", "backend": "a\nb"}, 0.001)
    assert "\x1b" not in line and "\x07" not in line and "\n" not in line
    assert "\\x1b" in line


async def test_a_probe_answer_is_shown(status_probe: StatusProbe) -> None:
    app = _Form()
    async with app.run_test(size=(80, 24)) as pilot:
        widget = app.query_one(ProbeStatus)
        assert not widget.display  # nothing to say before the first probe
        widget.probe("127.0.0.1", status_probe.address[1])
        await wait_until(pilot, lambda: "status: wirechat" in _text(app), timeout=5)
        assert "1 user · 3 rooms" in _text(app)
        assert widget.has_class("-up")


async def test_a_silent_port_says_so() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
        silent.bind(("127.0.0.1", 0))  # bound, never answers
        app = _Form()
        async with app.run_test(size=(80, 24)) as pilot:
            widget = app.query_one(ProbeStatus)
            widget.probe("127.0.0.1", silent.getsockname()[1])
            assert "probing 127.0.0.1:" in _text(app)
            await wait_until(pilot, lambda: "no status" in _text(app), timeout=5)
            assert "no answer from 127.0.0.1:" in _text(app)
            assert widget.has_class("-down")


async def test_f2_in_the_connect_form_probes_the_real_server() -> None:
    """The form's host and port, asked over UDP of a real `chat-server --udp`: F2 shows its
    status before connecting; a Unix socket's path is refused with a reason."""
    server = ServerProcess("asyncio", "--udp", "127.0.0.1:0").start()
    try:
        assert await server.logged("answering status probes on udp")
        found = re.search(r"answering status probes on udp \S+:(\d+)", server.output())
        assert found is not None
        app = ChatApp("127.0.0.1", int(found.group(1)), None, None, cursor_blink=False)
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_until(pilot, lambda: form_shown(app))
            screen = app.screen
            assert isinstance(screen, ConnectScreen)
            await pilot.press("f2")
            await wait_until(pilot, lambda: "status: wirechat" in _text(app), timeout=10)
            assert "asyncio · 0 users · 0 rooms" in _text(app)
            screen.query_one("#host", Input).value = "unix:///tmp/nowhere.sock"
            await pilot.pause()
            assert not screen.query_one(ProbeStatus).display  # it spoke of another address
            await pilot.press("f2")
            await pilot.pause()
            error = str(screen.query_one("#connect-error", Static).render())
            assert "a Unix socket has no status probe" in error
    finally:
        server.stop()
