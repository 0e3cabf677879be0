"""The client across server restarts and outages: it says so, reconnects, loses nothing."""

from __future__ import annotations

import random

from chat_client.session import Backoff, ConnState
from protocol import ChatMessage, Say
from tests.client.apptest import (
    chat,
    enter,
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


def fast(app_screen_session: object) -> None:
    app_screen_session.backoff = Backoff(base=0.05, cap=0.3, rng=random.Random(3))  # type: ignore[attr-defined]


async def test_reconnect_after_server_restart(server: InProcessServer) -> None:
    app = make_app(server.port)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        screen = chat(app)
        fast(screen.session)
        bob = await peer(server.port, "bob")
        await enter(pilot, "mine before")
        await wait_until(pilot, lambda: "<alice> mine before" in text_of(app, "lobby"))
        await bob.send(Say(room="lobby", text="before restart"))
        await wait_until(pilot, lambda: "<bob> before restart" in text_of(app, "lobby"))
        await bob.close()
        server.restart()
        await wait_until(pilot, lambda: "disconnected" in text_of(app, "lobby"))
        await wait_until(
            pilot, lambda: "reconnected (the server restarted)" in text_of(app, "lobby")
        )
        assert screen.session.state is ConnState.CONNECTED
        bob = await peer(server.port, "bob")
        await bob.send(Say(room="lobby", text="after restart"))
        await wait_until(pilot, lambda: "<bob> after restart" in text_of(app, "lobby"))
        await enter(pilot, "mine after")
        await recv_until(bob, lambda m: isinstance(m, ChatMessage) and m.text == "mine after")
        await wait_until(pilot, lambda: "<alice> mine after" in text_of(app, "lobby"))
        chat_lines = [line for line in lines(app, "lobby") if "<" in line]
        assert [line.split("  ", 1)[1] for line in chat_lines] == [
            "<alice> mine before",
            "<bob> before restart",
            "<bob> after restart",
            "<alice> mine after",
        ]
        await bob.close()


async def test_gap_is_filled_after_a_dropped_connection(server: InProcessServer) -> None:
    app = make_app(server.port)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        screen = chat(app)
        screen.session.backoff = Backoff(base=0.4, cap=0.4, jitter=0.0)
        bob = await peer(server.port, "bob")
        await bob.send(Say(room="lobby", text="one"))
        await wait_until(pilot, lambda: "<bob> one" in text_of(app, "lobby"))
        assert screen.session._conn is not None
        screen.session._conn.abort()  # only alice's connection drops
        await wait_until(pilot, lambda: screen.session.state is not ConnState.CONNECTED)
        await bob.send(Say(room="lobby", text="two"))
        await bob.send(Say(room="lobby", text="three"))
        await wait_until(pilot, lambda: "<bob> three" in text_of(app, "lobby"))
        await bob.send(Say(room="lobby", text="four"))
        await wait_until(pilot, lambda: "<bob> four" in text_of(app, "lobby"))
        said = [line.split("<bob> ")[1] for line in lines(app, "lobby") if "<bob> " in line]
        assert said == ["one", "two", "three", "four"]
        assert "reconnected" in text_of(app, "lobby")
        await bob.close()


async def test_offline_lines_are_queued_then_sent(server: InProcessServer) -> None:
    app = make_app(server.port)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        screen = chat(app)
        screen.session.backoff = Backoff(base=0.2, cap=0.2, jitter=0.0)
        server.stop()
        await wait_until(pilot, lambda: screen.session.state is not ConnState.CONNECTED)
        status = str(screen.query_one("#status").render())
        assert "reconnecting" in status or "connecting" in status
        await enter(pilot, "typed while offline")
        assert "offline, queued until reconnected: typed while offline" in text_of(app, "lobby")
        await enter(pilot, "/rooms")
        assert "not connected: rooms was not sent" in text_of(app, "lobby")
        await pilot.pause(0.3)
        assert "queued" in str(screen.query_one("#status").render())
        server.start()
        await wait_until(pilot, lambda: "<alice> typed while offline" in text_of(app, "lobby"))
        assert screen.session.pending == 0


async def test_ui_stays_responsive_while_server_is_gone(server: InProcessServer) -> None:
    app = make_app(server.port)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        server.stop()
        screen = chat(app)
        await wait_until(pilot, lambda: screen.session.state is not ConnState.CONNECTED)
        await enter(pilot, "/help")
        await enter(pilot, "/join elsewhere")
        # The UI answers both while offline (rendering may take a frame: wait, bounded).
        await wait_until(pilot, lambda: "/join ROOM" in text_of(app, "lobby"))
        await wait_until(pilot, lambda: "queued" in text_of(app, "lobby"))
