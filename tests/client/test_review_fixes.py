"""Regressions found in review: over-long arguments, forged lines, `#room`, exit status, bursts."""

from __future__ import annotations

from chat_client.plain import PlainClient
from tests.client.apptest import chat, enter, make_app, started, text_of, wait_until
from tests.helpers import ServerProcess

SIZE = (120, 40)
LONG = "x" * 300


async def test_over_long_arguments_give_a_notice_not_a_traceback(server: ServerProcess) -> None:
    app = make_app(server.port)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        for line in (
            f"/join {LONG}",
            f"/leave {LONG}",
            f"/msg {LONG} hi",
            f"/nick {LONG}",
            f"/who {LONG}",
        ):
            await enter(pilot, line)
        await pilot.pause(0.2)
        log = text_of(app, "lobby")
        assert log.count("room name must be at most 64 characters") == 3, log
        assert log.count("nick must be at most 32 characters") == 2, log
        assert "Traceback" not in log and "ValidationError" not in log
        assert chat(app).session.connected
        await enter(pilot, f"/quit {LONG}")
        await wait_until(pilot, lambda: app.return_code is not None)
    assert app.return_code == 0


def test_plain_over_long_arguments_are_notices() -> None:
    client = PlainClient("lobby")
    for line in (f"/join {LONG}", f"/leave {LONG}", f"/msg {LONG} hi", f"/nick {LONG}"):
        result = client.parse(line)
        assert isinstance(result, str) and result.startswith("! not sent:"), result
        assert "\n" not in result
    assert client.room == "lobby"
    assert client.parse(f"/quit {LONG}") is not None
