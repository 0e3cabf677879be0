"""What every backend does for the core's limits: reading paused under flood control, slow
consumers reset, per-address refusals, the hello timeout, and the descriptor limit.

Clients bound to 127.0.0.2 and up are not exempt (only 127.0.0.1 and ::1 are, by default), so
flood control and the per-address caps apply to them; each test uses an address of its own, as
the servers are shared by the tests of this module (one per backend).
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import selectors
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest

from chat_server import cli
from chat_server.backends.lifecycle import RESERVED_FDS
from chat_server.core import CoreConfig
from protocol import PROTOCOL_VERSION, FrameDecoder, frame
from tests.helpers import WAIT, ServerProcess, WireClient

FLOOD_RATE = 20  # requests a second after the burst of 16, on the `limited` server
SOFT_SECONDS = 0.5
HELLO_TIMEOUT = 0.5
CONNECTS = 20  # new connections per address per CONNECT_WINDOW
CONNECT_WINDOW = 30
LIMITED_ARGS = (
    *("--flood-rate", str(FLOOD_RATE), "--flood-max-seconds", "0.5"),
    *("--max-outbuf", "65536", "--outbuf-soft-seconds", str(SOFT_SECONDS)),
    *("--hello-timeout", str(HELLO_TIMEOUT)),
    *("--connects-per-address", str(CONNECTS), "--connect-window", str(CONNECT_WINDOW)),
)
NOFILE = 128  # the descriptor limit of the `fd_limited` servers


@pytest.fixture(scope="module")
def limited(backend: str) -> Iterator[ServerProcess]:
    """A server with a quick flood rate, a small soft output cap and a short hello timeout."""
    server = ServerProcess(backend, *LIMITED_ARGS).start()
    yield server
    assert server.stop() == 0


@pytest.fixture(scope="module")
def fd_limited(backend: str) -> Iterator[ServerProcess]:
    """A server started under RLIMIT_NOFILE (128, 128): it may serve 128 - 64 clients."""
    server = ServerProcess(backend, nofile=NOFILE).start()
    yield server
    assert server.stop() == 0


@pytest.fixture
async def clients() -> AsyncIterator[list[WireClient]]:
    """Clients a test opened, closed at teardown."""
    opened: list[WireClient] = []
    yield opened
    for client in opened:
        await client.close()


def says(room: str, count: int, size: int = 0) -> bytes:
    """`count` say frames in one buffer, text `N:` (then `size` x's) and ref `N`."""
    return b"".join(
        frame(
            json.dumps(
                {"type": "say", "room": room, "text": f"{i}:" + "x" * size, "ref": str(i)}
            ).encode()
        )
        for i in range(count)
    )


async def ping_collecting(client: WireClient, token: str, seen: list[dict[str, Any]]) -> None:
    """Ping and wait for the pong, keeping everything else that arrives in `seen`."""
    await client.send("ping", token=token)
    while True:
        message = await client.recv()
        if message["type"] == "pong" and message["token"] == token:
            return
        seen.append(message)


async def first_reply(client: WireClient, timeout: float = WAIT) -> dict[str, Any] | str:
    """The first message from the server, or how the connection ended without one: "reset",
    "eof", or "silent" if nothing came within `timeout`."""
    try:
        return await client.recv(timeout)
    except ConnectionResetError:
        return "reset"
    except ConnectionError:
        return "eof"
    except TimeoutError:
        return "silent"


def open_and_ping(server: ServerProcess, count: int) -> list[socket.socket]:
    """`count` plain sockets to `server`, each sending a ping at once (token: its index)."""
    socks = []
    for n in range(count):
        sock = socket.create_connection((server.host, server.port), timeout=WAIT)
        sock.sendall(frame(json.dumps({"type": "ping", "token": str(n)}).encode()))
        socks.append(sock)
    return socks


def first_frames(socks: list[socket.socket], timeout: float) -> list[dict[str, Any] | str]:
    """The first frame each socket receives or, failing that, how it ended: "reset", "eof", or
    "silent" if nothing came within `timeout` (one deadline for all). Plain sockets, as a
    frame that arrived before a reset is still read first from those."""
    results: list[dict[str, Any] | str] = ["silent"] * len(socks)
    decoders = [FrameDecoder(1 << 20) for _ in socks]
    deadline = time.monotonic() + timeout
    with selectors.DefaultSelector() as sel:
        for i, sock in enumerate(socks):
            sock.setblocking(False)
            sel.register(sock, selectors.EVENT_READ, i)
        while sel.get_map() and (left := deadline - time.monotonic()) > 0:
            for key, _ in sel.select(left):
                i, sock = key.data, socks[key.data]
                try:
                    data = sock.recv(65536)
                except BlockingIOError:
                    continue
                except ConnectionResetError:
                    results[i] = "reset"
                else:
                    if data:
                        bodies = decoders[i].feed(data)
                        if not bodies:
                            continue
                        results[i] = json.loads(bodies[0])
                    else:
                        results[i] = "eof"
                sel.unregister(sock)
    for sock in socks:
        sock.setblocking(True)
    return results


def ended(sock: socket.socket) -> bool:
    """True once the server has closed `sock` (EOF or reset), after what it still had to read."""
    sock.settimeout(WAIT)
    try:
        while sock.recv(65536):
            pass
    except ConnectionResetError:
        pass
    return True


def warnings_in(server: ServerProcess) -> list[str]:
    return [line for line in server.log if " WARNING " in line]


class SilentReader:
    """A blocking client with a tiny receive buffer that registers, joins, then stops reading."""

    def __init__(self, server: ServerProcess) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # before connect
        self.sock.settimeout(WAIT)
        self.sock.connect((server.host, server.port))
        self.decoder = FrameDecoder(1 << 24)

    def register(self, nick: str, room: str) -> None:
        for request in (
            {"type": "hello", "nick": nick, "protocol": PROTOCOL_VERSION},
            {"type": "join", "room": room},
        ):
            self.sock.sendall(frame(json.dumps(request).encode()))
        deadline = time.monotonic() + WAIT
        while True:
            self.sock.settimeout(max(0.01, deadline - time.monotonic()))
            data = self.sock.recv(65536)
            assert data, "closed while registering"
            if any(json.loads(b)["type"] == "members" for b in self.decoder.feed(data)):
                return

    def read_to_the_end(self) -> tuple[str, list[dict[str, Any]]]:
        """Read everything left: how the connection ended ("reset" or "eof"), and what came."""
        got: list[dict[str, Any]] = []
        deadline = time.monotonic() + WAIT
        try:
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"still open after {len(got)} messages")
                self.sock.settimeout(left)
                data = self.sock.recv(1 << 20)
                if not data:
                    return "eof", got
                got += [json.loads(b) for b in self.decoder.feed(data)]
        except ConnectionResetError:
            return "reset", got

    def close(self) -> None:
        self.sock.close()


# ---------------------------------------------------------------------- flood control


async def test_a_flooder_is_throttled_while_an_exempt_client_is_served(
    limited: ServerProcess, unique: Callable[[str], str], clients: list[WireClient]
) -> None:
    room = unique("flood")
    observer = await WireClient.connect(limited)  # 127.0.0.1: exempt
    clients.append(observer)
    await observer.hello(unique("observer"))
    await observer.join(room)
    started = time.monotonic()  # before the flooder's connection exists: its buckets are full
    flooder = await WireClient.connect(limited, local_addr="127.0.0.2")
    clients.append(flooder)
    await flooder.hello(unique("flooder"))
    await flooder.join(room)
    count = 40
    await flooder.send_raw(says(room, count))
    echoes: list[tuple[float, str]] = []
    done = asyncio.Event()

    async def read_echoes() -> None:
        while len(echoes) < count:
            message = await flooder.recv()
            assert message["type"] in ("message", "joined"), message
            if message["type"] == "message":
                echoes.append((time.monotonic() - started, message["ref"]))
        done.set()

    seen: list[dict[str, Any]] = []
    pongs: list[float] = []

    async def ping_meanwhile() -> None:
        n = 0
        while not done.is_set():
            await ping_collecting(observer, f"p{n}", seen)
            pongs.append(time.monotonic() - started)
            n += 1
            await asyncio.sleep(0.02)

    await asyncio.gather(read_echoes(), ping_meanwhile())
    assert [ref for _, ref in echoes] == [str(i) for i in range(count)]
    # Never faster than the budget: hello and join, then at most 16 at once and 20 a second.
    for handled, (elapsed, _) in enumerate(echoes, start=3):
        assert handled <= 16 + FLOOD_RATE * elapsed + 1, (handled, elapsed)
    # The observer was answered while the flood was being held back.
    assert any(echoes[0][0] < at < echoes[-1][0] for at in pongs)
    while len([m for m in seen if m["type"] == "message"]) < count:
        seen.append(await observer.recv())
    assert [m["text"] for m in seen if m["type"] == "message"] == [f"{i}:" for i in range(count)]
    assert await flooder.sync("still-there") == []  # not disconnected, nothing else sent


async def test_a_flooder_holding_too_many_requests_is_disconnected(
    limited: ServerProcess, unique: Callable[[str], str], clients: list[WireClient]
) -> None:
    room = unique("flood")
    observer = await WireClient.connect(limited)
    clients.append(observer)
    await observer.hello(unique("observer"))
    await observer.join(room)
    flooder = await WireClient.connect(limited, local_addr="127.0.0.5")
    clients.append(flooder)
    await flooder.hello(unique("flooder"))
    await flooder.join(room)
    await flooder.send_raw(says(room, 200))  # far more than 64 held for 0.5 s on this server
    handled = []
    while True:
        message = await flooder.recv()
        if message["type"] == "error":
            break
        if message["type"] == "message":
            handled.append(message["ref"])
    assert message["code"] == "flood" and message["fatal"] is True
    assert "more than 64 requests waiting" in message["message"]
    assert await flooder.closed()
    assert handled == [str(i) for i in range(len(handled))] and len(handled) < 100
    left = await observer.expect("left", nick=flooder.nick)
    assert left["reason"] == "flood"


# ---------------------------------------------------------------------- output caps


async def test_a_reader_that_stops_is_cut_with_a_reset(
    limited: ServerProcess, unique: Callable[[str], str], clients: list[WireClient]
) -> None:
    room = unique("sleepy")
    talker = await WireClient.connect(limited)
    watcher = await WireClient.connect(limited)
    clients += [talker, watcher]
    for client in (talker, watcher):
        await client.hello(unique("awake"))
        await client.join(room)
    sleeper = await asyncio.to_thread(SilentReader, limited)
    try:
        sleeper_nick = unique("sleeper")
        await asyncio.to_thread(sleeper.register, sleeper_nick, room)
        for client in (talker, watcher):
            await client.expect("joined", nick=sleeper_nick)
        # 5 MB: more than the kernel buffers between the server and the sleeper (the server's
        # send buffer grows to 4 MB on loopback), and then far more than the 64 KiB soft cap.
        count = 700

        async def read_all(client: WireClient) -> list[str]:
            got: list[str] = []
            while len(got) < count:
                message = await client.recv()
                if message["type"] == "message":
                    got.append(message["text"].split(":")[0])
            return got

        results = await asyncio.gather(
            talker.send_raw(says(room, count, 7500)), read_all(talker), read_all(watcher)
        )
        assert results[1] == results[2] == [str(i) for i in range(count)]
        left = await watcher.expect("left", nick=sleeper_nick)
        assert left["reason"] == "slow_consumer"
        # Cut, not drained: what the server held for it is gone, and the socket was reset.
        ending, got = await asyncio.to_thread(sleeper.read_to_the_end)
        assert ending in ("reset", "eof")
        assert len([m for m in got if m["type"] == "message"]) < count
        # Everyone else is served as before.
        await talker.send("say", room=room, text="after the cut")
        await watcher.expect("message", text="after the cut")
        newcomer = await WireClient.connect(limited)
        clients.append(newcomer)
        await newcomer.hello(unique("newcomer"))
    finally:
        sleeper.close()


# ---------------------------------------------------------------------- per-address caps


async def test_the_17th_connection_from_an_address_is_refused(
    limited: ServerProcess, unique: Callable[[str], str], clients: list[WireClient]
) -> None:
    held = []
    for _ in range(16):
        client = await WireClient.connect(limited, local_addr="127.0.0.3")
        clients.append(client)
        await client.hello(unique("crowd"))
        held.append(client)
    extra = await WireClient.connect(limited, local_addr="127.0.0.3")
    clients.append(extra)
    refusal = await first_reply(extra)
    assert isinstance(refusal, dict) and refusal["type"] == "error", refusal
    assert refusal["code"] == "too_many_connections" and refusal["fatal"] is True
    assert "retry_after" not in refusal  # a concurrency cap: waiting alone does not help
    assert await extra.closed()
    local = await WireClient.connect(limited)  # exempt: not affected
    clients.append(local)
    await local.hello(unique("local"))
    await held[0].send("quit")
    await held[0].expect("bye")  # the server has let it go: there is room for one more
    again = await WireClient.connect(limited, local_addr="127.0.0.3")
    clients.append(again)
    await again.hello(unique("again"))
    await held[1].sync()  # the others are untouched


async def test_new_connections_from_an_address_are_throttled(
    limited: ServerProcess, clients: list[WireClient]
) -> None:
    for _ in range(CONNECTS):
        client = await WireClient.connect(limited, local_addr="127.0.0.4")
        clients.append(client)
        await client.send("quit")  # allowed before hello
        await client.expect("bye")
        assert await client.closed()
    refused = await WireClient.connect(limited, local_addr="127.0.0.4")
    clients.append(refused)
    refusal = await first_reply(refused)
    assert isinstance(refusal, dict) and refusal["type"] == "error", refusal
    assert refusal["code"] == "too_many_connections" and refusal["fatal"] is True
    assert isinstance(refusal["retry_after"], int) and 1 <= refusal["retry_after"] <= CONNECT_WINDOW
    assert await refused.closed()
    other = await WireClient.connect(limited, local_addr="127.0.0.7")
    clients.append(other)
    await other.hello("throttle-bystander")


async def test_a_refused_newcomer_that_sent_hello_at_once_can_read_why(
    limited: ServerProcess, unique: Callable[[str], str], clients: list[WireClient]
) -> None:
    # A refusal is sent at once, on accept; a client (chat-client does) may have sent its
    # hello by then. It must still get to read the refusal, whatever came next on the socket.
    for _ in range(16):
        client = await WireClient.connect(limited, local_addr="127.0.0.8")
        clients.append(client)
        await client.hello(unique("crowd"))

    async def eager() -> WireClient:
        # Connect and send hello in one go (no await between them, so that it is on its way
        # before the server has handled the connection), then read as an asyncio client does.
        sock = socket.socket()
        sock.bind(("127.0.0.8", 0))
        sock.connect((limited.host, limited.port))
        hello = {"type": "hello", "nick": unique("eager"), "protocol": PROTOCOL_VERSION}
        sock.sendall(frame(json.dumps(hello).encode()))
        client = WireClient(*await asyncio.open_connection(sock=sock))
        clients.append(client)
        return client

    newcomers = [await eager() for _ in range(5)]
    await asyncio.sleep(0.2)  # busy elsewhere: the refusal arrives meanwhile, and what follows
    replies = [await first_reply(client) for client in newcomers]
    assert all(isinstance(r, dict) and r["code"] == "too_many_connections" for r in replies), (
        replies
    )


# ---------------------------------------------------------------------- hello timeout


async def test_a_connection_that_never_says_hello_is_dropped(
    limited: ServerProcess, clients: list[WireClient]
) -> None:
    started = time.monotonic()  # before the server has either connection
    silent = await WireClient.connect(limited, local_addr="127.0.0.6")
    pinger = await WireClient.connect(limited)
    clients += [silent, pinger]

    async def keep_pinging() -> dict[str, Any]:
        n = 0
        while True:
            await pinger.send("ping", token=str(n))
            message = await pinger.recv()
            if message["type"] == "error":
                return message
            assert message == {"type": "pong", "token": str(n)}
            n += 1
            await asyncio.sleep(0.05)

    # Within the timeout and a little more (the server checks it in steps): not 10 times it.
    bound = HELLO_TIMEOUT + 1.5
    pinging = asyncio.ensure_future(asyncio.wait_for(keep_pinging(), bound))
    error = await silent.recv(timeout=bound)
    assert time.monotonic() - started >= HELLO_TIMEOUT
    assert error == {
        "type": "error",
        "code": "idle_timeout",
        "message": f"no hello within {HELLO_TIMEOUT:g} seconds",
        "fatal": True,
    }
    assert await silent.closed()
    assert (await pinging) == error  # pinging all along does not register anyone
    assert await pinger.closed()


# ---------------------------------------------------------------------- flags and descriptors


def test_limit_flags_reach_the_core_config() -> None:
    parse = cli.build_parser().parse_args
    assert cli.config_from(parse([])) == CoreConfig()
    config = cli.config_from(parse(["--exempt", "10.1.0.0/16", "--exempt", "::1", *LIMITED_ARGS]))
    assert config.exempt == ("10.1.0.0/16", "::1/128")
    assert (config.flood.rate, config.flood.max_waiting_seconds) == (FLOOD_RATE, 0.5)
    assert (config.max_outbuf, config.outbuf_soft_seconds) == (65536, SOFT_SECONDS)
    assert config.hello_timeout == HELLO_TIMEOUT
    assert (config.per_address.connects, config.per_address.connects_window) == (20, 30)
    assert cli.config_from(parse(["--exempt", "none"])).exempt == ()


def test_max_clients_is_lowered_to_what_the_descriptor_limit_allows(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(cli, "raise_nofile_limit", lambda: 1000)
    with caplog.at_level(logging.WARNING, logger="chat_server"):
        fitted = cli.fit_descriptors(CoreConfig(), "asyncio")
        assert cli.fit_descriptors(CoreConfig(max_clients=500), "asyncio").max_clients == 500
    assert fitted.max_clients == 1000 - RESERVED_FDS == 936
    assert [r.getMessage() for r in caplog.records] == [
        "--max-clients 20000 is above what 1000 open files allow; serving at most 936 clients "
        "(raise the hard limit, e.g. LimitNOFILE= in a systemd unit, for more)"
    ]


def test_the_soft_descriptor_limit_is_raised_to_the_hard_limit() -> None:
    code = (
        "import resource\n"
        "from chat_server.backends.lifecycle import raise_nofile_limit\n"
        "resource.setrlimit(resource.RLIMIT_NOFILE, (100, 300))\n"
        "print(raise_nofile_limit(), *resource.getrlimit(resource.RLIMIT_NOFILE))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=30, check=True
    )
    assert result.stdout.split() == ["300", "300", "300"]


async def test_newcomers_beyond_the_descriptor_limit_get_server_full(
    fd_limited: ServerProcess, unique: Callable[[str], str], clients: list[WireClient]
) -> None:
    started = time.monotonic()
    existing = await WireClient.connect(fd_limited)
    clients.append(existing)
    await existing.hello(unique("existing"))
    allowed = NOFILE - RESERVED_FDS  # 64, the existing client included
    storm = await asyncio.to_thread(open_and_ping, fd_limited, allowed + 16)  # from 127.0.0.1
    try:
        replies = await asyncio.to_thread(first_frames, storm, WAIT)
        pongs = [r for r in replies if isinstance(r, dict) and r["type"] == "pong"]
        refused = [(s, r) for s, r in zip(storm, replies, strict=True) if r not in pongs]
        assert len(pongs) == allowed - 1 and len(refused) == 17, replies
        for sock, reply in refused:
            assert isinstance(reply, dict), reply  # an answer, not a hang nor a bare close
            assert reply["code"] == "server_full" and reply["fatal"] is True
            assert await asyncio.to_thread(ended, sock)
        assert await existing.sync() == []  # still served
        # The clamp was announced once, and the refusals did not flood the log.
        lowered = [line for line in warnings_in(fd_limited) if "--max-clients" in line]
        assert len(lowered) == 1 and f"serving at most {allowed} clients" in lowered[0]
        assert len(warnings_in(fd_limited)) <= 2 + math.ceil(time.monotonic() - started)
    finally:
        for sock in storm:
            sock.close()
    deadline = time.monotonic() + WAIT
    while True:  # once the server has seen them go, there is room again
        late = await WireClient.connect(fd_limited)
        clients.append(late)
        await late.send("hello", nick=unique("late"), protocol=1)
        reply = await first_reply(late)
        if isinstance(reply, dict) and reply["type"] == "welcome":
            break
        assert time.monotonic() < deadline, reply
        await asyncio.sleep(0.05)


async def test_out_of_descriptors_newcomers_are_refused_not_left_hanging(
    backend: str, unique: Callable[[str], str], clients: list[WireClient]
) -> None:
    # 100 of the 128 descriptors are taken by something else: accept() fails with EMFILE long
    # before --max-clients (64) is reached.
    server = ServerProcess(backend, nofile=NOFILE, hold_fds=100).start()
    started = time.monotonic()
    storm: list[socket.socket] = []
    try:
        existing = await WireClient.connect(server)
        clients.append(existing)
        await existing.hello(unique("existing"))
        storm = await asyncio.to_thread(open_and_ping, server, 40)
        replies = await asyncio.to_thread(first_frames, storm, 2.0)
        refused = [r for r in replies if not (isinstance(r, dict) and r["type"] == "pong")]
        assert 10 <= len(refused) < 40, replies
        assert "silent" not in refused, refused  # refused at once, not left in the backlog
        if backend == "uvloop":  # libuv refuses them itself, with its own reserve: no frame
            assert set(refused) <= {"reset", "eof"}, refused
        else:  # the reserve descriptor lets them be told why
            assert all(isinstance(r, dict) and r["code"] == "server_full" for r in refused)
            assert any("out of descriptors" in line for line in warnings_in(server))
        assert await existing.sync() == []
        assert len(warnings_in(server)) <= 2 + math.ceil(time.monotonic() - started)
    finally:
        for sock in storm:
            sock.close()
        for client in clients:
            await client.close()
        assert server.stop() == 0
