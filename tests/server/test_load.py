"""Many clients, slow and dead ones: fairness and bounded memory, on every backend."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from typing import Any

from protocol import PROTOCOL_VERSION, FrameDecoder, frame
from tests.conftest import ConnectFactory
from tests.helpers import WAIT, ServerProcess, WireClient


class RawClient:
    """A blocking client with a tiny receive buffer, for readers that stop reading."""

    def __init__(self, server: ServerProcess, rcvbuf: int = 4096) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)  # before connect
        self.sock.settimeout(WAIT)
        self.sock.connect((server.host, server.port))
        self.decoder = FrameDecoder(1 << 24)
        self.inbox: list[dict[str, Any]] = []

    def send(self, type_: str, **fields: Any) -> None:
        self.sock.sendall(frame(json.dumps({"type": type_, **fields}).encode()))

    def until(self, type_: str, timeout: float = WAIT) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            for i, message in enumerate(self.inbox):
                if message["type"] == type_:
                    del self.inbox[: i + 1]
                    return message
            self.inbox.clear()
            self.sock.settimeout(max(0.01, deadline - time.monotonic()))
            data = self.sock.recv(65536)
            if not data:
                raise ConnectionError("closed")
            self.inbox.extend(json.loads(b) for b in self.decoder.feed(data))

    def register(self, nick: str, room: str) -> None:
        self.send("hello", nick=nick, protocol=PROTOCOL_VERSION)
        self.until("welcome")
        self.send("join", room=room)
        self.until("members")

    def read_messages(self, count: int, timeout: float) -> list[dict[str, Any]]:
        """Read until `count` chat messages arrived (or fail after `timeout`)."""
        deadline = time.monotonic() + timeout
        seen: list[dict[str, Any]] = [m for m in self.inbox if m["type"] == "message"]
        while len(seen) < count:
            self.sock.settimeout(max(0.01, deadline - time.monotonic()))
            data = self.sock.recv(1 << 20)
            if not data:
                raise ConnectionError(f"closed after {len(seen)} messages")
            for body in self.decoder.feed(data):
                message = json.loads(body)
                assert message["type"] in ("message", "joined", "left"), message
                if message["type"] == "message":
                    seen.append(message)
        return seen

    def drain_until_closed(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                self.sock.settimeout(max(0.01, deadline - time.monotonic()))
                if not self.sock.recv(1 << 20):
                    return True
        except (ConnectionError, OSError):
            return True
        return False

    def close(self) -> None:
        self.sock.close()


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


def burst(room: str, count: int, size: int) -> bytes:
    """`count` say frames in one buffer, numbered so the order can be checked."""
    return b"".join(
        frame(json.dumps({"type": "say", "room": room, "text": f"{i}:" + "x" * size}).encode())
        for i in range(count)
    )


async def read_all(client: WireClient, count: int) -> list[dict[str, Any]]:
    """The next `count` chat messages, plus whatever else arrived meanwhile (returned too)."""
    messages: list[dict[str, Any]] = []
    other: list[dict[str, Any]] = []
    while len(messages) < count:
        message = await client.recv()
        (messages if message["type"] == "message" else other).append(message)
    return messages + other


async def test_200_clients_in_one_room_all_get_the_broadcast(
    connect: ConnectFactory, unique
) -> None:
    room = unique("crowd")
    clients: list[WireClient] = []
    for start in range(0, 200, 50):  # connect in waves of 50 concurrent handshakes
        clients += await asyncio.gather(*(connect("crowd", room) for _ in range(start, start + 50)))
    await clients[0].send("say", room=room, text="hello, everyone", ref="all")
    received = await asyncio.gather(
        *(c.expect("message", text="hello, everyone", timeout=20) for c in clients)
    )
    assert len(received) == 200
    assert len({m["id"] for m in received}) == 1
    await clients[-1].send("who", room=room)
    assert len((await clients[-1].expect("members"))["nicks"]) == 200


async def test_slow_consumer_is_dropped_and_the_room_keeps_going(backend: str) -> None:
    # The default soft cap, and a hard cap the burst passes at once (the default 8 MiB would
    # give the sloth the soft cap's 10 s first); both well above one read (READ_SIZE) of frames.
    cap = 1 << 20
    server = ServerProcess(backend, "--max-outbuf", str(cap), "--outbuf-hard", str(2 * cap))
    server.start()
    assert server.proc is not None
    slow: RawClient | None = None
    clients: list[WireClient] = []
    try:
        for nick in ("sender", "w1", "w2"):
            client = await WireClient.connect(server)
            await client.hello(nick)
            await client.join("burst")
            clients.append(client)
        slow = await asyncio.to_thread(RawClient, server)
        await asyncio.to_thread(slow.register, "sloth", "burst")
        for client in clients:
            await client.expect("joined", nick="sloth")
        before = rss_kib(server.proc.pid)
        count, size = 1000, 7000  # about 7 MB to every member: far beyond cap + kernel buffers
        results = await asyncio.gather(
            clients[0].send_raw(burst("burst", count, size)),
            *(read_all(client, count) for client in clients),
        )
        for client, got in zip(clients, results[1:], strict=True):
            texts = [m["text"].split(":")[0] for m in got if m["type"] == "message"]
            assert texts == [str(i) for i in range(count)]
            client.inbox.extendleft(reversed([m for m in got if m["type"] != "message"]))
        left = await clients[1].expect("left", nick="sloth", timeout=10)
        assert left["reason"] == "slow_consumer"
        growth = rss_kib(server.proc.pid) - before
        assert growth < 48 * 1024, f"server RSS grew by {growth} KiB"
        assert await asyncio.to_thread(slow.drain_until_closed, 10)
        # The server is fine afterwards.
        await clients[0].send("say", room="burst", text="after")
        await clients[2].expect("message", text="after")
    finally:
        if slow is not None:
            slow.close()
        for client in clients:
            await client.close()
        assert server.stop() == 0


async def test_reader_that_lags_briefly_is_not_dropped(
    server: ServerProcess, connect: ConnectFactory, unique
) -> None:
    room = unique("lag")
    sender = await connect("sender", room)
    laggard = await asyncio.to_thread(RawClient, server)
    try:
        await asyncio.to_thread(laggard.register, unique("laggard"), room)
        await sender.expect("joined")
        count = 150  # about 300 KB: well under the default 1 MiB cap
        await sender.send_raw(burst(room, count, 2000))
        await sender.expect("message", text=f"{count - 1}:" + "x" * 2000, timeout=10)
        await asyncio.sleep(1.0)  # the laggard reads nothing for a while ...
        got = await asyncio.to_thread(laggard.read_messages, count, 10)  # ... then catches up
        assert [m["text"].split(":")[0] for m in got] == [str(i) for i in range(count)]
        await sender.send("say", room=room, text="still here?")
        assert (await asyncio.to_thread(laggard.read_messages, 1, 5))[0]["text"] == "still here?"
    finally:
        laggard.close()


async def test_idle_client_is_reaped_and_active_one_kept(backend: str) -> None:
    server = ServerProcess(backend, "--idle-timeout", "1").start()
    clients: list[WireClient] = []
    try:
        idle = await WireClient.connect(server)
        await idle.hello("idle")
        await idle.join("quiet")
        active = await WireClient.connect(server)
        await active.hello("active")
        await active.join("quiet")
        clients += [idle, active]
        deadline = time.monotonic() + 2.5
        while time.monotonic() < deadline:
            await active.send("ping", token="alive")
            await asyncio.sleep(0.25)
        error = await idle.expect("error")
        assert error["code"] == "idle_timeout" and error["fatal"] is True
        assert await idle.closed()
        left = await active.expect("left", nick="idle")
        assert left["reason"] == "idle_timeout"
        await active.send("who", room="quiet")
        assert (await active.expect("members"))["nicks"] == ["active"]
    finally:
        for client in clients:
            await client.close()
        assert server.stop() == 0


async def test_sigterm_with_a_member_that_never_reads(backend: str) -> None:
    # A cap high enough that the sleeper is not dropped: the server still holds data for it at
    # shutdown, beyond what the kernel buffers took, and must cut it after CLOSE_LINGER.
    server = ServerProcess(backend, "--max-outbuf", str(32 << 20)).start()
    sleeper: RawClient | None = None
    clients: list[WireClient] = []
    try:
        for nick in ("talker", "listener"):
            client = await WireClient.connect(server)
            await client.hello(nick)
            await client.join("stuck")
            clients.append(client)
        sleeper = await asyncio.to_thread(RawClient, server)
        await asyncio.to_thread(sleeper.register, "sleeper", "stuck")
        count = 1000  # about 6 MB: more than the kernel buffers between us and the sleeper
        await asyncio.gather(
            clients[0].send_raw(burst("stuck", count, 6000)),
            *(read_all(client, count) for client in clients),
        )
        started = time.monotonic()
        server.stop(timeout=10)  # SIGTERM; fails if the server does not exit in time
        assert server.proc is not None and server.proc.returncode == 0
        assert time.monotonic() - started < 6
        for client in clients:
            await client.expect("bye")
    finally:
        if sleeper is not None:
            sleeper.close()
        for client in clients:
            await client.close()
        server.kill()
