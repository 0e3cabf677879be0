"""The client against the real server with a SQLite database: accounts, restarts, history, search.

Each test gets its own database in tmp_path; `restart()` reopens it, so the server comes back
with the same `instance`, its ids, rooms and accounts.
"""

from __future__ import annotations

import asyncio

import pytest

from chat_client.net import ChatConnection, HelloRejected
from chat_client.plain import run_plain
from chat_client.session import ConnState
from chat_client.widgets.bars import StatusBar
from protocol import Join, Register, Registered, Say
from tests.client.apptest import (
    HOST,
    chat,
    enter,
    lines,
    make_app,
    recv_until,
    started,
    text_of,
    wait_until,
)
from tests.client.inprocess import InProcessServer

SIZE = (120, 40)
PASSWORD = "alice's long password"


def status(app: object) -> str:
    return chat(app).query_one(StatusBar).status_text().plain  # type: ignore[arg-type]


async def login(
    port: int, nick: str, password: str | None, room: str | None = None
) -> ChatConnection:
    conn = await ChatConnection.open(HOST, port)
    try:
        await conn.hello(nick, account_password=password)
    except BaseException:
        await conn.close()
        raise
    if room:
        await conn.send(Join(room=room))
    return conn


async def test_register_then_a_restart_logs_in_again_and_keeps_since(
    db_server: InProcessServer,
) -> None:
    app = make_app(db_server.port)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        await enter(pilot, f"/register {PASSWORD}")
        await wait_until(pilot, lambda: "logged in as alice" in status(app))
        await enter(pilot, "before the restart")
        await wait_until(pilot, lambda: "before the restart" in text_of(app, "lobby"))
        await asyncio.to_thread(db_server.restart)
        await wait_until(pilot, lambda: text_of(app, "lobby").count("reconnected") == 1)
        await wait_until(pilot, lambda: "logged in as alice" in status(app))
        log = text_of(app, "lobby")
        assert "server restarted" not in log  # the same database: the same instance
        assert log.count("before the restart") == 1
        await enter(pilot, "after the restart")
        await wait_until(pilot, lambda: "after the restart" in text_of(app, "lobby"))
        assert PASSWORD not in "\n".join(lines(app, "lobby") + lines(app, "server"))
        # The nick is the account's now: without the password it is refused.
        with pytest.raises(HelloRejected) as refused:
            await login(db_server.port, "alice", None)
        assert refused.value.error.code == "nick_registered"


async def test_replaced_stops_the_client_until_ctrl_r(db_server: InProcessServer) -> None:
    app = make_app(db_server.port)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        await enter(pilot, f"/register {PASSWORD}")
        await wait_until(pilot, lambda: "logged in as alice" in status(app))
        other = await login(db_server.port, "alice", PASSWORD)  # another device
        await wait_until(pilot, lambda: "another login" in text_of(app, "lobby"))
        await pilot.pause(1.0)
        assert chat(app).session.state is ConnState.OFFLINE
        await pilot.press("ctrl+r")
        await started(pilot)
        await wait_until(pilot, lambda: chat(app).session.connected)
        await wait_until(pilot, lambda: "logged in as alice" in status(app))
        await other.close()


async def test_history_pages_back_to_the_start(db_server: InProcessServer) -> None:
    bob = await login(db_server.port, "bob", None, "lobby")
    for n in range(1, 13):
        await bob.send(Say(room="lobby", text=f"m{n}"))
    app = make_app(db_server.port)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        await wait_until(pilot, lambda: "<bob> m12" in text_of(app, "lobby"))
        await pilot.press("ctrl+l")  # clear: /history starts again from the newest
        await enter(pilot, "/history 5")
        await wait_until(pilot, lambda: "<bob> m8" in text_of(app, "lobby"))
        await enter(pilot, "/history 5")
        await wait_until(pilot, lambda: "<bob> m3" in text_of(app, "lobby"))
        await enter(pilot, "/history 5")
        await wait_until(pilot, lambda: "<bob> m1" in text_of(app, "lobby"))
        log = lines(app, "lobby")
        said = [line.split("<bob> ")[1] for line in log if "<bob> m" in line]
        assert said == [f"m{n}" for n in range(1, 13)]
        assert "start of history" in log[0]
        await enter(pilot, "/search m7")
        await wait_until(pilot, lambda: "end of search" in text_of(app, "lobby"))
        log = lines(app, "lobby")
        block = log[next(i for i, line in enumerate(log) if "search 'm7'" in line) :]
        assert "1 result(s)" in block[0] and block[1].startswith("» ")
        assert block[1].endswith("<bob> m7")
    await bob.close()


async def register(port: int, nick: str) -> None:
    conn = await login(port, nick, None)
    await conn.send(Register(password=PASSWORD))
    await recv_until(conn, lambda m: isinstance(m, Registered))
    await conn.close()


async def test_an_offline_dm_is_stored_and_delivered_at_login(db_server: InProcessServer) -> None:
    await register(db_server.port, "alice")
    app = make_app(db_server.port, nick="bob")
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        await enter(pilot, "/msg alice see you tomorrow")
        await wait_until(pilot, lambda: "stored: alice is offline" in text_of(app, "@alice"))
    out: list[str] = []
    source = asyncio.StreamReader()
    source.feed_eof()

    async def plain() -> int:
        return await run_plain(
            HOST,
            db_server.port,
            "alice",
            None,
            out=out.append,
            account_password=PASSWORD,
            source=source,
        )

    # Line mode ends at once (stdin is empty): the stored DM comes right after welcome.
    async with asyncio.timeout(10):
        await plain()
    assert "logged in as alice" in out[0]
    assert any(
        "<bob -> alice> see you tomorrow (sent while you were offline)" in line for line in out
    ), out


async def test_plain_refused_without_the_password_says_how(db_server: InProcessServer) -> None:
    await register(db_server.port, "alice")
    out: list[str] = []
    source = asyncio.StreamReader()
    source.feed_eof()
    async with asyncio.timeout(10):
        status_code = await run_plain(
            HOST, db_server.port, "alice", None, out=out.append, source=source
        )
    assert status_code == 1
    assert "nick_registered" in out[-1] and "--account-password-file" in out[-1]
