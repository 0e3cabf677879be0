"""The UI-free session: backoff, rejoin with `since`, restart detection, offline outbox."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Callable

import pytest

from chat_client.net import ChatConnection
from chat_client.session import (
    Backoff,
    Connected,
    ConnState,
    Rejected,
    RoundTrip,
    Session,
    SessionEvent,
    StateChanged,
)
from protocol import ChatMessage, History, Join, Say
from tests.client.conftest import HOST
from tests.client.inprocess import InProcessServer


class Recorder:
    """Collects session events and waits for conditions on them, with a timeout."""

    def __init__(self) -> None:
        self.events: list[SessionEvent] = []
        self._changed = asyncio.Event()

    def __call__(self, event: SessionEvent) -> None:
        self.events.append(event)
        self._changed.set()

    async def wait_for(self, test: Callable[[], bool], timeout: float = 10.0) -> None:
        async with asyncio.timeout(timeout):
            while not test():
                self._changed.clear()
                await self._changed.wait()

    def texts(self, room: str = "lobby") -> list[str]:
        out: list[str] = []
        for event in self.events:
            if isinstance(event, ChatMessage) and event.room == room:
                out.append(event.text)
            elif isinstance(event, History) and event.room == room:
                out.extend(m.text for m in event.messages)
        return out

    def count(self, kind: type) -> int:
        return sum(isinstance(e, kind) for e in self.events)


@pytest.fixture
async def peer(server: InProcessServer) -> AsyncIterator[ChatConnection]:
    conn = await ChatConnection.open(HOST, server.port)
    await conn.hello("bob")
    await conn.send(Join(room="lobby"))
    yield conn
    await conn.close()


def fast_backoff() -> Backoff:
    return Backoff(base=0.05, cap=0.2, rng=random.Random(1))


def test_backoff_grows_caps_and_jitters() -> None:
    backoff = Backoff(base=1.0, factor=2.0, cap=10.0, jitter=0.5, rng=random.Random(7))
    delays = [backoff.delay(n) for n in range(8)]
    assert all(0.5 <= d <= 1.0 for d in delays[:1])
    assert all(d <= 10.0 for d in delays)
    assert delays[6] >= 5.0  # capped ceiling 10, at most halved
    assert len(set(delays)) == len(delays)  # jittered


async def run_session(session: Session, rec: Recorder) -> asyncio.Task[None]:
    task = asyncio.create_task(session.run(rec))
    await rec.wait_for(lambda: rec.count(Connected) >= 1)
    return task


async def stop(session: Session, task: asyncio.Task[None]) -> None:
    session.stop()
    async with asyncio.timeout(5):
        await task


async def test_connect_join_say_and_rtt(server: InProcessServer, peer: ChatConnection) -> None:
    rec = Recorder()
    session = Session(HOST, server.port, "alice", rooms=["lobby"], backoff=fast_backoff())
    task = await run_session(session, rec)
    await rec.wait_for(lambda: rec.count(History) >= 1 and rec.count(RoundTrip) >= 1)
    assert session.submit(Say(room="lobby", text="hi bob"))
    await rec.wait_for(lambda: rec.texts() == ["hi bob"])
    await peer.send(Say(room="lobby", text="hi alice"))
    await rec.wait_for(lambda: rec.texts() == ["hi bob", "hi alice"])
    assert "lobby" in session.rooms
    await stop(session, task)
    assert session.state is ConnState.OFFLINE


async def test_fatal_hello_error_stops(server: InProcessServer, peer: ChatConnection) -> None:
    rec = Recorder()
    session = Session(HOST, server.port, "bob", backoff=fast_backoff())
    async with asyncio.timeout(10):
        await session.run(rec)
    rejected = [e for e in rec.events if isinstance(e, Rejected)]
    assert rejected and rejected[0].error.code == "nick_taken"


async def test_reconnect_to_restarted_server_loses_and_doubles_nothing(
    server: InProcessServer,
) -> None:
    rec = Recorder()
    session = Session(HOST, server.port, "alice", rooms=["lobby"], backoff=fast_backoff())
    task = await run_session(session, rec)
    for n in range(3):
        session.submit(Say(room="lobby", text=f"before {n}"))
    await rec.wait_for(lambda: len(rec.texts()) == 3)
    server.restart()  # same port, fresh ids
    await rec.wait_for(lambda: rec.count(Connected) >= 2)
    # Typed while the server was away or just after: nothing is dropped.
    bob = await ChatConnection.open(HOST, server.port)
    await bob.hello("bob")
    await bob.send(Join(room="lobby"))
    await bob.send(Say(room="lobby", text="after restart"))
    await rec.wait_for(lambda: "after restart" in rec.texts())
    session.submit(Say(room="lobby", text="mine after restart"))
    await rec.wait_for(lambda: "mine after restart" in rec.texts())
    connected = [e for e in rec.events if isinstance(e, Connected)]
    assert connected[-1].reconnect and connected[-1].restarted
    assert rec.texts() == [
        "before 0",
        "before 1",
        "before 2",
        "after restart",
        "mine after restart",
    ]
    await bob.close()
    await stop(session, task)


async def test_reconnect_to_same_server_fills_the_gap(server: InProcessServer) -> None:
    rec = Recorder()
    session = Session(HOST, server.port, "alice", rooms=["lobby"], backoff=fast_backoff())
    task = await run_session(session, rec)
    bob = await ChatConnection.open(HOST, server.port)
    await bob.hello("bob")
    await bob.send(Join(room="lobby"))
    await bob.send(Say(room="lobby", text="one"))
    await rec.wait_for(lambda: rec.texts() == ["one"])
    # Drop only alice's connection, then talk while she is away.
    session.backoff = Backoff(base=0.5, cap=0.5, jitter=0.0)
    assert session._conn is not None
    session._conn.abort()
    await rec.wait_for(
        lambda: any(
            isinstance(e, StateChanged) and e.state is ConnState.RECONNECTING for e in rec.events
        )
    )
    await bob.send(Say(room="lobby", text="two"))
    await bob.send(Say(room="lobby", text="three"))
    await rec.wait_for(lambda: rec.count(Connected) >= 2)
    await rec.wait_for(lambda: len(rec.texts()) >= 3)
    await bob.send(Say(room="lobby", text="four"))
    await rec.wait_for(lambda: "four" in rec.texts())
    assert rec.texts() == ["one", "two", "three", "four"]
    connected = [e for e in rec.events if isinstance(e, Connected)]
    assert not connected[-1].restarted
    await bob.close()
    await stop(session, task)


async def test_offline_lines_are_queued_and_sent_after_reconnect(server: InProcessServer) -> None:
    rec = Recorder()
    session = Session(HOST, server.port, "alice", rooms=["lobby"], backoff=fast_backoff())
    task = await run_session(session, rec)
    await rec.wait_for(lambda: rec.count(History) >= 1)
    server.stop()
    await rec.wait_for(lambda: session.state is not ConnState.CONNECTED)
    assert session.submit(Say(room="lobby", text="typed offline")) is False
    with pytest.raises(ValueError):
        from protocol import ListRooms

        session.submit(ListRooms())
    assert session.pending == 1
    server.start()
    await rec.wait_for(lambda: "typed offline" in rec.texts())
    assert session.pending == 0
    await stop(session, task)
