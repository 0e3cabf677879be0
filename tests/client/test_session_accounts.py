"""The session's side of accounts and history paging, against a scripted server.

Logging in on every hello, `login()`, halting on `replaced` and on a refused login, the
passwords `register` / `passwd` leave behind, pages of older messages, and `since` across a
restart of the same database (same `instance`).
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator

import pytest

from chat_client.session import (
    Backoff,
    Connected,
    ConnState,
    Halted,
    Rejected,
    Session,
)
from protocol import (
    Bye,
    ChangeNick,
    ChatMessage,
    ClientMessage,
    Error,
    GetHistory,
    Hello,
    History,
    Join,
    NickChanged,
    Passwd,
    PasswdChanged,
    Quit,
    Register,
    Registered,
    Say,
    Unregister,
    Unregistered,
)
from protocol.base import WireMessage as _Message
from tests.client.fakeserver import TS, FakeConn, FakeServer, welcome
from tests.client.test_session import Recorder


def fast() -> Backoff:
    return Backoff(base=0.02, cap=0.05, rng=random.Random(3))


def msg(id: int, text: str = "", room: str = "lobby") -> ChatMessage:
    return ChatMessage(id=id, room=room, nick="bob", text=text or f"m{id}", action=False, ts=TS)


_RUNNING: list[tuple[Session, asyncio.Task[None]]] = []


@pytest.fixture
async def fake() -> AsyncIterator[FakeServer]:
    server = await FakeServer().start()
    yield server
    # A failed test leaves its session running: stop it before the server goes.
    while _RUNNING:
        await finish(*_RUNNING.pop())
    await server.stop()


async def start(session: Session, rec: Recorder, connections: int = 1) -> asyncio.Task[None]:
    task = asyncio.create_task(session.run(rec))
    _RUNNING.append((session, task))
    await rec.wait_for(lambda: rec.count(Connected) >= connections)
    return task


async def finish(session: Session, task: asyncio.Task[None]) -> None:
    session.stop()
    async with asyncio.timeout(5):
        await task
    if (session, task) in _RUNNING:
        _RUNNING.remove((session, task))


def auths(fake: FakeServer) -> list[str | None]:
    return [h.auth.password if h.auth else None for h in fake.hellos]


async def test_every_hello_logs_in_reconnects_included(fake: FakeServer) -> None:
    rec = Recorder()
    session = Session(fake.host, fake.port, "alice", account_password="s3cret pw", backoff=fast())
    task = await start(session, rec)
    assert session.account == "alice"
    fake.conns[0].close()  # dropped: the session reconnects by itself
    await rec.wait_for(lambda: rec.count(Connected) >= 2)
    assert auths(fake) == ["s3cret pw", "s3cret pw"]
    assert all(h.password is None for h in fake.hellos)  # that is the server's password
    await finish(session, task)


async def test_without_a_password_hello_has_no_auth(fake: FakeServer) -> None:
    rec = Recorder()
    session = Session(fake.host, fake.port, "alice", backoff=fast())
    task = await start(session, rec)
    assert auths(fake) == [None] and session.account is None
    await finish(session, task)


async def test_replaced_halts_until_asked_to_connect_again(fake: FakeServer) -> None:
    rec = Recorder()
    session = Session(
        fake.host, fake.port, "alice", account_password="pw", rooms=["lobby"], backoff=fast()
    )
    task = await start(session, rec)
    fake.conns[0].send(Error(code="replaced", message="logged in elsewhere", fatal=True))
    fake.conns[0].close()
    await rec.wait_for(lambda: rec.count(Halted) == 1)
    halted = next(e for e in rec.events if isinstance(e, Halted))
    assert halted.error.code == "replaced"
    assert session.state is ConnState.OFFLINE and session.halted is not None
    await asyncio.sleep(0.3)  # many backoff delays: still no new connection
    assert len(fake.conns) == 1
    session.retry_now()  # ctrl+r: take the nick back
    await rec.wait_for(lambda: rec.count(Connected) == 2)
    assert len(fake.conns) == 2 and session.halted is None
    assert auths(fake) == ["pw", "pw"]
    await finish(session, task)


async def test_refused_login_on_the_first_connection_is_a_rejection(fake: FakeServer) -> None:
    def refuse(conn: FakeConn, message: ClientMessage) -> list[_Message] | None:
        if isinstance(message, Hello):
            return [Error(code="nick_registered", message="alice is registered")]
        return None

    fake.answer = refuse
    rec = Recorder()
    session = Session(fake.host, fake.port, "alice", backoff=fast())
    async with asyncio.timeout(5):
        await session.run(rec)
    rejected = [e for e in rec.events if isinstance(e, Rejected)]
    assert [r.error.code for r in rejected] == ["nick_registered"]


async def test_nick_registered_on_a_reconnect_halts_and_login_goes_on(fake: FakeServer) -> None:
    registered = False

    def answer(conn: FakeConn, message: ClientMessage) -> list[_Message] | None:
        if isinstance(message, Hello) and registered and message.auth is None:
            return [Error(code="nick_registered", message="alice is registered")]
        if (
            isinstance(message, Hello)
            and message.auth is not None
            and message.auth.password != "right password"
        ):
            return [Error(code="bad_login", message="wrong password")]
        return None

    fake.answer = answer
    rec = Recorder()
    session = Session(fake.host, fake.port, "alice", rooms=["lobby"], backoff=fast())
    task = await start(session, rec)
    await rec.wait_for(lambda: "lobby" in session.rooms)
    registered = True  # someone registered the nick while we were away
    fake.conns[0].close()
    await rec.wait_for(lambda: rec.count(Halted) == 1)
    count = len(fake.conns)
    await asyncio.sleep(0.2)
    assert len(fake.conns) == count  # no retrying meanwhile
    session.login("wrong password")
    await rec.wait_for(lambda: rec.count(Halted) == 2)
    assert [e.error.code for e in rec.events if isinstance(e, Halted)] == [
        "nick_registered",
        "bad_login",
    ]
    session.login("right password")
    await rec.wait_for(lambda: rec.count(Connected) == 2)
    assert session.account == "alice" and session.connected
    assert fake.received(Join)[-1] == Join(room="lobby")  # rejoined
    await finish(session, task)


async def test_login_while_connected_quits_and_connects_again_with_auth(fake: FakeServer) -> None:
    rec = Recorder()
    session = Session(fake.host, fake.port, "alice", rooms=["lobby"], backoff=fast())
    task = await start(session, rec)
    await rec.wait_for(lambda: "lobby" in session.rooms)
    fake.conns[0].send(History(room="lobby", messages=[msg(7)]))
    await rec.wait_for(lambda: "lobby" in session.rooms and session.rooms["lobby"].last_id == 7)
    session.submit(Say(room="lobby", text="before the login"))
    session.login("pw pw pw")
    session.submit(Say(room="lobby", text="after the login"))
    await rec.wait_for(lambda: rec.count(Connected) == 2)
    await fake.wait_for(lambda: len(fake.received(Say)) == 2)
    first, second = fake.conns[0].received, fake.conns[1].received
    says = [m.text for m in first if isinstance(m, Say)]
    assert says == ["before the login"] and isinstance(first[-1], Quit)
    assert auths(fake) == [None, "pw pw pw"]
    assert Join(room="lobby", since=7) in second
    assert [m.text for m in second if isinstance(m, Say)] == ["after the login"]
    assert rec.count(Bye) == 0  # the goodbye to our own quit is not news
    connected = [e for e in rec.events if isinstance(e, Connected)]
    assert connected[-1].reconnect and not connected[-1].restarted
    await finish(session, task)


async def test_register_passwd_unregister_set_the_password_for_next_logins(
    fake: FakeServer,
) -> None:
    def answer(conn: FakeConn, message: ClientMessage) -> list[_Message] | None:
        match message:
            case Register():
                return [Registered(account=conn.nick)]
            case Passwd() if message.old == "first password":
                return [PasswdChanged()]
            case Passwd():
                return [Error(code="bad_password", message="wrong password")]
            case Unregister():
                return [Unregistered(account=conn.nick)]
        return None

    fake.answer = answer
    rec = Recorder()
    session = Session(fake.host, fake.port, "alice", backoff=fast())
    task = await start(session, rec)

    async def reconnect() -> None:
        count = rec.count(Connected)
        assert session._conn is not None
        session._conn.abort()
        await rec.wait_for(lambda: rec.count(Connected) > count)

    session.submit(Register(password="first password"))
    await rec.wait_for(lambda: rec.count(Registered) == 1)
    assert session.account == "alice" and session.account_password == "first password"
    await reconnect()
    session.submit(Passwd(old="not it", new="never used"))
    await rec.wait_for(lambda: rec.count(Error) == 1)
    assert session.account_password == "first password"
    session.submit(Passwd(old="first password", new="second password"))
    await rec.wait_for(lambda: rec.count(PasswdChanged) == 1)
    await reconnect()
    session.submit(Unregister(password="second password"))
    await rec.wait_for(lambda: rec.count(Unregistered) == 1)
    assert session.account is None and session.account_password is None
    await reconnect()
    assert auths(fake) == [None, "first password", "second password", None]
    await finish(session, task)


async def test_a_page_of_older_messages_is_not_dropped_as_seen(fake: FakeServer) -> None:
    rec = Recorder()
    session = Session(fake.host, fake.port, "alice", rooms=["lobby"], backoff=fast())
    task = await start(session, rec)
    await rec.wait_for(lambda: "lobby" in session.rooms)
    conn = fake.conns[0]
    conn.send(History(room="lobby", messages=[msg(10), msg(11)]))
    await rec.wait_for(lambda: rec.texts() == ["m10", "m11"])
    session.submit(GetHistory(room="lobby", before=10, limit=2))
    await fake.wait_for(lambda: bool(fake.received(GetHistory)))
    conn.send(History(room="lobby", messages=[msg(8), msg(9)], before=10))
    conn.send(History(room="lobby", messages=[msg(5)], before=8, complete=True))
    await rec.wait_for(lambda: len(rec.texts()) == 5)
    assert rec.texts() == ["m10", "m11", "m8", "m9", "m5"]
    assert session.rooms["lobby"].last_id == 11  # a page does not move the mark
    # ... while a replay of what was seen still is dropped.
    conn.send(History(room="lobby", messages=[msg(11), msg(12)]))
    await rec.wait_for(lambda: "m12" in rec.texts())
    assert rec.texts().count("m11") == 1
    await finish(session, task)


@pytest.mark.parametrize("same_database", [True, False])
async def test_since_survives_a_restart_of_the_same_database(
    fake: FakeServer, same_database: bool
) -> None:
    instances = iter(["db-1", "db-1" if same_database else "db-2"])

    def answer(conn: FakeConn, message: ClientMessage) -> list[_Message] | None:
        if isinstance(message, Hello):
            conn.nick = message.nick
            return [welcome(message.nick, instance=next(instances))]
        return None

    fake.answer = answer
    rec = Recorder()
    session = Session(fake.host, fake.port, "alice", rooms=["lobby"], backoff=fast())
    task = await start(session, rec)
    await rec.wait_for(lambda: "lobby" in session.rooms)
    fake.conns[0].send(msg(41), msg(42))
    await rec.wait_for(lambda: rec.texts() == ["m41", "m42"])
    await fake.stop()  # the server restarts on the same port
    await rec.wait_for(lambda: session.state is not ConnState.CONNECTED)
    fake._server = None
    await fake.start()
    await rec.wait_for(lambda: rec.count(Connected) == 2)
    await fake.wait_for(lambda: len(fake.received(Join)) == 2)
    rejoin = fake.received(Join)[-1]
    connected = [e for e in rec.events if isinstance(e, Connected)][-1]
    if same_database:
        assert rejoin == Join(room="lobby", since=42) and not connected.restarted
    else:
        assert rejoin == Join(room="lobby") and connected.restarted
    await finish(session, task)


async def test_a_reconnect_after_a_nick_change_logs_in_as_the_account(fake: FakeServer) -> None:
    def answer(conn: FakeConn, message: ClientMessage) -> list[_Message] | None:
        if isinstance(message, ChangeNick):
            old, conn.nick = conn.nick, message.nick
            return [NickChanged(old=old, new=message.nick)]
        return None

    fake.answer = answer
    rec = Recorder()
    session = Session(
        fake.host, fake.port, "alice", account_password="pw", rooms=["lobby"], backoff=fast()
    )
    task = await start(session, rec)
    await rec.wait_for(lambda: "lobby" in session.rooms)
    session.submit(ChangeNick(nick="alice_away"))
    await rec.wait_for(lambda: session.nick == "alice_away")
    assert session._conn is not None
    session._conn.abort()
    await rec.wait_for(lambda: rec.count(Connected) == 2)
    await rec.wait_for(lambda: session.nick == "alice_away")
    assert [h.nick for h in fake.hellos] == ["alice", "alice"]  # the account is named by it
    assert fake.conns[1].received[1] == ChangeNick(nick="alice_away")
    assert session.account == "alice"
    await finish(session, task)


async def test_a_password_hello_cannot_carry_is_refused_without_quoting_it() -> None:
    from chat_client.net import ChatConnection

    reader = asyncio.StreamReader()
    conn = ChatConnection(reader, None)  # type: ignore[arg-type]
    secret = "p" * 300
    with pytest.raises(ValueError) as refused:
        await conn.hello("alice", account_password=secret)
    assert secret not in str(refused.value) and "ppp" not in repr(refused.value)
