#!/usr/bin/env python3
"""Attack harness: rerun the known single-address attacks against a real chat-server.

Each attack starts its own `python -m chat_server` subprocess on 127.0.0.1 with an ephemeral
port, attacks it from loopback only, measures what the server did, and stops that process (by
its PID) before the next attack starts. Attackers connect from 127.0.0.2, 127.0.0.3, ... (not
exempt from the per-address caps, as 127.0.0.1 is by default); observers and victims use
127.0.0.1. Every loop is bounded in count and in time, and nothing is sent off loopback.

The attacks, and the outcome that counts as PASS:

1. memory         8 connections from one address each try to join 100 rooms and say 100
                  messages of 32,000 bytes in each, for at most 40 s: the server's RSS at the
                  end is under 300 MB.
2. dm-flood       40 connections from 127.0.0.2-5 flood a victim on 127.0.0.1 with
                  8,000-character DMs for 10 s: the victim, reading as data comes, is never
                  dropped and still answers a ping.
3. say-flood      one flooder from 127.0.0.2 says as fast as its socket takes it: the median
                  say round trip of an observer in another room stays within 3x of before
                  (1 ms at least).
4. rooms          10,001 room creations from 127.0.0.1 (10,000 is the cap), then 50 `rooms`
                  calls cost < 3.3 ms of server CPU each (a tenth of the old 33 ms); `who` on
                  a 2,000-member room with long nicks is at most 256 KiB with total 2000.
5. slots          40 connections at once from one address: at most 16 accepted, the rest get
                  a fatal `too_many_connections` at once, another address still gets in; idle
                  registered connections topped up every connect window never exceed 16.
6. descriptors    RLIMIT_NOFILE 256 and --max-clients 20000: one warning, 400 connections get
                  welcome or `server_full` within 5 s, and while newcomers retry 20 times a
                  second the server uses < 10% CPU and writes <= ~1 log line a second. Then
                  the same with 120 of the 256 descriptors taken before the server starts, so
                  that it really runs out of them (EMFILE) before --max-clients.
7. impersonation  with `alice` online, 64 look-alike, blank and reserved nicks are all
                  refused (`hello` and `nick`); look-alikes of an existing room join it; a dm
                  to a look-alike reaches alice.
8. passwords      `--password secret`; wrong passwords from 127.0.0.2-9 for 10 s: at most 5
                  checked per address, then a fatal `rate_limited` with retry_after, even for
                  the right password, and even from exempt 127.0.0.1.

Rows without PASS/FAIL are measurements shown for information. Every attack also checks that
the server is still running and logged no internal error. The threadpool backend gets
`--workers 2400` for the rooms attack (2,100 clients at once; its default is 512).

Run from the repository root with the project's interpreter:

    .venv/bin/python scripts/attacks.py                      # every attack, every backend
    .venv/bin/python scripts/attacks.py --backend uvloop --only rooms

It prints one table of measurements per backend and a summary, and exits 1 if any check fails.
Linux only (it reads /proc/PID/status and /proc/PID/stat of the server).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing
import os
import re
import resource
import signal
import statistics
import subprocess
import sys
import threading
import time
import traceback
import unicodedata
from collections import Counter, deque
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from protocol import PROTOCOL_VERSION, FrameDecoder, frame
from protocol.names import name_keys, normalize_nick

ROOT = Path(__file__).resolve().parent.parent
BACKENDS = ("asyncio", "uvloop", "selectors", "threadpool", "socketserver")
HOST = "127.0.0.1"  # the server, observers and victims (exempt by default)
WAIT = 5.0  # the bound on any single network wait
MB = 1_000_000
KIB = 1024
EMOJI = "\U0001f600"  # four bytes in UTF-8
BIG_TEXT = EMOJI * 8000  # 8,000 characters, 32,000 bytes
CLK_TCK = os.sysconf("SC_CLK_TCK")
_LISTENING = re.compile(r"listening on (\S+):(\d+)")
_TYPE = re.compile(rb'\{"type":"([a-z_]+)"')
_REF = re.compile(rb',"ref":"([^"\\]*)"\}$')
_CODE = re.compile(rb'"code":"([a-z_]+)"')
# Runs the server CLI with RLIMIT_NOFILE at (limit, limit), so that the server's own raise
# to the hard limit cannot go above it, after opening `hold` descriptors as if something else
# in the process used them (argv: limit, hold, then the CLI arguments).
_LIMITED_SERVER = """\
import os, resource, runpy, sys
limit, hold = int(sys.argv[1]), int(sys.argv[2])
resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit))
held = [os.open(os.devnull, os.O_RDONLY) for _ in range(hold)]
sys.argv = ["chat_server", *sys.argv[3:]]
runpy.run_module("chat_server", run_name="__main__", alter_sys=True)
"""


def attacker(n: int) -> str:
    """The n-th attacker source address: 127.0.0.2 for n=1, 127.0.0.3 for n=2, ..."""
    return f"127.0.0.{n + 1}"


# ---------------------------------------------------------------------------- the server


class Server:
    """`python -m chat_server` on an ephemeral loopback port, its stderr kept with times."""

    def __init__(self, backend: str, *args: str, nofile: int | None = None, hold: int = 0) -> None:
        self.backend = backend
        self.args = args
        self.nofile = nofile
        self.hold = hold
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None
        self.log: list[tuple[float, str]] = []
        self._reader: threading.Thread | None = None

    def start(self, timeout: float = 20.0) -> Server:
        if self.nofile is None:
            cmd = [sys.executable, "-m", "chat_server"]
        else:
            cmd = [sys.executable, "-c", _LIMITED_SERVER, str(self.nofile), str(self.hold)]
        cmd += ["--backend", self.backend, "--host", HOST, "--port", "0", *self.args]
        self.proc = subprocess.Popen(
            cmd,
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        found = threading.Event()
        proc = self.proc

        def pump() -> None:
            assert proc.stderr is not None
            for raw in proc.stderr:
                line = raw.decode(errors="replace")
                self.log.append((time.monotonic(), line))
                match = _LISTENING.search(line)
                if match and not found.is_set():
                    self.port = int(match.group(2))
                    found.set()

        self._reader = threading.Thread(target=pump, daemon=True)
        self._reader.start()
        deadline = time.monotonic() + timeout
        while not found.wait(0.05):
            if proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"server did not start: {self.tail()}")
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def rss(self) -> int:
        """Resident set size in bytes (VmRSS)."""
        with open(f"/proc/{self.pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
        raise RuntimeError("no VmRSS")

    def cpu(self) -> float:
        """User plus system CPU seconds of the whole process (all its threads)."""
        with open(f"/proc/{self.pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK

    def lines(self, since: float = 0.0, until: float = float("inf")) -> list[str]:
        return [line for t, line in list(self.log) if since <= t < until]

    def problems(self) -> list[str]:
        """Log lines that show a server bug rather than a refusal."""
        return [
            line
            for line in self.lines()
            if "Traceback" in line or "internal error" in line or " ERROR " in line
        ]

    def tail(self, n: int = 5) -> str:
        return "".join(line for _, line in self.log[-n:]).strip()

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM this process (by its PID), wait, and kill it if it does not exit."""
        proc = self.proc
        if proc is None:
            return
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        if self._reader is not None:
            self._reader.join(2)
        if proc.stderr is not None:
            proc.stderr.close()


# ---------------------------------------------------------------------------- a wire client


class Closed(Exception):
    """The server closed the connection (`eof`) or reset it (`reset`)."""


def encode(obj: dict[str, Any]) -> bytes:
    return frame(json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode())


def hello(nick: str, password: str | None = None) -> bytes:
    message: dict[str, Any] = {"type": "hello", "nick": nick, "protocol": PROTOCOL_VERSION}
    if password is not None:
        message["password"] = password
    return encode(message)


def decode(body: bytes, full: bool) -> dict[str, Any]:
    """A server message; big ones are only peeked at (type, ref, size) unless `full`."""
    if full or len(body) <= 4096:
        message: dict[str, Any] = json.loads(body)
    else:
        match = _TYPE.match(body)
        message = {"type": match.group(1).decode() if match else "?"}
        ref = _REF.search(body[-300:])
        if ref:
            message["ref"] = ref.group(1).decode()
    message["_size"] = len(body)
    return message


class Client:
    """One TCP connection speaking frames, from the loopback address `local`."""

    def __init__(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, full: bool
    ) -> None:
        self.reader = reader
        self.writer = writer
        self.full = full
        self.decoder = FrameDecoder(1 << 24)
        self.inbox: deque[dict[str, Any]] = deque()

    @classmethod
    async def connect(
        cls, port: int, local: str = HOST, timeout: float = WAIT, full: bool = False
    ) -> Client:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(HOST, port, local_addr=(local, 0), limit=1 << 20), timeout
        )
        return cls(reader, writer, full)

    def write(self, data: bytes) -> None:
        self.writer.write(data)

    async def drain(self, timeout: float = WAIT) -> None:
        await asyncio.wait_for(self.writer.drain(), timeout)

    async def send(self, data: bytes, timeout: float = WAIT) -> None:
        self.writer.write(data)
        await self.drain(timeout)

    async def _fill(self, timeout: float) -> None:
        try:
            data = await asyncio.wait_for(self.reader.read(1 << 18), timeout)
        except (ConnectionResetError, BrokenPipeError) as exc:
            raise Closed("reset") from exc
        if not data:
            raise Closed("eof")
        for body in self.decoder.feed(data):
            self.inbox.append(decode(body, self.full))

    async def recv(self, timeout: float = WAIT) -> dict[str, Any]:
        """The next message (TimeoutError if none within `timeout`, Closed if the server
        closed)."""
        deadline = time.monotonic() + timeout
        while not self.inbox:
            await self._fill(max(0.0, deadline - time.monotonic()))
        return self.inbox.popleft()

    async def until(
        self, wanted: Callable[[dict[str, Any]], bool], timeout: float = WAIT
    ) -> dict[str, Any]:
        """Skip messages until one for which `wanted` is true."""
        deadline = time.monotonic() + timeout
        while True:
            message = await self.recv(max(0.0, deadline - time.monotonic()))
            if wanted(message):
                return message

    async def first(self, timeout: float = WAIT) -> tuple[str, dict[str, Any] | None]:
        """What the server does first: ("frame", message), ("eof"|"reset"|"timeout", None)."""
        try:
            return "frame", await self.recv(timeout)
        except TimeoutError:
            return "timeout", None
        except Closed as exc:
            return str(exc), None
        except OSError:
            return "reset", None

    async def hello(self, nick: str, password: str | None = None) -> dict[str, Any]:
        """Send hello; return the welcome or the error."""
        await self.send(hello(nick, password))
        return await self.until(lambda m: m["type"] in ("welcome", "error"))

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.writer.close()


async def ping(client: Client, token: str, timeout: float = WAIT) -> bool:
    """True if the connection answers a ping (anything else queued before it is skipped)."""
    try:
        await client.send(encode({"type": "ping", "token": token}), timeout)
        await client.until(lambda m: m["type"] == "pong" and m.get("token") == token, timeout)
        return True
    except (TimeoutError, Closed, OSError):
        return False


def close_all(clients: Iterable[Client]) -> None:
    for client in clients:
        client.close()


# ---------------------------------------------------------------------------- results


@dataclass
class Row:
    """One measurement: PASS/FAIL against `expected` when `ok` is not None."""

    what: str
    value: str
    expected: str = ""
    ok: bool | None = None


@dataclass
class Outcome:
    attack: str
    rows: list[Row] = field(default_factory=list)
    seconds: float = 0.0

    def add(self, what: str, value: object, expected: str = "", ok: bool | None = None) -> None:
        self.rows.append(Row(what, str(value), expected, ok))

    @property
    def failed(self) -> bool:
        return any(row.ok is False for row in self.rows)


def health(out: Outcome, server: Server) -> None:
    """Every attack ends with the server alive and with no internal error in its log."""
    problems = server.problems()
    out.add(
        "server alive, no internal error logged",
        "yes" if server.alive() and not problems else f"alive={server.alive()} {problems[:2]}",
        "yes",
        server.alive() and not problems,
    )


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f} ms"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


# ---------------------------------------------------------------------------- helper processes


class Worker:
    """An attacker in its own process (so its CPU does not slow the harness's observers).

    `target` is an async function of this module taking `report` (a callable that sends a
    message back) then `args`; its return value comes back as the result."""

    def __init__(self, target: Callable[..., Awaitable[Any]], *args: Any) -> None:
        ctx = multiprocessing.get_context("spawn")
        self.queue: Any = ctx.Queue()
        self.proc = ctx.Process(
            target=_worker_main, args=(target.__name__, args, self.queue), daemon=True
        )

    def start(self) -> Worker:
        self.proc.start()
        return self

    async def get(self, timeout: float) -> tuple[str, Any]:
        """The next message from the worker: ("note", x), ("result", x) or ("error", text)."""
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(None, lambda: self.queue.get(True, timeout))
        except Exception as exc:  # queue.Empty
            return "error", f"worker sent nothing within {timeout:g} s ({type(exc).__name__})"

    async def result(self, timeout: float) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            kind, value = await self.get(max(0.1, deadline - time.monotonic()))
            if kind == "result":
                return value
            if kind == "error":
                raise RuntimeError(value)

    def stop(self) -> None:
        """Terminate this worker (by its PID) if it is still running."""
        if self.proc.pid is None:
            return
        self.proc.join(1)
        if self.proc.is_alive():
            self.proc.terminate()
            self.proc.join(5)
        if self.proc.is_alive():
            self.proc.kill()
            self.proc.join(5)


def _worker_main(name: str, args: tuple[Any, ...], queue: Any) -> None:
    target = globals()[name]
    try:
        result = asyncio.run(target(lambda note: queue.put(("note", note)), *args))
    except BaseException as exc:
        queue.put(("error", f"{type(exc).__name__}: {exc}"))
    else:
        queue.put(("result", result))


# ---------------------------------------------------------------------------- 1. memory


async def attack_memory(backend: str) -> Outcome:
    out = Outcome("memory")
    server = Server(backend).start()
    try:
        rss_start = server.rss()
        duration = 40.0
        rooms = [f"hoard-{j}" for j in range(100)]
        says = {
            room: encode({"type": "say", "room": room, "text": BIG_TEXT, "ref": "h"})
            for room in rooms
        }
        joined: set[str] = set()
        errors: Counter[str] = Counter()
        accepted = [0]
        cut: list[str] = []
        peak = [rss_start]
        start = time.monotonic()
        deadline = start + duration

        async def hoarder(i: int) -> None:
            try:
                client = await Client.connect(server.port, attacker(1))
            except (OSError, TimeoutError) as exc:
                cut.append(f"connect: {exc}")
                return
            mine: list[str] = []
            sent: Counter[str] = Counter()
            client.write(hello(f"hoarder{i}"))
            for room in rooms:
                client.write(encode({"type": "join", "room": room}))
            nick = f"hoarder{i}"

            async def read() -> None:
                while time.monotonic() < deadline:
                    try:
                        message = await client.recv(max(0.01, deadline - time.monotonic()))
                    except TimeoutError:
                        return
                    except (Closed, OSError) as exc:
                        cut.append(str(exc))
                        return
                    kind = message["type"]
                    if kind == "joined" and message.get("nick") == nick:
                        mine.append(message["room"])
                        joined.add(message["room"])
                    elif kind == "error":
                        errors[message["code"]] += 1
                        if message.get("fatal"):
                            cut.append(message["code"])
                    elif kind == "message" and message.get("ref") == "h":
                        accepted[0] += 1

            reader = asyncio.create_task(read())
            turn = 0
            try:
                while time.monotonic() < deadline and not reader.done():
                    todo = [room for room in mine if sent[room] < 100]
                    if not todo:
                        await asyncio.sleep(0.05)
                        continue
                    room = todo[turn % len(todo)]
                    turn += 1
                    sent[room] += 1
                    client.write(says[room])
                    await client.drain(max(0.01, deadline - time.monotonic()))
            except (TimeoutError, OSError):
                pass
            await asyncio.wait([reader], timeout=max(0.0, deadline - time.monotonic()) + 1)
            reader.cancel()
            client.close()

        async def sample() -> None:
            while time.monotonic() < deadline:
                peak[0] = max(peak[0], server.rss())
                await asyncio.sleep(0.5)

        sampler = asyncio.create_task(sample())
        await asyncio.gather(*(hoarder(i) for i in range(8)))
        rss_end = server.rss()
        peak[0] = max(peak[0], rss_end)
        spent = time.monotonic() - start
        sampler.cancel()
        out.add("server RSS at the end", f"{rss_end / MB:.1f} MB", "< 300 MB", rss_end < 300 * MB)
        out.add("server RSS at start / peak", f"{rss_start / MB:.1f} / {peak[0] / MB:.1f} MB")
        out.add("rooms created (of 100 names tried by each of 8)", len(joined))
        out.add("refusals", dict(errors) or "none")
        out.add("says accepted (of 8 x 100 x 100 tried)", accepted[0])
        out.add("attackers cut", Counter(cut).most_common() or "none")
        out.add("time spent (bounded at 40 s)", f"{spent:.1f} s")
        health(out, server)
    finally:
        server.stop()
    return out


# ---------------------------------------------------------------------------- 2. dm flood


async def dm_flooder(
    report: Callable[[Any], None], port: int, addresses: list[str], per: int, seconds: float
) -> dict[str, Any]:
    """Flood `victim` with 8,000-character DMs from `per` connections on each address."""
    body = encode({"type": "dm", "to": "victim", "text": BIG_TEXT, "ref": "x"})
    stats: dict[str, Any] = {"connected": 0, "refused": Counter(), "sent": 0, "echoed": 0}
    errors: Counter[str] = Counter()
    cut: Counter[str] = Counter()
    clients: list[Client] = []
    for a, address in enumerate(addresses):
        for i in range(per):
            try:
                client = await Client.connect(port, address)
                welcome = await client.hello(f"dmflood{a}x{i}")
            except (OSError, TimeoutError, Closed) as exc:
                stats["refused"][type(exc).__name__] += 1
                continue
            if welcome["type"] != "welcome":
                stats["refused"][welcome.get("code", "?")] += 1
                client.close()
                continue
            clients.append(client)
    stats["connected"] = len(clients)
    report("ready")
    deadline = time.monotonic() + seconds

    async def flood(client: Client) -> None:
        async def read() -> None:
            while True:
                try:
                    message = await client.recv(max(0.01, deadline + 2 - time.monotonic()))
                except TimeoutError:
                    return
                except (Closed, OSError) as exc:
                    cut[str(exc)] += 1
                    return
                if message["type"] == "dm":
                    stats["echoed"] += 1
                elif message["type"] == "error":
                    errors[message["code"]] += 1

        reader = asyncio.create_task(read())
        try:
            while time.monotonic() < deadline and not reader.done():
                client.write(body)
                stats["sent"] += 1
                await client.drain(max(0.01, deadline - time.monotonic()))
        except (TimeoutError, OSError):
            pass
        await asyncio.wait([reader], timeout=3)
        reader.cancel()
        client.close()

    await asyncio.gather(*(flood(c) for c in clients))
    stats["errors"] = dict(errors)
    stats["cut"] = dict(cut)
    stats["refused"] = dict(stats["refused"])
    return stats


async def attack_dm_flood(backend: str) -> Outcome:
    out = Outcome("dm-flood")
    server = Server(backend).start()
    worker: Worker | None = None
    try:
        victim = await Client.connect(server.port, HOST, full=True)  # decodes every frame
        welcome = await victim.hello("victim")
        assert welcome["type"] == "welcome", welcome
        addresses = [attacker(n) for n in range(1, 5)]
        seconds = 10.0
        worker = Worker(dm_flooder, server.port, addresses, 10, seconds).start()
        kind, note = await worker.get(30)
        if kind != "note":
            raise RuntimeError(f"flooder did not start: {note}")
        received: list[float] = []
        victim_errors: list[str] = []
        victim_closed: list[str] = []
        start = time.monotonic()
        read_until = start + seconds + 3.0
        while time.monotonic() < read_until:
            try:
                message = await victim.recv(max(0.01, read_until - time.monotonic()))
            except TimeoutError:
                break
            except (Closed, OSError) as exc:
                victim_closed.append(str(exc))
                break
            if message["type"] == "dm":
                received.append(time.monotonic() - start)
            elif message["type"] == "error":
                victim_errors.append(message["code"])
        stats = await worker.result(30)
        alive = not victim_closed and await ping(victim, "after")
        victim.close()
        per_second = Counter(int(t) for t in received if t < seconds)
        out.add(
            "victim dropped (slow_consumer / closed)",
            f"errors={victim_errors or 'none'} closed={victim_closed or 'no'}",
            "never",
            not victim_errors and not victim_closed,
        )
        out.add("victim still answers ping after the flood", alive, "True", alive)
        out.add(
            "DMs the victim received per second",
            f"{len(received) / seconds:.1f} avg, {max(per_second.values(), default=0)} peak",
        )
        out.add(
            "attacker connections (4 addresses)",
            f"{stats['connected']} up, refused {stats['refused'] or 'none'}",
        )
        out.add("DMs written / echoed to attackers", f"{stats['sent']} / {stats['echoed']}")
        out.add(
            "attacker errors (any `flood`?)",
            f"{stats['errors'] or 'none'}; cut {stats['cut'] or 'none'}",
        )
        health(out, server)
    finally:
        if worker is not None:
            worker.stop()
        server.stop()
    return out


# ---------------------------------------------------------------------------- 3. say flood


async def say_flooder(
    report: Callable[[Any], None], port: int, address: str, seconds: float
) -> dict[str, Any]:
    """Say as fast as the socket takes it in room `noisy`, reconnecting whenever cut."""
    batch = b"".join(
        encode({"type": "say", "room": "noisy", "text": f"flood {i} " + "x" * 80, "ref": "f"})
        for i in range(64)
    )
    stats: dict[str, Any] = {"written": 0, "echoes": 0, "connections": 0}
    errors: Counter[str] = Counter()
    deadline = time.monotonic() + seconds
    reported = False
    while time.monotonic() < deadline:
        try:
            client = await Client.connect(port, address)
            client.write(hello(f"flooder{stats['connections']}"))
            client.write(encode({"type": "join", "room": "noisy"}))
            first = await client.until(lambda m: m["type"] in ("welcome", "error"))
        except (OSError, TimeoutError, Closed):
            await asyncio.sleep(0.5)
            continue
        if first["type"] == "error":
            errors[first["code"]] += 1
            client.close()
            await asyncio.sleep(min(float(first.get("retry_after") or 1), 2.0))
            continue
        stats["connections"] += 1

        async def read(client: Client = client) -> None:
            while True:
                try:
                    message = await client.recv(max(0.01, deadline - time.monotonic()))
                except (TimeoutError, Closed, OSError):
                    return
                if message["type"] == "message" and message.get("ref") == "f":
                    stats["echoes"] += 1
                elif message["type"] == "error":
                    errors[message["code"]] += 1

        reader = asyncio.create_task(read())
        if not reported:
            report("flooding")
            reported = True
        try:
            while time.monotonic() < deadline and not reader.done():
                client.write(batch)
                stats["written"] += 64
                await client.drain(max(0.01, deadline - time.monotonic()))
        except (TimeoutError, OSError):
            pass
        client.close()
        await asyncio.wait([reader], timeout=1)
        reader.cancel()
    stats["errors"] = dict(errors)
    stats["seconds"] = seconds
    return stats


def echo_of(ref: str) -> Callable[[dict[str, Any]], bool]:
    """Matches the sender's own echo of the `say` sent with `ref`."""
    return lambda m: m["type"] == "message" and m.get("ref") == ref


async def round_trips(client: Client, seconds: float, most: int) -> list[float]:
    """Say in `quiet` and time each echo, one at a time, for `seconds` (at most `most`)."""
    samples: list[float] = []
    stop = time.monotonic() + seconds
    n = 0
    while time.monotonic() < stop and len(samples) < most:
        n += 1
        ref = str(n)
        t0 = time.perf_counter()
        await client.send(encode({"type": "say", "room": "quiet", "text": "ping", "ref": ref}))
        await client.until(echo_of(ref))
        samples.append(time.perf_counter() - t0)
        await asyncio.sleep(0.002)
    return samples


async def attack_say_flood(backend: str) -> Outcome:
    out = Outcome("say-flood")
    server = Server(backend).start()
    worker: Worker | None = None
    try:
        observer = await Client.connect(server.port, HOST)
        assert (await observer.hello("observer"))["type"] == "welcome"
        await observer.send(encode({"type": "join", "room": "quiet"}))
        await observer.until(lambda m: m["type"] == "members")
        await round_trips(observer, 0.5, 50)  # warm up
        before = await round_trips(observer, 2.5, 1000)
        seconds = 12.0
        worker = Worker(say_flooder, server.port, attacker(1), seconds).start()
        kind, note = await worker.get(30)
        if kind != "note":
            raise RuntimeError(f"flooder did not start: {note}")
        await asyncio.sleep(0.5)
        during = await round_trips(observer, 9.0, 5000)
        stats = await worker.result(30)
        observer.close()
        b50, d50 = statistics.median(before), statistics.median(during)
        limit = max(3 * b50, 0.001)
        out.add(
            "observer say round trip, median before -> during",
            f"{ms(b50)} -> {ms(d50)}",
            f"<= {ms(limit)} (3x, floor 1 ms)",
            d50 <= limit,
        )
        out.add(
            "observer p99 before -> during",
            f"{ms(percentile(before, 0.99))} -> {ms(percentile(during, 0.99))}",
        )
        out.add("observer samples before / during", f"{len(before)} / {len(during)}")
        out.add(
            "flooder accepted rate (echoes/s)",
            f"{stats['echoes'] / stats['seconds']:.1f} ({stats['echoes']} echoes, "
            f"{stats['written']} says written, {stats['connections']} connection(s))",
        )
        out.add("flooder errors", stats["errors"] or "none")
        health(out, server)
    finally:
        if worker is not None:
            worker.stop()
        server.stop()
    return out


# ---------------------------------------------------------------------------- 4. rooms and who


class Sink(asyncio.Protocol):
    """A member that only needs to be there: registers, joins, and discards what it reads."""

    def __init__(self, greeting: bytes) -> None:
        self.greeting = greeting
        self.decoder = FrameDecoder(1 << 24)
        self.transport: asyncio.Transport | None = None
        self.welcomed = asyncio.Event()
        self.joined = asyncio.Event()
        self.errors: list[str] = []
        self.lost = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.write(self.greeting)

    def data_received(self, data: bytes) -> None:
        for body in self.decoder.feed(data):
            match = _TYPE.match(body)
            kind = match.group(1) if match else b"?"
            if kind == b"welcome":
                self.welcomed.set()
            elif kind == b"members":
                self.joined.set()
            elif kind == b"error":
                code = _CODE.search(body)
                self.errors.append(code.group(1).decode() if code else "?")
                self.welcomed.set()
                self.joined.set()

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        self.welcomed.set()
        self.joined.set()

    def close(self) -> None:
        if self.transport is not None:
            self.transport.abort()


def _same(sink: Sink) -> Sink:
    return sink


async def open_sinks(port: int, greetings: list[bytes], batch: int = 100) -> list[Sink]:
    loop = asyncio.get_running_loop()
    sinks: list[Sink] = []
    for first in range(0, len(greetings), batch):
        chunk = [Sink(g) for g in greetings[first : first + batch]]
        await asyncio.gather(
            *(
                asyncio.wait_for(
                    loop.create_connection(partial(_same, s), HOST, port, local_addr=(HOST, 0)),
                    WAIT,
                )
                for s in chunk
            )
        )
        sinks += chunk
    return sinks


async def rooms_calls(client: Client, n: int, between: Callable[[], Awaitable[None]]) -> float:
    """Wall seconds for `n` `rooms` requests answered one after the other."""
    total = 0.0
    for _ in range(n):
        await between()
        t0 = time.perf_counter()
        await client.send(encode({"type": "rooms"}))
        await client.until(lambda m: m["type"] in ("room_list", "error"), 10)
        total += time.perf_counter() - t0
    return total


def cjk(n: int, length: int, salt: int) -> str:
    """A name of `length` four-byte characters (CJK Extension B), distinct for each n."""
    base = 0x20000
    span = 0x2A6D0 - base
    head = [chr(base + (n // span) % span), chr(base + n % span)]
    return "".join(head + [chr(base + salt + k) for k in range(length - 2)])


async def attack_rooms(backend: str) -> Outcome:
    out = Outcome("rooms")
    # 2,000 members plus 100 creators need more than the 512 default workers.
    extra = ("--workers", "2400") if backend == "threadpool" else ()
    server = Server(backend, *extra).start()
    sinks: list[Sink] = []
    clients: list[Client] = []
    try:
        lister = await Client.connect(server.port, HOST, full=True)
        clients.append(lister)
        assert (await lister.hello("lister"))["type"] == "welcome"

        # The first room: 2,000 members from 127.0.0.1 whose nicks are 32 four-byte
        # characters each, in a room with a 64 four-byte character name, so that the full
        # member list would not fit in the 256 KiB reply budget.
        room = cjk(0, 64, 1000)
        join = encode({"type": "join", "room": room})
        greetings = [hello(cjk(n, 32, 100)) + join for n in range(2000)]
        t0 = time.monotonic()
        sinks = await open_sinks(server.port, greetings)
        await asyncio.wait_for(asyncio.gather(*(s.joined.wait() for s in sinks)), 90)
        problems = Counter(e for s in sinks for e in s.errors) + Counter(
            "lost" for s in sinks if s.lost
        )
        out.add(
            "2,000 members joined one room",
            f"in {time.monotonic() - t0:.1f} s, problems: {dict(problems) or 'none'}",
        )

        # 10,000 more creations from 127.0.0.1, 100 per connection: 10,001 in all.
        created = [0]
        refused: Counter[str] = Counter()

        async def creator(c: int) -> None:
            client = await Client.connect(server.port, HOST)
            clients.append(client)
            names = [f"r{n:05d}" for n in range(c * 100, c * 100 + 100)]
            client.write(hello(f"maker{c}"))
            client.write(b"".join(encode({"type": "join", "room": name}) for name in names))
            await client.drain()
            answered = 0
            while answered < len(names):
                message = await client.recv(30)
                if message["type"] == "members":
                    created[0] += 1
                    answered += 1
                elif message["type"] == "error":
                    refused[message["code"]] += 1
                    answered += 1

        t0 = time.monotonic()
        for first in range(0, 100, 20):
            await asyncio.gather(*(creator(c) for c in range(first, first + 20)))
        out.add(
            "rooms created of 10,001 tried (the big one first)",
            f"{1 + created[0]} (refused: {dict(refused) or 'none'}) "
            f"in {time.monotonic() - t0:.1f} s",
            "10,000 (--max-rooms), then limit_reached",
            created[0] == 9_999 and refused == Counter({"limit_reached": 1}),
        )
        await asyncio.sleep(0.5)

        async def nothing() -> None:
            return None

        cpu0 = server.cpu()
        wall = await rooms_calls(lister, 50, nothing)
        cpu_cached = (server.cpu() - cpu0) / 50
        await lister.send(encode({"type": "rooms"}))
        listing = await lister.until(lambda m: m["type"] in ("room_list", "error"))
        out.add(
            "`rooms` server CPU per call (50 calls, fresh client)",
            ms(cpu_cached),
            "< 3.30 ms (old: 33 ms)",
            cpu_cached < 0.0033,
        )
        out.add("`rooms` wall time per call", ms(wall / 50))
        out.add(
            "`rooms` reply",
            f"{listing['_size']:,} bytes, {len(listing.get('rooms', []))} rooms listed",
            "<= 262,144 bytes",
            listing["type"] == "room_list" and listing["_size"] <= 256 * KIB,
        )

        # The same with the cached listing invalidated before each call (a join or a leave of
        # an existing room changes its member count), minus what the joins and leaves cost.
        mover = await Client.connect(server.port, HOST)
        clients.append(mover)
        assert (await mover.hello("mover"))["type"] == "welcome"
        flip = [0]

        async def toggle() -> None:
            kind = "join" if flip[0] % 2 == 0 else "leave"
            flip[0] += 1
            await mover.send(encode({"type": kind, "room": "r00000"}))
            wanted = "members" if kind == "join" else "left"
            await mover.until(lambda m: m["type"] in (wanted, "error"))

        cpu0 = server.cpu()
        for _ in range(50):
            await toggle()
        toggles = server.cpu() - cpu0
        cpu0 = server.cpu()
        await rooms_calls(lister, 50, toggle)
        cpu_fresh = max(0.0, server.cpu() - cpu0 - toggles) / 50
        out.add(
            "`rooms` server CPU per call, listing changed before each",
            f"{ms(cpu_fresh)} (the cached listing defeated)",
        )

        cpu0 = server.cpu()
        t0 = time.perf_counter()
        for _ in range(20):
            await lister.send(encode({"type": "who", "room": room}))
            members = await lister.until(lambda m: m["type"] in ("members", "error"), 10)
        who_wall = (time.perf_counter() - t0) / 20
        who_cpu = (server.cpu() - cpu0) / 20
        size = members["_size"]
        out.add(
            "`who` on the 2,000-member room",
            f"{size:,} bytes, total={members.get('total')}, "
            f"{len(members.get('nicks', []))} nicks listed",
            "<= 262,144 bytes, total=2000",
            size <= 256 * KIB and members.get("total") == 2000,
        )
        out.add("`who` server CPU / wall per call", f"{ms(who_cpu)} / {ms(who_wall)}")
        health(out, server)
    finally:
        server.stop()
        for sink in sinks:
            sink.close()
        close_all(clients)
    return out


# ---------------------------------------------------------------------------- 5. slots


async def open_many(
    port: int, local: str, n: int, wait: float
) -> list[tuple[Client | None, str, float]]:
    """Open `n` connections at once from `local`; for each: the client (None if the connect
    failed), what the server did first within `wait` seconds ("accepted": nothing), and how
    long that took."""

    async def one() -> tuple[Client | None, str, float]:
        t0 = time.monotonic()
        try:
            client = await Client.connect(port, local)
        except (OSError, TimeoutError) as exc:
            return None, f"connect failed: {exc}", time.monotonic() - t0
        kind, message = await client.first(wait)
        took = time.monotonic() - t0
        if message is None:  # nothing within `wait`: accepted, waiting for hello
            return client, "accepted" if kind == "timeout" else kind, took
        label = message["type"]
        if message["type"] == "error":
            label = message["code"] + (" retry_after" if message.get("retry_after") else "")
            label += " fatal" if message.get("fatal") else ""
        return client, label, took

    return list(await asyncio.gather(*(one() for _ in range(n))))


async def attack_slots(backend: str) -> Outcome:
    out = Outcome("slots")
    server = Server(backend).start()
    held: list[Client] = []  # registered connections from 127.0.0.2
    others: list[Client] = []
    try:
        # 40 connections at once from one address.
        t_first = time.monotonic()
        lines0 = len(server.log)
        results = await open_many(server.port, attacker(1), 40, 2.0)
        kept = [c for c, kind, _ in results if c is not None and kind == "accepted"]
        refused = [(kind, took) for c, kind, took in results if kind != "accepted"]
        close_all(c for c, kind, _ in results if c is not None and kind != "accepted")
        kinds = Counter(kind for kind, _ in refused)
        slowest = max((took for _, took in refused), default=0.0)
        ok_refusals = all(k.startswith("too_many_connections") and "fatal" in k for k in kinds)
        out.add("40 at once from 127.0.0.2: accepted", len(kept), "<= 16", len(kept) <= 16)
        out.add(
            "  the others",
            dict(kinds) or "none",
            "too_many_connections (fatal)",
            ok_refusals and len(kept) + len(refused) == 40,
        )
        out.add("  slowest refusal", ms(slowest), "< 1 s (at once)", slowest < 1.0)
        out.add("  server log lines for the 40", len(server.log) - lines0)
        for i, client in enumerate(kept):
            reply = await client.hello(f"slot{i}")
            if reply["type"] == "welcome":
                held.append(client)
            else:
                client.close()
        neighbour = await Client.connect(server.port, attacker(2))
        others.append(neighbour)
        reply = await neighbour.hello("neighbour")
        out.add(
            "a client from 127.0.0.3 meanwhile",
            reply["type"],
            "welcome",
            reply["type"] == "welcome",
        )
        # Once the connect window has passed: the idle registered connections each ping (as
        # if once a minute), and 10 more try to join them: the total stays at 16.
        await asyncio.sleep(max(0.0, t_first + 10.5 - time.monotonic()))
        alive = [await ping(c, "keep") for c in held]
        results = await open_many(server.port, attacker(1), 10, 2.0)
        for newcomer, kind, _ in results:
            if newcomer is None:
                continue
            if kind == "accepted":
                reply = await newcomer.hello(f"late{len(held)}")
                if reply["type"] == "welcome":
                    held.append(newcomer)
                    continue
            newcomer.close()
        got = Counter(kind for _, kind, _ in results)
        out.add(
            "after 10.5 s: 10 more from 127.0.0.2",
            f"{len(alive)} idle held ({sum(alive)} answer ping); the 10: {dict(got)}",
        )
        alive = [await ping(c, "final") for c in held]
        out.add(
            "registered connections from 127.0.0.2 at the end",
            f"{len(held)} ({sum(alive)} answer ping)",
            "<= 16",
            len(held) <= 16,
        )
        # A storm of refused connections from the capped address: its cost and log growth.
        lines0, t0 = len(server.log), time.monotonic()
        cpu0 = server.cpu()
        storm = 0
        while time.monotonic() - t0 < 2.0 and storm < 400:
            results = await open_many(server.port, attacker(1), 20, 1.0)
            close_all(c for c, _, _ in results if c is not None)
            storm += len(results)
        span = time.monotonic() - t0
        out.add(
            "refused-connection storm from 127.0.0.2",
            f"{storm / span:.0f} conn/s: server CPU {100 * (server.cpu() - cpu0) / span:.0f}%, "
            f"{(len(server.log) - lines0) / span:.0f} log lines/s",
        )
        health(out, server)
    finally:
        server.stop()
        close_all(held)
        close_all(others)
    return out


# ---------------------------------------------------------------------------- 6. descriptors


async def attack_descriptors(backend: str) -> Outcome:
    out = Outcome("descriptors")
    # As asked: the open-files limit at 256, so --max-clients is lowered to 192 at start.
    server = Server(backend, "--max-clients", "20000", nofile=256).start()
    try:
        await asyncio.sleep(0.3)
        warnings = [line for line in server.lines() if "--max-clients" in line]
        shown = warnings[0].split("WARNING ")[-1][:70].strip() if warnings else ""
        out.add(
            "start-up warnings about --max-clients",
            f"{len(warnings)}: {shown}",
            "1",
            len(warnings) == 1,
        )
        await exhaust(out, server, 400, 5.0, "")
        health(out, server)
    finally:
        server.stop()
    # Beyond what was asked: 120 of the 256 descriptors already taken by something else in
    # the process, so the server runs out of descriptors (EMFILE) before --max-clients.
    server = Server(backend, "--max-clients", "20000", nofile=256, hold=120).start()
    try:
        await exhaust(out, server, 200, 10.0, "EMFILE: ")
        health(out, server)
    finally:
        server.stop()
    return out


async def exhaust(out: Outcome, server: Server, first: int, seconds: float, tag: str) -> None:
    """Open `first` connections from 127.0.0.1, then retry 20 a second for `seconds`: what
    each got, the server's CPU per 5 s, and how fast its stderr grows."""
    held: list[Client] = []

    async def one(i: int) -> tuple[Client | None, str]:
        try:
            client = await Client.connect(server.port, HOST)
        except (OSError, TimeoutError) as exc:
            return None, f"connect failed ({type(exc).__name__})"
        with contextlib.suppress(OSError):
            client.write(hello(f"fd{i}"))
        kind, message = await client.first(WAIT)
        if message is None:
            return client, kind
        return client, message.get("code", message["type"])

    try:
        results: list[tuple[Client | None, str]] = []
        for start in range(0, first, 50):
            results += await asyncio.gather(*(one(i) for i in range(start, start + 50)))
        kinds = Counter(kind for _, kind in results)
        held = [c for c, kind in results if c is not None and kind == "welcome"]
        close_all(c for c, kind in results if c is not None and kind != "welcome")
        out.add(f"{tag}{first} connections from 127.0.0.1", dict(kinds))
        # docs/protocol.md: at the descriptor limit itself, asyncio and uvloop may fail to
        # answer a newcomer; only a hang counts against them there.
        lenient = bool(tag) and server.backend in ("asyncio", "uvloop")
        out.add(
            f"{tag}  the excess got server_full",
            f"{kinds['server_full']} of {first - kinds['welcome']}",
            "all (asyncio/uvloop: no hang)" if lenient else "all",
            kinds["timeout"] == 0 if lenient else kinds["welcome"] + kinds["server_full"] == first,
        )
        # Excess clients retrying, 20 new attempts a second.
        outcomes: Counter[str] = Counter()

        async def retry(i: int) -> None:
            client, kind = await one(10_000 + i)
            outcomes[kind] += 1
            if client is not None:
                client.close()

        tasks: list[asyncio.Task[None]] = []
        windows: list[float] = []
        t0 = time.monotonic()
        cpu0, tw = server.cpu(), t0
        for i in range(int(seconds * 20)):
            await asyncio.sleep(max(0.0, t0 + i * 0.05 - time.monotonic()))
            tasks.append(asyncio.create_task(retry(i)))
            if time.monotonic() - tw >= 5.0:
                cpu, now = server.cpu(), time.monotonic()
                windows.append((cpu - cpu0) / (now - tw))
                cpu0, tw = cpu, now
        await asyncio.sleep(max(0.0, t0 + seconds - time.monotonic()))
        cpu, now = server.cpu(), time.monotonic()
        if now - tw > 2.0:
            windows.append((cpu - cpu0) / (now - tw))
        span = now - t0
        lines = server.lines(t0, now)
        await asyncio.wait(tasks, timeout=WAIT + 1)
        out.add(f"{tag}{len(tasks)} retries at 20/s", dict(outcomes))
        out.add(
            f"{tag}  no retry left hanging for 5 s",
            outcomes["timeout"],
            "0",
            outcomes["timeout"] == 0,
        )
        out.add(
            f"{tag}  server CPU while they retry, per 5 s",
            ", ".join(f"{100 * w:.1f}%" for w in windows),
            "< 10%",
            max(windows) < 0.10,
        )
        levels = Counter(
            m.group(1) for line in lines if (m := re.search(r" (INFO|WARNING|ERROR) ", line))
        )
        out.add(
            f"{tag}  server stderr growth while they retry",
            f"{len(lines)} lines in {span:.1f} s ({dict(levels) or 'none'})",
            f"<= ~1 line/s (<= {int(seconds) + 1})",
            len(lines) <= int(seconds) + 1,
        )
        alive = [await ping(c, "still") for c in held[:5]]
        out.add(f"{tag}held clients still answer ping (first 5)", f"{sum(alive)} of {len(alive)}")
    finally:
        close_all(held)


# ---------------------------------------------------------------------------- 7. impersonation

LOOK_ALIKES = [
    "\u0430lice",  # Cyrillic a
    "\uff41\uff4c\uff49\uff43\uff45",  # fullwidth
    "\U0001d41a\U0001d425\U0001d422\U0001d41c\U0001d41e",  # mathematical bold
    "aIice",  # capital I
    "ALICE",
    "Alice",
    "alice\u200b",  # zero-width space
    "\u200balice",
    "alice\u200d",  # zero-width joiner
    "al\u00adice",  # soft hyphen
    "alice\u2060",  # word joiner
    "alice\ufe0f",  # variation selector
    "alice\u034f",  # combining grapheme joiner
    "alice\U000e0041",  # tag character
    "\u24d0\u24db\u24d8\u24d2\u24d4",  # circled letters
    "a1ice",  # digit one
    "alic\u0435",  # Cyrillic e
    "\u0430\u04cf\u0456\u0441\u0435",  # Cyrillic a, palochka, i, es, ie
    "al\u0456ce",  # Cyrillic i
    "ali\u0441e",  # Cyrillic es
    "\u0251lice",  # Latin alpha
    "al\u0131ce",  # dotless i
    "a\u217cice",  # small roman numeral fifty
    "a\u04cfice",  # Cyrillic palochka
    "\U0001d4b6\U0001d4c1\U0001d4be\U0001d4b8\u212f",  # mathematical script
    "\U0001d51e\U0001d529\U0001d526\U0001d520\U0001d522",  # fraktur
    "\U0001d552\U0001d55d\U0001d55a\U0001d554\U0001d556",  # double-struck
    "\U0001d68a\U0001d695\U0001d692\U0001d68c\U0001d68e",  # monospace
    "\U0001d5ba\U0001d5c5\U0001d5c2\U0001d5bc\U0001d5be",  # sans-serif
    "\uff41lice",  # one fullwidth letter
    "aLICE",
    "alice ",  # trailing space
    " alice",
    "alice\u00a0",  # no-break space
    "alic\u0435\u200c",  # Cyrillic e and a zero-width non-joiner
    "\u1d00\u029f\u026a\u1d04\u1d07",  # small capitals
    "\u03b1lice",  # Greek alpha
    "\u0391LICE",  # Greek capital alpha
    "ALI\u0421E",  # Cyrillic capital es
    "a|ice",  # vertical line
    "a\u01c0ice",  # Latin letter dental click
    "al\u2170ce",  # small roman numeral one
    "alic\u212e",  # estimated symbol
]
BLANK_NICKS = ["\u3164", "\u2800", "\u115f", "\u1160", "\uffa0", "\u3000", "\u200b", "\U0001d159"]
RESERVED = [
    "*",
    "@alice",
    "[server]",
    "server",
    "Server",
    "\u0455erver",  # Cyrillic dze
    "ROOT",
    "admin",
    "NickServ",
    "#alice",
    "!alice",
    "\uff03alice",  # fullwidth number sign
    "\uff53\uff45\uff52\uff56\uff45\uff52",  # fullwidth server
]
ROOM_LOOK_ALIKES = [
    "Lobby",
    "LOBBY",
    "\uff4c\uff4f\uff42\uff42\uff59",
    "1obby",
    "l\u043ebby",  # Cyrillic o
    "\U0001d425\U0001d428\U0001d41b\U0001d41b\U0001d432",
    "lobby\u200b",
    "\u24db\u24de\u24d1\u24d1\u24e8",
]


async def attack_impersonation(backend: str) -> Outcome:
    out = Outcome("impersonation")
    server = Server(backend).start()
    clients: list[Client] = []
    try:
        alice = await Client.connect(server.port, HOST)
        clients.append(alice)
        assert (await alice.hello("alice"))["type"] == "welcome"
        await alice.send(encode({"type": "join", "room": "lobby"}))
        await alice.until(lambda m: m["type"] == "members")
        candidates = [(n, "look-alike") for n in LOOK_ALIKES]
        candidates += [(n, "blank") for n in BLANK_NICKS]
        candidates += [(n, "reserved") for n in RESERVED]
        accepted: list[str] = []
        codes: dict[str, Counter[str]] = {"look-alike": Counter(), "blank": Counter()}
        codes["reserved"] = Counter()
        # At most 12 hellos per connection, so flood control never has to hold any back.
        for start in range(0, len(candidates), 12):
            client = await Client.connect(server.port, attacker(1 + start // 48))
            clients.append(client)
            for nick, kind in candidates[start : start + 12]:
                reply = await client.hello(nick)
                if reply["type"] == "welcome":
                    accepted.append(f"{nick!r} as {reply['nick']!r}")
                    client.close()
                    client = await Client.connect(server.port, attacker(1 + start // 48))
                    clients.append(client)
                else:
                    codes[kind][reply["code"]] += 1
        out.add(
            f"hello with {len(candidates)} look-alike/blank/reserved nicks: accepted",
            len(accepted) if not accepted else f"{len(accepted)}: {', '.join(accepted)}",
            "0",
            not accepted,
        )
        for kind, counts in codes.items():
            out.add(f"  refusals of the {kind} nicks", dict(counts))
        # The same as renames by a registered user.
        mallory = await Client.connect(server.port, attacker(4))
        clients.append(mallory)
        assert (await mallory.hello("mallory"))["type"] == "welcome"
        renamed: list[str] = []
        for i, (nick, _) in enumerate(c for c in candidates if c[1] == "look-alike"):
            if i and i % 12 == 0:
                await asyncio.sleep(3.2)  # stay within the request budget (4/s)
            await mallory.send(encode({"type": "nick", "nick": nick}))
            reply = await mallory.until(lambda m: m["type"] in ("nick_changed", "error"))
            if reply["type"] == "nick_changed":
                renamed.append(nick)
        out.add(
            "`nick` to each look-alike of alice: accepted",
            len(renamed) if not renamed else f"{len(renamed)}: {renamed!r}",
            "0",
            not renamed,
        )
        # A rename from a nick that shares the look-alike's first key (its NFKC case-folded
        # form, `aiice` for `aIice`) but no key of alice's: the registry must still see that
        # the look-alike's other key is alice's.
        shared = []
        alice_keys = set(name_keys("alice"))
        for nick in LOOK_ALIKES:
            base = unicodedata.normalize("NFKC", nick).casefold()
            with contextlib.suppress(ValueError):
                if normalize_nick(base) == base and not set(name_keys(base)) & alice_keys:
                    shared.append((base, nick))
        taken_over: list[str] = []
        routes: list[str] = []
        for i, (base, nick) in enumerate(shared):
            holder = await Client.connect(server.port, attacker(6))
            clients.append(holder)
            reply = await holder.hello(base)
            if reply["type"] != "welcome":
                taken_over.append(f"{base!r} refused: {reply.get('code')}")
                continue
            await holder.send(encode({"type": "nick", "nick": nick}))
            reply = await holder.until(lambda m: m["type"] in ("nick_changed", "error"))
            if reply["type"] == "nick_changed":
                taken_over.append(f"{base!r} -> {nick!r}")
            await holder.send(encode({"type": "dm", "to": nick, "text": f"to {i}"}))
            reply = await holder.until(lambda m: m["type"] in ("dm", "error"))
            routes.append(f"{nick!r} from {base!r} -> {reply.get('to') or reply.get('code')}")
        out.add(
            f"`nick` to a look-alike from a nick sharing its first key ({len(shared)})",
            "refused" if not taken_over else "; ".join(taken_over),
            "refused",
            bool(shared) and not taken_over,
        )
        out.add("  then a dm to that look-alike goes to", "; ".join(routes))
        # Look-alike room names join the existing room.
        eve = await Client.connect(server.port, attacker(5))
        clients.append(eve)
        assert (await eve.hello("eve"))["type"] == "welcome"
        wrong: list[str] = []
        for name in ROOM_LOOK_ALIKES:
            await eve.send(encode({"type": "join", "room": name}))
            reply = await eve.until(lambda m: m["type"] in ("joined", "error"))
            if reply["type"] == "joined" and reply["room"] != "lobby":
                wrong.append(f"{name!r} -> {reply['room']!r}")
            elif reply["type"] == "joined":
                await eve.until(lambda m: m["type"] == "members")
            elif reply["code"] != "invalid_room":
                wrong.append(f"{name!r}: {reply['code']}")
        out.add(
            f"join with {len(ROOM_LOOK_ALIKES)} look-alikes of `lobby`",
            "all joined lobby (or invalid_room)" if not wrong else "; ".join(wrong),
            "joined names `lobby`",
            not wrong,
        )
        await eve.send(encode({"type": "dm", "to": "\uff21\uff2c\uff29\uff23\uff25", "text": "hi"}))
        reply = await eve.until(lambda m: m["type"] in ("dm", "error"))
        out.add(
            "dm to fullwidth `ALICE` goes to",
            reply.get("to") or reply.get("code"),
            "alice",
            reply.get("to") == "alice",
        )
        health(out, server)
    finally:
        server.stop()
        close_all(clients)
    return out


# ---------------------------------------------------------------------------- 8. passwords


async def attack_passwords(backend: str) -> Outcome:
    out = Outcome("passwords")
    server = Server(backend, "--password", "secret").start()
    try:
        addresses = [attacker(n) for n in range(1, 9)]
        seconds = 10.0
        per_address: dict[str, Counter[str]] = {a: Counter() for a in addresses}
        bad_frames: list[str] = []
        deadline = time.monotonic() + seconds

        async def guesser(address: str, lane: int) -> None:
            n = 0
            while time.monotonic() < deadline and n < 200:
                n += 1
                try:
                    client = await Client.connect(server.port, address)
                except (OSError, TimeoutError):
                    per_address[address]["connect failed"] += 1
                    continue
                kind, message = await client.first(0.05)
                if kind == "timeout":
                    client.write(hello(f"guess{lane}x{n}", f"guess-{lane}-{n}"))
                    kind, message = await client.first(WAIT)
                client.close()
                if message is None:
                    per_address[address][kind] += 1
                    continue
                code = message.get("code", message["type"])
                per_address[address][code] += 1
                if code in ("rate_limited", "too_many_connections"):
                    if not (message.get("fatal") and message.get("retry_after")):
                        bad_frames.append(f"{code} without fatal/retry_after: {message}")
                    if code == "too_many_connections":
                        # The connect throttle: wait as told (within the run).
                        wait = float(message.get("retry_after") or 1)
                        await asyncio.sleep(min(wait, max(0.0, deadline - time.monotonic())))

        t0 = time.monotonic()
        await asyncio.gather(*(guesser(a, lane) for a in addresses for lane in range(3)))
        span = time.monotonic() - t0
        checked = {a: c["bad_password"] for a, c in per_address.items()}
        total = Counter[str]()
        for counts in per_address.values():
            total.update(counts)
        out.add(
            "wrong passwords checked per address (8 addresses, 10 s)",
            f"max {max(checked.values())}, total {sum(checked.values())}",
            "<= 5 each",
            max(checked.values()) <= 5,
        )
        out.add(
            "attempts actually checked per second",
            f"{sum(checked.values()) / span:.1f}/s (old: 1,400-2,900/s)",
        )
        out.add("all outcomes", dict(total))
        out.add(
            "`rate_limited` / throttle frames carry fatal and retry_after",
            "yes" if not bad_frames else bad_frames[0],
            "yes",
            not bad_frames,
        )
        # The right password from an address that has used up its failures.
        late = attacker(9)
        for i in range(6):
            client = await Client.connect(server.port, late)
            password = "secret" if i == 5 else f"wrong{i}"
            reply = await client.hello(f"late{i}", password)
            closed = await client.first(2.0)
            client.close()
        out.add(
            "right password after 5 failures (127.0.0.10)",
            f"{reply.get('code', reply['type'])} fatal={reply.get('fatal')} "
            f"retry_after={reply.get('retry_after')} then {closed[0]}",
            "rate_limited, fatal, retry_after, closed",
            reply.get("code") == "rate_limited"
            and bool(reply.get("fatal"))
            and bool(reply.get("retry_after"))
            and closed[0] in ("eof", "reset"),
        )
        # 127.0.0.1 is exempt from the caps, never from the password throttle.
        for i in range(6):
            client = await Client.connect(server.port, HOST)
            reply = await client.hello(f"local{i}", f"wrong{i}")
            client.close()
        out.add(
            "6th wrong password from exempt 127.0.0.1",
            reply.get("code", reply["type"]),
            "rate_limited",
            reply.get("code") == "rate_limited",
        )
        fresh = await Client.connect(server.port, attacker(10))
        reply = await fresh.hello("rightful", "secret")
        fresh.close()
        out.add(
            "right password from a fresh address (127.0.0.11)",
            reply["type"],
            "welcome",
            reply["type"] == "welcome",
        )
        health(out, server)
    finally:
        server.stop()
    return out


# ---------------------------------------------------------------------------- running

ATTACKS: dict[str, tuple[Callable[[str], Coroutine[Any, Any, Outcome]], float]] = {
    "memory": (attack_memory, 120.0),
    "dm-flood": (attack_dm_flood, 90.0),
    "say-flood": (attack_say_flood, 90.0),
    "rooms": (attack_rooms, 180.0),
    "slots": (attack_slots, 90.0),
    "descriptors": (attack_descriptors, 120.0),
    "impersonation": (attack_impersonation, 90.0),
    "passwords": (attack_passwords, 90.0),
}


async def run_one(name: str, backend: str) -> Outcome:
    attack, bound = ATTACKS[name]
    t0 = time.monotonic()
    task = asyncio.create_task(attack(backend))
    done, _ = await asyncio.wait([task], timeout=bound)
    if not done:
        task.cancel()
        with contextlib.suppress(BaseException):
            await task
        outcome = Outcome(name, [Row("attack finished", f"not within {bound:g} s", "yes", False)])
    elif (exc := task.exception()) is not None:
        mine = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename == __file__]
        at = " at " + " < ".join(f"{f.lineno}: {f.line}" for f in reversed(mine[-3:]))
        outcome = Outcome(
            name, [Row("attack ran", f"{type(exc).__name__}: {exc}{at}", "yes", False)]
        )
    else:
        outcome = task.result()
    outcome.seconds = time.monotonic() - t0
    return outcome


def print_table(backend: str, outcomes: list[Outcome], seconds: float) -> None:
    print(f"\n=== {backend} ({seconds:.0f} s)")
    width = (20, 56, 60, 40)
    for outcome in outcomes:
        for i, row in enumerate(outcome.rows):
            verdict = "" if row.ok is None else "PASS" if row.ok else "FAIL"
            name = f"{outcome.attack} ({outcome.seconds:.0f}s)" if i == 0 else ""
            print(
                f"{name:<{width[0]}} {row.what:<{width[1]}} {row.value:<{width[2]}} "
                f"{row.expected:<{width[3]}} {verdict}".rstrip()
            )
    sys.stdout.flush()


def tree_state() -> str:
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "chat_server", "protocol"],
            cwd=ROOT,
            capture_output=True,
            text=True,
        ).stdout.strip()
    except OSError:
        return "unknown"
    return head + (" with uncommitted changes in chat_server/ or protocol/" if dirty else "")


async def main_async(backends: list[str], attacks: list[str]) -> int:
    results: dict[str, list[Outcome]] = {}
    t_all = time.monotonic()
    print(f"wirechat attack harness; server tree {tree_state()}; {os.cpu_count()} CPUs")
    for backend in backends:
        t0 = time.monotonic()
        results[backend] = [await run_one(name, backend) for name in attacks]
        print_table(backend, results[backend], time.monotonic() - t0)
    print(f"\n=== summary ({time.monotonic() - t_all:.0f} s)")
    print(f"{'attack':<16}" + "".join(f"{b:<14}" for b in backends))
    for i, name in enumerate(attacks):
        cells = ["FAIL" if results[b][i].failed else "PASS" for b in backends]
        print(f"{name:<16}" + "".join(f"{c:<14}" for c in cells))
    return 1 if any(o.failed for outs in results.values() for o in outs) else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Rerun the known single-address attacks against a real chat-server on "
        "loopback and check each against its expected outcome (exit 1 on any FAIL).",
    )
    parser.add_argument(
        "--backend",
        action="append",
        choices=BACKENDS,
        metavar="NAME",
        help=f"backend to attack (repeatable; default: all of {', '.join(BACKENDS)})",
    )
    parser.add_argument(
        "--only",
        action="append",
        choices=list(ATTACKS),
        metavar="NAME",
        help=f"run only this attack (repeatable): {', '.join(ATTACKS)}",
    )
    args = parser.parse_args(argv)
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if resource.getrlimit(resource.RLIMIT_NOFILE)[0] < 4096:
        print("note: fewer than 4096 open files allowed; the rooms attack needs ~2,200")
    backends = args.backend or list(BACKENDS)
    attacks = args.only or list(ATTACKS)
    return asyncio.run(main_async(backends, attacks))


if __name__ == "__main__":
    sys.exit(main())
