"""The session's side of moderation, against a scripted server.

`killed` and a server ban stop the reconnecting (as `replaced` does), a room's ban does not;
the key a room was joined with is kept for the rejoins; a room we were kicked from is not
rejoined.
"""

from __future__ import annotations

import asyncio

from chat_client.session import Connected, ConnState, Halted, Rejected, Session
from protocol import (
    ClientMessage,
    Error,
    Hello,
    Join,
    Joined,
    Kicked,
    Mode,
    ModeChanged,
)
from protocol.base import WireMessage
from tests.client.fakeserver import TS, FakeConn, FakeServer
from tests.client.test_session import Recorder
from tests.client.test_session_accounts import fake, fast, finish, start

__all__ = ["fake"]  # the fixture, shared with the account tests


def joins(server: FakeServer, conn: int) -> list[Join]:
    return [m for m in server.conns[conn - 1].received if isinstance(m, Join)]


async def test_killed_halts_until_asked_to_connect_again(fake: FakeServer) -> None:
    rec = Recorder()
    session = Session(fake.host, fake.port, "alice", rooms=["lobby"], backoff=fast())
    task = await start(session, rec)
    fake.conns[0].send(Error(code="killed", message="killed by root: spam", fatal=True))
    fake.conns[0].close()
    await rec.wait_for(lambda: rec.count(Halted) == 1)
    halted = next(e for e in rec.events if isinstance(e, Halted))
    assert halted.error.code == "killed" and session.state is ConnState.OFFLINE
    await asyncio.sleep(0.3)  # many backoff delays: no new connection
    assert len(fake.conns) == 1
    session.retry_now()
    await rec.wait_for(lambda: rec.count(Connected) == 2)
    await finish(session, task)


async def test_a_server_ban_halts_a_room_ban_does_not(fake: FakeServer) -> None:
    rec = Recorder()
    session = Session(fake.host, fake.port, "alice", backoff=fast())
    task = await start(session, rec)
    fake.conns[0].send(Error(code="banned", message="banned from dev until tomorrow"))
    await asyncio.sleep(0.1)
    assert session.connected and rec.count(Halted) == 0
    fake.conns[0].send(Error(code="banned", message="server ban: spam", fatal=True))
    fake.conns[0].close()
    await rec.wait_for(lambda: rec.count(Halted) == 1)
    await asyncio.sleep(0.2)
    assert len(fake.conns) == 1
    await finish(session, task)


async def test_a_server_ban_at_hello_is_a_rejection_then_a_halt(fake: FakeServer) -> None:
    banned = True

    def answer(conn: FakeConn, message: ClientMessage) -> list[WireMessage] | None:
        if isinstance(message, Hello) and banned:
            return [Error(code="banned", message="server ban", fatal=True)]
        return None

    fake.answer = answer
    rec = Recorder()
    first = Session(fake.host, fake.port, "alice", backoff=fast())
    async with asyncio.timeout(5):
        await first.run(rec)  # the first connection: the UI shows the form again
    assert [e.error.code for e in rec.events if isinstance(e, Rejected)] == ["banned"]
    banned = False
    rec = Recorder()
    session = Session(fake.host, fake.port, "alice", backoff=fast())
    task = await start(session, rec)
    banned = True
    fake.conns[-1].close()  # a reconnect meets the ban: stop, do not hammer the server
    await rec.wait_for(lambda: rec.count(Halted) == 1)
    count = len(fake.conns)
    await asyncio.sleep(0.2)
    assert len(fake.conns) == count
    await finish(session, task)


async def test_the_join_key_is_kept_for_rejoining(fake: FakeServer) -> None:
    rec = Recorder()
    session = Session(
        fake.host, fake.port, "alice", rooms=["lobby"], keys={"lobby": "k1"}, backoff=fast()
    )
    task = await start(session, rec)
    await rec.wait_for(lambda: "lobby" in session.rooms)
    assert joins(fake, 1) == [Join(room="lobby", key="k1")]
    session.submit(Join(room="dev", key="k2"))
    session.submit(Join(room="open"))
    await rec.wait_for(lambda: {"dev", "open"} <= set(session.rooms))
    fake.conns[0].close()
    await rec.wait_for(lambda: rec.count(Connected) == 2)
    await fake.wait_for(lambda: len(joins(fake, 2)) == 3)
    assert {(j.room, j.key) for j in joins(fake, 2)} == {
        ("lobby", "k1"),
        ("dev", "k2"),
        ("open", None),
    }
    assert "k1" not in repr(session.rooms)  # a key is never in a repr (or a log line)
    await finish(session, task)


async def test_a_key_we_set_is_the_one_we_rejoin_with(fake: FakeServer) -> None:
    def answer(conn: FakeConn, message: ClientMessage) -> list[WireMessage] | None:
        if isinstance(message, Mode) and message.key is not None:
            return [ModeChanged(room=message.room, by="alice", ts=TS, key=bool(message.key))]
        return None

    fake.answer = answer
    rec = Recorder()
    session = Session(fake.host, fake.port, "alice", rooms=["lobby"], backoff=fast())
    task = await start(session, rec)
    await rec.wait_for(lambda: "lobby" in session.rooms)
    session.submit(Mode(room="lobby", key="new-key"))
    await rec.wait_for(lambda: session.rooms["lobby"].key == "new-key")
    session.submit(Mode(room="lobby", key=""))
    await rec.wait_for(lambda: session.rooms["lobby"].key is None)
    await finish(session, task)


async def test_a_room_we_were_kicked_from_is_not_rejoined(fake: FakeServer) -> None:
    rec = Recorder()
    session = Session(fake.host, fake.port, "alice", rooms=["lobby", "dev"], backoff=fast())
    task = await start(session, rec)
    await rec.wait_for(lambda: {"lobby", "dev"} <= set(session.rooms))
    fake.conns[0].send(Kicked(room="dev", nick="ALICE", by="bob", ts=TS))
    fake.conns[0].send(Kicked(room="lobby", nick="carol", by="bob", ts=TS))
    await rec.wait_for(lambda: "dev" not in session.rooms)
    assert "lobby" in session.rooms
    fake.conns[0].close()
    await rec.wait_for(lambda: rec.count(Connected) == 2)
    await fake.wait_for(lambda: len(joins(fake, 2)) >= 1)
    await asyncio.sleep(0.1)
    assert [j.room for j in joins(fake, 2)] == ["lobby"]
    assert any(isinstance(e, Joined) for e in rec.events)
    await finish(session, task)
