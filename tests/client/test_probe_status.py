"""The connect form's status line: a real StatusProbe answered, a silent port, hostile text."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
from textual.app import App, ComposeResult

from chat_client.widgets.probe_status import ProbeStatus, status_summary
from chat_server.probe import StatusProbe
from tests.client.apptest import wait_until

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
    return str(app.query_one(ProbeStatus).render())


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
