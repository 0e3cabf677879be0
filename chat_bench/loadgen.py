"""The load generator: a worker process that drives one scenario's connections and checks them.

`worker_main` runs in a separate process pinned to the load CPU. It talks to chat-bench over a
pipe in phases (connect, go, report) so several workers can share one run, and it counts and
checks every delivery itself: members find message markers with one regular expression per read
(see `chat_bench.wire`), so the generator's cost per delivery stays small.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import json
import os
import re
import ssl
import time
from array import array
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any, TypeVar, cast

from chat_bench import wire
from chat_bench.runner import LOAD_CPU, normal_priority, pin_self, raise_nofile

T = TypeVar("T")
Msg = tuple[str, dict[str, Any]]

CONNECT_TIMEOUT = 10.0
_PAD = b"x" * wire.TEXT_SIZE
MIN_SLEEP = 0.001
SENDER_NICE = -10
_REDIS_SUBSCRIBED = re.compile(rb"subscribe\r\n\$\d+\r\n[^\r]*\r\n:\d+\r\n")


@dataclass
class Job:
    """Everything one worker needs for its share of one run."""

    scenario: str  # fanout, latency, idle, churn, flood
    kind: str  # chat, naive, redis
    host: str
    port: int
    worker: int = 0
    workers: int = 1
    clients: int = 10  # room size (fanout, latency), connections (idle)
    publishers: int = 4
    window: int = 128
    duration: float = 3.0
    rate: float = 200.0  # latency: messages per second offered to the room
    concurrency: int = 32  # churn: sessions in flight
    warmup: float = 0.5  # churn: seconds of sessions before the baseline is taken
    probes: int = 20  # idle: messages timed while the connections are held
    room_size: int = 10  # idle: members per room
    drain_timeout: float = 20.0
    # fanout: members that do not publish read at most once per this many seconds (0: at once)
    read_interval: float = 0.005
    # fanout: messages the room may be ahead of its slowest reader (keeps every member's
    # backlog far below the server's --max-outbuf, so no one is dropped as a slow consumer)
    room_window: int = 2048
    # flood: "observers" (timed members of a few rooms) or "flooder" (one pipelining sender)
    role: str = ""
    observer_rate: float = 50.0  # flood: messages per second each observer says
    observer_rooms: int = 3  # flood: rooms the observers are spread over
    flooder_address: str = "127.0.0.2"  # flood: local address the flooder binds to
    pin: bool = True
    members: list[int] = field(default_factory=list)
    tls: bool = False  # connect with TLS (the server's certificate is not checked)
    unix_path: str = ""  # connect to this Unix socket instead of host:port
    # Before every nick: on a Unix socket the server wants the login name first ("alice-").
    nick_prefix: str = ""


# ----------------------------------------------------------------- plumbing


class Channel:
    """The worker's end of the pipe, readable from the event loop."""

    def __init__(self, conn: Connection, loop: asyncio.AbstractEventLoop) -> None:
        self.conn = conn
        self.queue: asyncio.Queue[Msg] = asyncio.Queue()
        loop.add_reader(conn.fileno(), self._readable)

    def _readable(self) -> None:
        try:
            while self.conn.poll():
                self.queue.put_nowait(self.conn.recv())
        except (EOFError, OSError):
            self.queue.put_nowait(("abort", {"reason": "chat-bench went away"}))

    async def recv(self, timeout: float) -> Msg:
        return await asyncio.wait_for(self.queue.get(), timeout)

    async def expect(self, name: str, timeout: float) -> dict[str, Any]:
        kind, body = await self.recv(timeout)
        if kind != name:
            raise RuntimeError(f"expected {name} from chat-bench, got {kind}: {body}")
        return body

    def send(self, kind: str, **body: Any) -> None:
        # The event loop made the pipe non-blocking; a large result must still go out whole.
        os.set_blocking(self.conn.fileno(), True)
        self.conn.send((kind, body))


async def open_to(
    loop: asyncio.AbstractEventLoop,
    factory: Callable[[], asyncio.Protocol],
    job: Job,
    local_addr: tuple[str, int] | None = None,
) -> tuple[asyncio.BaseTransport, asyncio.Protocol]:
    """Connect one client the way the run says: TCP, TLS over TCP, or a Unix socket."""
    if job.unix_path:
        return await loop.create_unix_connection(factory, job.unix_path)
    return await loop.create_connection(
        factory, job.host, job.port, ssl=client_tls(job), local_addr=local_addr
    )


def _same(proto: asyncio.Protocol) -> asyncio.Protocol:
    """A protocol factory that gives `proto` (bound with functools.partial)."""
    return proto


def client_tls(job: Job) -> ssl.SSLContext | None:
    """For a TLS run: a client context that encrypts and checks nothing (the bench measures
    the cost of the encryption, not of trust)."""
    if not job.tls:
        return None
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


class Failure(Exception):
    """The run is wrong (lost, duplicated or refused messages, dropped members)."""


async def bounded(aw: Awaitable[T], timeout: float, what: str) -> T:
    try:
        return await asyncio.wait_for(aw, timeout)
    except TimeoutError:
        raise Failure(f"timed out after {timeout:g}s waiting for {what}") from None


# ----------------------------------------------------------------- members


class Gen:
    """State shared by the members of one worker: the room's order and the delivery target."""

    def __init__(self, job: Job) -> None:
        self.job = job
        self.loop = asyncio.get_running_loop()
        self.order = wire.OrderCheck()
        self.failures: list[str] = []
        self.target = 0  # members wait until they have seen this many messages
        self.waiting = 0
        self.all_done: asyncio.Future[None] | None = None
        self.latencies: array[float] | None = None
        self.t0 = 0.0
        self.publishers = max(1, job.publishers)
        self.rate = job.rate
        self.batching = False
        self.paused: list[Member] = []
        # fanout: members that do not publish compare their bytes with one reference stream
        self.byte_mode = False
        self.ref = wire.ReferenceStream(self.order)
        self.members: list[Member] = []
        # fanout flow control: messages sent by this worker's publishers, and how many the
        # slowest reader has received (updated every read tick)
        self.pubs: list[Publisher] = []
        self.sent = 0
        self.floor = 0
        self.room_window = job.room_window

    async def read_ticker(self) -> None:
        """Let every paused member read once per interval: one read then takes many messages."""
        interval = self.job.read_interval
        ticks = 0
        while True:
            await asyncio.sleep(interval)
            paused, self.paused = self.paused, []
            for member in paused:
                if member.transport is not None:
                    member.transport.resume_reading()
            ticks += 1
            if not self.byte_mode:
                continue
            readers = [m.offset for m in self.members if m.publisher is None]
            if readers:
                slowest = min(readers)
                self.floor = self.ref.messages_before(slowest)
                if ticks % 20 == 0:
                    self.ref.drop_before(slowest)
            for publisher in self.pubs:
                publisher.pump()

    def fail(self, why: str) -> None:
        if len(self.failures) < 20:
            self.failures.append(why)
        if self.all_done is not None and not self.all_done.done():
            self.all_done.set_exception(Failure(why))

    def wait_for(self, members: list[Member], target: int) -> asyncio.Future[None]:
        self.target = target
        self.all_done = self.loop.create_future()
        self.waiting = 0
        for member in members:
            member.counted = member.delivered() >= target
            if not member.counted:
                self.waiting += 1
                member.tracked = True
        if self.waiting == 0:
            self.all_done.set_result(None)
        return self.all_done

    def reached(self) -> None:
        self.waiting -= 1
        if self.waiting == 0 and self.all_done is not None and not self.all_done.done():
            self.all_done.set_result(None)


class Member(asyncio.Protocol):
    """One connection in the room: handshake first, then counting and checking markers."""

    def __init__(self, gen: Gen, index: int, kind: str, room: str) -> None:
        self.gen = gen
        self.index = index
        self.kind = kind
        self.room = room
        self.transport: asyncio.Transport | None = None
        self.ready: asyncio.Future[None] = gen.loop.create_future()
        self.handshake: wire.FrameReader | None = wire.FrameReader()
        self.redis_buf = b""
        self.scanner = wire.MarkerScanner()
        self.position = 0  # messages received (markers), when checked one by one
        self.offset = 0  # bytes received since the sync, when compared with the reference
        self.last = 0.0
        self.counted = False
        self.awaiting = "members"
        self.synced: asyncio.Future[None] | None = None
        self.tracked = False
        self.publisher: Publisher | None = None
        self.closing = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        nick = f"{self.gen.job.nick_prefix}m{self.gen.job.worker}x{self.index}"
        if self.kind == "redis":
            self.transport.write(wire.resp(b"SUBSCRIBE", self.room.encode()))
        else:
            self.transport.write(wire.chat_hello(nick) + wire.chat_join(self.room))

    def data_received(self, data: bytes) -> None:
        if self.handshake is not None:
            self._handshake(data)
            return
        gen = self.gen
        if gen.batching and self.publisher is None and self.transport is not None:
            self.transport.pause_reading()
            gen.paused.append(self)
        if b'"type":"error"' in data:
            gen.fail(f"member {self.index} got an error: {data[:300]!r}")
        if gen.byte_mode and self.publisher is None:
            if not gen.ref.feed(self.offset, data):
                gen.fail(f"member {self.index} received other bytes than the rest of the room")
            self.offset += len(data)
            self.last = time.monotonic()
            if self.tracked and not self.counted and self.delivered() >= gen.target:
                self.counted = True
                gen.reached()
            return
        marks = self.scanner.feed(data)
        if not marks:
            return
        now = time.monotonic()
        position = gen.order.advance(self.position, marks)
        if position is None:
            gen.fail(f"member {self.index} saw messages in another order or twice: {marks[:3]}")
            return
        self.position = position
        self.last = now
        latencies = gen.latencies
        if latencies is not None:
            t0 = gen.t0
            step = 1.0 / gen.rate
            pubs = gen.publishers
            for mark in marks:
                pub, seq = wire.split_marker(mark)
                latencies.append(now - (t0 + (seq * pubs + pub) * step))
        if self.publisher is not None:
            self.publisher.echoed_marks(marks)
        if self.tracked and not self.counted and position >= gen.target:
            self.counted = True
            gen.reached()

    def delivered(self) -> int:
        if self.gen.byte_mode and self.publisher is None:
            return self.gen.ref.messages_before(self.offset)
        return self.position

    def sync(self) -> asyncio.Future[None]:
        """Ping and read every frame up to the pong: after it, only room messages arrive."""
        self.synced = self.gen.loop.create_future()
        if self.kind == "redis" or self.transport is None:
            self.synced.set_result(None)
            return self.synced
        self.handshake = wire.FrameReader()
        self.awaiting = "pong"
        self.transport.write(wire.chat_ping("sync"))
        return self.synced

    def _handshake(self, data: bytes) -> None:
        if self.kind == "redis":
            self.redis_buf += data
            if _REDIS_SUBSCRIBED.search(self.redis_buf):
                self.handshake = None
                self.ready.set_result(None)
            return
        assert self.handshake is not None
        for msg in self.handshake.feed(data):
            kind = msg.get("type")
            if kind == "error":
                self.gen.fail(f"member {self.index} refused: {msg}")
                if not self.ready.done():
                    self.ready.set_exception(Failure(f"member {self.index} refused: {msg}"))
                return
            if kind == self.awaiting:
                rest = bytes(self.handshake.buffer)
                self.handshake = None
                done = self.synced if kind == "pong" else self.ready
                if done is not None and not done.done():
                    done.set_result(None)
                if rest:
                    self.data_received(rest)
                return

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closing:
            self.gen.fail(f"member {self.index} was disconnected ({exc or 'closed by server'})")
            if not self.ready.done():
                self.ready.set_exception(Failure(f"member {self.index} disconnected"))
        self.transport = None

    def close(self) -> None:
        self.closing = True
        if self.transport is not None:
            self.transport.abort()


class Publisher:
    """Sends the room's messages through a member connection (or, for Redis, its own one)."""

    def __init__(self, gen: Gen, pub: int, member: Member, out: asyncio.Transport) -> None:
        self.gen = gen
        self.pub = pub
        self.member = member
        self.out = out
        self.prefix = b" p%ds" % pub
        self.sent = 0
        self.echoed = 0
        self.window = gen.job.window
        self.stopped = True
        self.room = member.room
        self.nick = f"m{gen.job.worker}x{member.index}"
        self.redis = member.kind == "redis"
        # Everything around the text is the same for every message: build it once. The result
        # is what wire.chat_say / wire.redis_payload would give (tests/bench/test_wire.py).
        if self.redis:
            probe = wire.redis_payload(self.room, self.nick, "\0")
            self._head, _, self._tail = probe.partition(b"\\u0000")
            channel = self.room.encode()
            self._resp = b"*3\r\n$7\r\nPUBLISH\r\n$%d\r\n%s\r\n" % (len(channel), channel)
        else:
            probe = wire.chat_say(self.room, "\0", ref="R")[4:]
            self._head = probe.partition(b"\\u0000")[0]
            self._tail = b""
            self._resp = b""

    def build(self, seq: int) -> bytes:
        """Message `seq` of this publisher: a `say` frame, or a Redis PUBLISH (from templates)."""
        head = b"p%ds%d " % (self.pub, seq)
        text = head + _PAD[: wire.TEXT_SIZE - len(head)]
        if self.redis:
            payload = self._head + text + self._tail
            return self._resp + b"$%d\r\n%s\r\n" % (len(payload), payload)
        body = self._head + text + b'","ref":"%d-%d"}' % (self.pub, seq)
        return len(body).to_bytes(4, "big") + body

    def send_one(self) -> None:
        self.out.write(self.build(self.sent))
        self.sent += 1

    def pump(self) -> None:
        """Send while this publisher's window and the room's window both allow it."""
        if self.stopped:
            return
        gen = self.gen
        room_room = gen.room_window - (gen.sent - gen.floor)
        count = min(self.window - (self.sent - self.echoed), room_room)
        if count <= 0:
            return
        first = self.sent
        self.out.write(b"".join([self.build(seq) for seq in range(first, first + count)]))
        self.sent += count
        gen.sent += count

    def echoed_marks(self, marks: list[bytes]) -> None:
        self.echoed += (b" " + b" ".join(marks)).count(self.prefix)
        self.pump()


class Drain(asyncio.Protocol):
    """A publishing connection to Redis: its replies (`:N`) are read and discarded."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        self.ready.set_result(None)

    def data_received(self, data: bytes) -> None:
        pass


async def connect_members(
    gen: Gen, indices: list[int], room_of: Any, parallel: int = 200
) -> list[Member]:
    """Connect, register and join `indices`, at most `parallel` handshakes at a time."""
    job = gen.job
    loop = gen.loop
    members: list[Member] = []
    limit = asyncio.Semaphore(parallel)

    async def one(index: int) -> None:
        async with limit:
            member = Member(gen, index, job.kind, room_of(index))
            members.append(member)
            await bounded(
                open_to(loop, lambda: member, job),
                CONNECT_TIMEOUT,
                f"connection {index}",
            )
            await bounded(member.ready, CONNECT_TIMEOUT, f"handshake of member {index}")

    tasks = [asyncio.ensure_future(one(i)) for i in indices]
    try:
        await asyncio.gather(*tasks)
    except BaseException:
        # The first failure is the one reported; the other handshakes are abandoned quietly.
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise
    members.sort(key=lambda m: m.index)
    return members


async def make_publishers(gen: Gen, members: list[Member]) -> list[Publisher]:
    job = gen.job
    publishers = []
    for member in members:
        if member.index >= job.publishers:
            continue
        assert member.transport is not None
        out = member.transport
        if job.kind == "redis":
            drain = Drain()
            await bounded(
                gen.loop.create_connection(lambda d=drain: d, job.host, job.port),  # type: ignore[misc]
                CONNECT_TIMEOUT,
                "publisher connection",
            )
            assert drain.transport is not None
            out = drain.transport
        publisher = Publisher(gen, member.index, member, out)
        member.publisher = publisher
        publishers.append(publisher)
    return publishers


# ----------------------------------------------------------------- scenarios


async def room_run(job: Job, chan: Channel) -> dict[str, Any]:
    """fanout and latency: one room of `clients` members, publishers among them."""
    gen = Gen(job)
    members = await connect_members(gen, job.members, lambda _: "bench")
    publishers = await make_publishers(gen, members)
    gen.members = members
    gen.pubs = publishers
    chan.send("ready", connected=len(members))
    await chan.expect("sync", 120)
    await bounded(asyncio.gather(*(m.sync() for m in members)), 60, "sync pongs")
    gen.byte_mode = job.scenario == "fanout"
    chan.send("synced")
    go = await chan.expect("go", 120)
    t_start = go["t_start"]
    deadline = t_start + job.duration
    await asyncio.sleep(max(0.0, t_start - time.monotonic()))
    send_lag = 0.0
    ticker = None
    if job.scenario == "fanout":
        if job.read_interval > 0:
            gen.batching = True
            ticker = asyncio.create_task(gen.read_ticker())
        for publisher in publishers:
            publisher.stopped = False
            publisher.pump()
        await asyncio.sleep(max(0.0, deadline - time.monotonic()))
        for publisher in publishers:
            publisher.stopped = True
    else:
        gen.latencies = array("d")
        gen.t0 = t_start
        step = 1.0 / job.rate
        total = int(job.duration * job.rate)
        mine = {p.pub: p for p in publishers}
        i = 0 if mine else total
        if not mine:
            await asyncio.sleep(max(0.0, deadline - time.monotonic()))
        while i < total:
            now = time.monotonic()
            while i < total and t_start + i * step <= now:
                sender = mine.get(i % gen.publishers)
                if sender is not None:
                    sender.send_one()
                    send_lag = max(send_lag, time.monotonic() - (t_start + i * step))
                i += 1
            if i < total:
                # At least a millisecond: shorter sleeps would spin the loop and eat the core
                # the members need; a late send is still measured from its scheduled time.
                await asyncio.sleep(max(MIN_SLEEP, t_start + i * step - time.monotonic()))
    chan.send("sent", sent={p.pub: p.sent for p in publishers})
    expect = await chan.expect("expect", 60)
    total_sent = sum(expect["sent"].values())
    failures: list[str] = []
    try:
        await bounded(gen.wait_for(members, total_sent), job.drain_timeout, "every delivery")
    except Failure as exc:
        failures.append(str(exc))
    # What went wrong first explains the rest: it leads the list.
    failures[:0] = gen.failures
    if ticker is not None:
        ticker.cancel()
    behind = [m for m in members if m.delivered() != total_sent]
    for member in behind[:5]:
        failures.append(f"member {member.index} got {member.delivered()} of {total_sent} messages")
    for member in members:
        member.close()
    return {
        "deliveries": sum(m.delivered() for m in members),
        "t_last": max((m.last for m in members), default=t_start),
        "order": b"\n".join(gen.order.order),
        "latencies": gen.latencies.tobytes() if gen.latencies is not None else b"",
        "send_lag": send_lag,
        "failures": failures,
    }


async def idle_run(job: Job, chan: Channel) -> dict[str, Any] | None:
    """Hold registered, joined, silent connections; time a few messages while they are held."""
    gen = Gen(job)
    size = max(2, job.room_size)

    def room_of(index: int) -> str:
        return f"idle{job.worker}r{index // size}"

    members = await connect_members(gen, job.members, room_of)
    chan.send("ready", connected=len(members))
    await chan.expect("probe", 120)
    probe_room = [m for m in members if m.room == room_of(members[0].index)]
    sender = probe_room[0]
    assert sender.transport is not None
    sender.publisher = None
    publisher = Publisher(gen, 0, sender, sender.transport)
    gen.publishers = 1
    latencies = []
    failures: list[str] = []
    for k in range(job.probes):
        waiting = gen.wait_for(probe_room, k + 1)
        t_send = time.monotonic()
        publisher.send_one()
        try:
            await bounded(waiting, 10.0, f"idle probe {k}")
        except Failure as exc:
            failures.append(str(exc))
            break
        latencies.append(max(m.last for m in probe_room) - t_send)
        await asyncio.sleep(0.01)
    failures.extend(gen.failures)
    # Report while the connections are still held, then wait to be told to let them go.
    chan.send("result", connected=len(members), probe_latencies=latencies, failures=failures)
    await chan.expect("release", 120)
    for member in members:
        member.close()
    return None


class Session(asyncio.Protocol):
    """One churn session: hello, join, say, get the message back, quit, get bye, closed."""

    def __init__(self, nick: str, room: str) -> None:
        self.nick = nick
        self.room = room
        self.done: asyncio.Future[str | None] = asyncio.get_running_loop().create_future()
        self.scanner = wire.MarkerScanner()
        self.got_message = False
        self.after_quit = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        self.transport.write(
            wire.chat_hello(self.nick)
            + wire.chat_join(self.room)
            + wire.chat_say(self.room, wire.text_for(0, 0))
        )

    def data_received(self, data: bytes) -> None:
        if self.got_message:
            self.after_quit += data
            return
        if b'"type":"error"' in data:
            self._finish(f"{self.nick}: error {data[:200]!r}")
            return
        if self.scanner.feed(data):
            self.got_message = True
            assert self.transport is not None
            self.transport.write(wire.chat_quit())

    def eof_received(self) -> bool:
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.got_message:
            self._finish(f"{self.nick}: closed before its message arrived")
        elif b'"type":"bye"' not in self.after_quit:
            self._finish(f"{self.nick}: closed without bye")
        else:
            self._finish(None)

    def _finish(self, problem: str | None) -> None:
        if not self.done.done():
            self.done.set_result(problem)
        if problem is not None and self.transport is not None:
            self.transport.abort()


async def churn_run(job: Job, chan: Channel) -> dict[str, Any]:
    """Sessions back to back in `concurrency` slots: a warm-up, then the measured run."""
    loop = asyncio.get_running_loop()
    counter = 0
    failures: list[str] = []

    async def session(slot: int) -> None:
        nonlocal counter
        counter += 1
        nick = f"{job.nick_prefix}c{job.worker}s{counter}"
        proto = Session(nick, f"churn{job.worker}s{slot}")
        try:
            await bounded(
                open_to(loop, lambda: proto, job),
                CONNECT_TIMEOUT,
                "churn connect",
            )
            problem = await bounded(proto.done, CONNECT_TIMEOUT, f"churn session {nick}")
        except (Failure, OSError) as exc:
            problem = f"{nick}: {exc}"
            if proto.transport is not None:
                proto.transport.abort()
        if problem is not None and len(failures) < 20:
            failures.append(problem)

    async def phase(seconds: float) -> int:
        done = 0
        deadline = time.monotonic() + seconds

        async def slot_loop(slot: int) -> None:
            nonlocal done
            while time.monotonic() < deadline and not failures:
                await session(slot)
                done += 1

        await asyncio.gather(*(slot_loop(s) for s in range(job.concurrency)))
        return done

    warm = await phase(job.warmup)
    chan.send("ready", warmup_sessions=warm)
    await chan.expect("go", 120)
    t_start = time.monotonic()
    sessions = await phase(job.duration)
    t_end = time.monotonic()
    return {"sessions": sessions, "elapsed": t_end - t_start, "failures": failures}


# ----------------------------------------------------------------- flood


class Observer(asyncio.Protocol):
    """One timed member of an observed room: says its own messages, times their echoes."""

    def __init__(self, run: ObserverRun, index: int, room: str) -> None:
        self.run = run
        self.index = index
        self.room = room
        self.transport: asyncio.Transport | None = None
        self.handshake: wire.FrameReader | None = wire.FrameReader()
        self.awaiting = "members"
        self.done: asyncio.Future[None] = run.loop.create_future()
        self.scanner = wire.MarkerScanner()
        self.position = 0  # room messages received (markers), every phase
        self.echoed = 0  # own messages received back, every phase
        self.sent = 0  # own messages said, every phase
        self.closing = False
        # Everything around the text is the same for every message of this observer.
        probe = wire.chat_say(room, "\0", ref="R")[4:]
        self._head = probe.partition(b"\\u0000")[0]

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        nick = f"{self.run.job.nick_prefix}o{self.index}"
        self.transport.write(wire.chat_hello(nick) + wire.chat_join(self.room))

    def say(self) -> None:
        seq = self.sent
        head = b"p%ds%d " % (self.index, seq)
        text = head + _PAD[: wire.TEXT_SIZE - len(head)]
        body = self._head + text + b'","ref":"%d"}' % seq
        assert self.transport is not None
        self.transport.write(len(body).to_bytes(4, "big") + body)
        self.sent += 1

    def sync(self) -> asyncio.Future[None]:
        """Ping and read every frame up to the pong: after it, only room messages arrive."""
        self.done = self.run.loop.create_future()
        self.handshake = wire.FrameReader()
        self.awaiting = "pong"
        assert self.transport is not None
        self.transport.write(wire.chat_ping("sync"))
        return self.done

    def data_received(self, data: bytes) -> None:
        run = self.run
        if self.handshake is not None:
            for msg in self.handshake.feed(data):
                if msg.get("type") == "error":
                    run.fail(f"observer {self.index} refused: {msg}")
                    if not self.done.done():
                        self.done.set_exception(Failure(f"observer {self.index} refused: {msg}"))
                    return
                if msg.get("type") == self.awaiting:
                    rest = bytes(self.handshake.buffer)
                    self.handshake = None
                    if not self.done.done():
                        self.done.set_result(None)
                    if rest:
                        self.data_received(rest)
                    return
            return
        if b'"type":"error"' in data:
            run.fail(f"observer {self.index} got an error: {data[:300]!r}")
        marks = self.scanner.feed(data)
        if not marks:
            return
        now = time.monotonic()
        position = run.orders[self.room].advance(self.position, marks)
        if position is None:
            run.fail(f"observer {self.index} saw messages in another order or twice: {marks[:3]}")
            return
        self.position = position
        latencies = run.latencies
        for mark in marks:
            pub, seq = wire.split_marker(mark)
            if pub == self.index:
                self.echoed += 1
                latencies.append(now - run.scheduled(pub, seq))
        run.check_done()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closing:
            why = f"observer {self.index} was disconnected ({exc or 'closed by server'})"
            self.run.fail(why)
            if not self.done.done():
                self.done.set_exception(Failure(why))
        self.transport = None

    def close(self) -> None:
        self.closing = True
        if self.transport is not None:
            self.transport.abort()


class ObserverRun:
    """The observers of one flood run: their rooms' orders, schedule and latencies."""

    def __init__(self, job: Job) -> None:
        self.job = job
        self.loop = asyncio.get_running_loop()
        self.observers: list[Observer] = []
        self.orders: dict[str, wire.OrderCheck] = {}
        self.failures: list[str] = []
        self.latencies: array[float] = array("d")
        self.t0 = 0.0
        self.seq0 = 0  # sequence number of each observer's first message in this phase
        self.step = 1.0 / (job.observer_rate * max(1, len(job.members)))
        self.drained: asyncio.Future[None] | None = None

    def scheduled(self, pub: int, seq: int) -> float:
        """When message `seq` of observer `pub` was due (the phase's schedule interleaves them)."""
        return self.t0 + ((seq - self.seq0) * len(self.observers) + pub) * self.step

    def fail(self, why: str) -> None:
        if len(self.failures) < 20:
            self.failures.append(why)
        if self.drained is not None and not self.drained.done():
            self.drained.set_exception(Failure(why))

    def expected(self, observer: Observer) -> int:
        """Room messages `observer` must have received once every message said came back."""
        return sum(o.sent for o in self.observers if o.room == observer.room)

    def complete(self) -> bool:
        return all(o.echoed == o.sent and o.position == self.expected(o) for o in self.observers)

    def check_done(self) -> None:
        if self.drained is not None and not self.drained.done() and self.complete():
            self.drained.set_result(None)

    async def phase(self, t_start: float) -> dict[str, Any]:
        """Say every observer's messages on schedule for `duration`, then wait for them all."""
        job = self.job
        n = len(self.observers)
        per_observer = int(job.duration * job.observer_rate)
        total = per_observer * n
        self.latencies = array("d")
        self.t0 = t_start
        self.seq0 = self.observers[0].sent if self.observers else 0
        step = self.step
        send_lag = 0.0
        await asyncio.sleep(max(0.0, t_start - time.monotonic()))
        i = 0
        while i < total:
            now = time.monotonic()
            while i < total and t_start + i * step <= now:
                self.observers[i % n].say()
                send_lag = max(send_lag, time.monotonic() - (t_start + i * step))
                i += 1
            if i < total:
                # A late send is still timed from its scheduled time (open loop).
                await asyncio.sleep(max(MIN_SLEEP, t_start + i * step - time.monotonic()))
        self.drained = self.loop.create_future()
        self.check_done()
        failures: list[str] = []
        try:
            await bounded(self.drained, job.drain_timeout, "every observed message")
        except Failure as exc:
            failures.append(str(exc))
        failures[:0] = self.failures
        self.failures = []
        for o in self.observers:
            if o.echoed != o.sent and len(failures) < 10:
                failures.append(f"observer {o.index} got {o.echoed} of its {o.sent} messages back")
        return {
            "latencies": self.latencies.tobytes(),
            "send_lag": send_lag,
            "messages": total,
            "failures": failures,
        }


class Flooder(asyncio.Protocol):
    """One connection saying as fast as its socket takes it; it reads and counts its echoes."""

    BATCH = 64

    def __init__(self, room: str, nick_prefix: str = "") -> None:
        self.loop = asyncio.get_running_loop()
        self.transport: asyncio.Transport | None = None
        self.ready: asyncio.Future[None] = self.loop.create_future()
        self.buf = bytearray()
        self.registered = False
        text = "flood " + "x" * (wire.TEXT_SIZE - 6)
        self.batch = wire.chat_say(room, text, ref="f") * self.BATCH
        self.hello = wire.chat_hello(nick_prefix + "flooder") + wire.chat_join(room)
        self.flooding = False
        self.paused = False
        self.written = 0  # say frames handed to the socket
        self.echoes = array("d")  # receipt time of each echo (each say the server accepted)
        self.errors: list[dict[str, Any]] = []
        self.lost_at: float | None = None
        self.closing = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        # Keep what waits in this process small: the kernel's buffers hold the backlog.
        self.transport.set_write_buffer_limits(high=64 * 1024)
        self.transport.write(self.hello)

    def pause_writing(self) -> None:
        self.paused = True

    def resume_writing(self) -> None:
        self.paused = False
        self.pump()

    def pump(self) -> None:
        """Write one batch, then come back after the loop has read what arrived."""
        if not self.flooding or self.paused or self.transport is None:
            return
        self.transport.write(self.batch)
        self.written += self.BATCH
        if not self.paused:
            self.loop.call_soon(self.pump)

    def data_received(self, data: bytes) -> None:
        buf = self.buf
        buf += data
        now = time.monotonic()
        offset = 0
        end = len(buf)
        while end - offset >= 4:
            length = int.from_bytes(buf[offset : offset + 4], "big")
            if end - offset - 4 < length:
                break
            body = bytes(buf[offset + 4 : offset + 4 + length])
            offset += 4 + length
            if not self.registered:
                if b'"type":"members"' in body:
                    self.registered = True
                    if not self.ready.done():
                        self.ready.set_result(None)
                elif b'"type":"error"' in body:
                    self._error(body, now)
            elif b'"type":"message"' in body:
                self.echoes.append(now)
            elif b'"type":"error"' in body:
                self._error(body, now)
        del buf[:offset]

    def _error(self, body: bytes, now: float) -> None:
        msg = json.loads(body)
        msg["t"] = now
        self.errors.append(msg)
        if not self.ready.done():
            self.ready.set_exception(Failure(f"flooder refused: {msg}"))

    def connection_lost(self, exc: Exception | None) -> None:
        self.flooding = False
        if not self.closing:
            self.lost_at = time.monotonic()
            if not self.ready.done():
                self.ready.set_exception(Failure("flooder disconnected during its handshake"))
        self.transport = None

    def close(self) -> None:
        self.closing = True
        self.flooding = False
        if self.transport is not None:
            self.transport.abort()


async def flood_observers(job: Job, chan: Channel) -> dict[str, Any]:
    """flood, the observers' side: timed rooms, measured alone and while the flooder runs."""
    run = ObserverRun(job)
    loop = run.loop
    rooms = max(1, min(job.observer_rooms, len(job.members)))
    for index in job.members:
        observer = Observer(run, index, f"observed{index % rooms}")
        run.orders.setdefault(observer.room, wire.OrderCheck())
        run.observers.append(observer)
        await bounded(
            open_to(loop, functools.partial(_same, observer), job),
            CONNECT_TIMEOUT,
            f"observer {index}",
        )
        await bounded(observer.done, CONNECT_TIMEOUT, f"handshake of observer {index}")
    chan.send("ready", connected=len(run.observers))
    await chan.expect("sync", 120)
    await bounded(asyncio.gather(*(o.sync() for o in run.observers)), 60, "sync pongs")
    chan.send("synced")
    while True:
        kind, body = await chan.recv(120)
        if kind == "arm":
            chan.send("armed")
        elif kind == "go":
            chan.send("phase", **await run.phase(body["t_start"]))
        elif kind == "finish":
            break
        else:
            raise RuntimeError(f"unexpected {kind} from chat-bench")
    failures = list(run.failures)
    sent = {o.index: o.sent for o in run.observers}
    for room, order in run.orders.items():
        members = {i: n for i, n in sent.items() if f"observed{i % rooms}" == room}
        failures += wire.verify_order(order.order, members)
    for observer in run.observers:
        observer.close()
    return {"sent": sent, "failures": failures}


async def flood_flooder(job: Job, chan: Channel) -> dict[str, Any]:
    """flood, the flooder's side: absent from the first phase, pipelining through the second."""
    loop = asyncio.get_running_loop()
    chan.send("ready", connected=0)
    await chan.expect("sync", 120)
    chan.send("synced")
    flooder: Flooder | None = None
    while True:
        kind, body = await chan.recv(120)
        if kind == "arm":
            flooder = Flooder("flood", job.nick_prefix)
            await bounded(
                open_to(loop, functools.partial(_same, flooder), job, (job.flooder_address, 0)),
                CONNECT_TIMEOUT,
                "flooder connection",
            )
            await bounded(flooder.ready, CONNECT_TIMEOUT, "flooder handshake")
            chan.send("armed")
        elif kind == "go":
            t_start = body["t_start"]
            deadline = t_start + job.duration
            if flooder is None:  # the observers' first phase: they are alone
                await asyncio.sleep(max(0.0, deadline - time.monotonic()))
                chan.send("phase", flooded=False)
                continue
            await asyncio.sleep(max(0.0, t_start - time.monotonic()))
            flooder.flooding = True
            flooder.pump()
            await asyncio.sleep(max(0.0, deadline - time.monotonic()))
            flooder.flooding = False
            echoes = [t - t_start for t in flooder.echoes if t <= deadline]
            errors = [{**e, "t": e["t"] - t_start} for e in flooder.errors]
            lost = None if flooder.lost_at is None else flooder.lost_at - t_start
            flooder.close()
            chan.send(
                "phase",
                flooded=True,
                written=flooder.written,
                echoes=array("d", echoes).tobytes(),
                errors=errors[:20],
                error_count=len(errors),
                lost_after=lost,
            )
            flooder = None
        elif kind == "finish":
            break
        else:
            raise RuntimeError(f"unexpected {kind} from chat-bench")
    return {"sent": {}, "failures": []}


async def flood_run(job: Job, chan: Channel) -> dict[str, Any]:
    if job.role == "flooder":
        return await flood_flooder(job, chan)
    return await flood_observers(job, chan)


SCENARIOS = {
    "fanout": room_run,
    "latency": room_run,
    "idle": idle_run,
    "churn": churn_run,
    "flood": flood_run,
}


async def _main(conn: Connection, job: Job) -> None:
    chan = Channel(conn, asyncio.get_running_loop())
    try:
        result = await SCENARIOS[job.scenario](job, chan)
        if result is not None:
            chan.send("result", **result)
    except Exception as exc:
        chan.send("error", error=f"{type(exc).__name__}: {exc}")


def worker_main(conn: Connection, job: Job) -> None:
    """Entry point of a load generator process."""
    if job.pin:
        pin_self(LOAD_CPU)
    normal_priority()
    latency_sender = job.scenario == "latency" and job.members and max(job.members) < job.publishers
    if latency_sender or (job.scenario == "flood" and job.role == "observers"):
        # A sender alone in its process (or the timed observers, sharing the load CPU with
        # the flooder): let it preempt the others when a send is due.
        with contextlib.suppress(OSError):
            os.setpriority(os.PRIO_PROCESS, 0, SENDER_NICE)
    raise_nofile()
    # A run is short and bounded, and the generator makes no garbage cycles worth collecting:
    # without the collector it cannot pause in the middle of a latency measurement.
    gc.disable()
    runner: Any = asyncio.run
    with contextlib.suppress(ImportError):
        import uvloop

        runner = uvloop.run
    runner(_main(conn, job))
    conn.close()
