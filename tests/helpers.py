"""Shared test helpers: a real server in a subprocess, and a raw wire-level client."""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from typing import Any

from protocol import PROTOCOL_VERSION, FrameDecoder, frame

WAIT = 5.0  # default bound for any single network wait in the tests
_LISTENING = re.compile(rb"listening on (\S+):(\d+)")
# Runs the server CLI under a descriptor limit (argv: limit, descriptors to hold open, CLI
# arguments): RLIMIT_NOFILE set to (limit, limit) before the server starts, so it cannot raise
# it, and `hold` descriptors taken first, as if something else in the process used them.
_LIMITED_SERVER = """\
import os, resource, runpy, sys
limit, hold = int(sys.argv[1]), int(sys.argv[2])
resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit))
held = [os.open(os.devnull, os.O_RDONLY) for _ in range(hold)]
sys.argv = ["chat_server", *sys.argv[3:]]
runpy.run_module("chat_server", run_name="__main__", alter_sys=True)
"""


#: Where test servers keep their databases (and their data directory): removed at exit.
_DATA = tempfile.mkdtemp(prefix="wirechat-tests-")
atexit.register(shutil.rmtree, _DATA, ignore_errors=True)


class ServerProcess:
    """`python -m chat_server` on an ephemeral loopback port, with its stderr captured.

    Each server gets its own SQLite database (`self.db`), kept across `restart()`, unless the
    arguments name one with `--db`. With `nofile`, the server runs with RLIMIT_NOFILE at
    (nofile, nofile), and `hold_fds` descriptors of its process are taken before it starts
    (see _LIMITED_SERVER)."""

    def __init__(
        self, backend: str = "asyncio", *args: str, nofile: int | None = None, hold_fds: int = 0
    ) -> None:
        self.backend = backend
        self.args = args
        self.nofile = nofile
        self.hold_fds = hold_fds
        self.db = os.path.join(tempfile.mkdtemp(dir=_DATA), "wirechat.db")
        if "--db" not in args:
            self.args = ("--db", self.db, *args)
        self.host = "127.0.0.1"
        self.port = 0
        self.log: list[str] = []
        self.proc: subprocess.Popen[bytes] | None = None
        self._reader: threading.Thread | None = None

    def start(self, port: int | None = None, timeout: float = 15.0) -> ServerProcess:
        """Start and wait for the listening line. Without `port`, reuse the last one (0 at
        first), retrying while the old process's port is not free yet."""
        if port is not None:
            self.port = port
        deadline = time.monotonic() + timeout
        while not self._spawn(deadline):
            if time.monotonic() > deadline:
                raise RuntimeError(f"server did not start: {''.join(self.log[-5:])}")
            time.sleep(0.1)
        return self

    def _spawn(self, deadline: float) -> bool:
        if self.nofile is None:
            cmd = [sys.executable, "-m", "chat_server"]
        else:
            cmd = [sys.executable, "-c", _LIMITED_SERVER, str(self.nofile), str(self.hold_fds)]
        cmd += ["--backend", self.backend]
        cmd += ["--host", self.host, "--port", str(self.port), *self.args]
        # Its own data and config directories, and none of the caller's WIRECHAT_* settings:
        # a developer's wirechat.toml or environment never changes a test's server.
        env = {k: v for k, v in os.environ.items() if not k.startswith("WIRECHAT_")}
        env.update(PYTHONUNBUFFERED="1", XDG_DATA_HOME=_DATA, XDG_CONFIG_HOME=_DATA)
        self.proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env=env,
        )
        found = threading.Event()
        proc = self.proc

        def pump() -> None:
            assert proc.stderr is not None
            for line in proc.stderr:
                self.log.append(line.decode(errors="replace"))
                match = _LISTENING.search(line)
                if match and not found.is_set():
                    self.port = int(match.group(2))
                    found.set()

        self._reader = threading.Thread(target=pump, daemon=True)
        self._reader.start()
        while not found.wait(0.05):
            if proc.poll() is not None:  # exited: e.g. the port is still taken
                self._close_pipe()
                return False
            if time.monotonic() > deadline:
                self.kill()
                raise RuntimeError(f"server did not start: {''.join(self.log)}")
        return True

    def restart(self) -> ServerProcess:
        """Stop, then start again on the same port (a fresh server: new ids, no rooms)."""
        self.stop()
        return self.start()

    def signal(self, sig: int = signal.SIGTERM) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def wait(self, timeout: float = 10.0) -> int:
        assert self.proc is not None
        status = self.proc.wait(timeout)
        self._close_pipe()
        return status

    def stop(self, timeout: float = 10.0) -> int:
        """SIGTERM and wait; kill if it does not exit in time. Returns the exit status."""
        if self.proc is None:
            return 0
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise
        finally:
            self._close_pipe()

    def _close_pipe(self) -> None:
        if self._reader is not None:
            self._reader.join(2)
        if self.proc is not None and self.proc.stderr is not None:
            self.proc.stderr.close()

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)
        self._close_pipe()

    def output(self) -> str:
        return "".join(self.log)

    async def logged(self, text: str, timeout: float = WAIT) -> bool:
        """Wait, bounded, until the server's log (read by a pump thread) contains text."""
        deadline = time.monotonic() + timeout
        while text not in self.output():
            if time.monotonic() > deadline:
                return False
            await asyncio.sleep(0.02)
        return True


class WireClient:
    """A test client that speaks raw frames and returns server messages as plain dicts."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.decoder = FrameDecoder(1 << 24)
        self.inbox: deque[dict[str, Any]] = deque()
        self.nick: str | None = None

    @classmethod
    async def connect(
        cls, server: ServerProcess, timeout: float = WAIT, local_addr: str | None = None
    ) -> WireClient:
        """Connect to `server`, from the loopback address `local_addr` if given (127.0.0.2,
        say: not exempt from the per-address caps and flood control as 127.0.0.1 is)."""
        bind = None if local_addr is None else (local_addr, 0)
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(server.host, server.port, local_addr=bind), timeout
        )
        return cls(reader, writer)

    async def send(self, type_: str, **fields: Any) -> None:
        await self.send_json({"type": type_, **fields})

    async def send_json(self, obj: Any) -> None:
        await self.send_raw(frame(json.dumps(obj).encode()))

    async def send_raw(self, data: bytes) -> None:
        self.writer.write(data)
        await asyncio.wait_for(self.writer.drain(), WAIT)

    async def recv(self, timeout: float = WAIT) -> dict[str, Any]:
        """The next message; fails the test if none arrives within `timeout`."""
        while not self.inbox:
            data = await asyncio.wait_for(self.reader.read(65536), timeout)
            if not data:
                raise ConnectionError("server closed the connection")
            for body in self.decoder.feed(data):
                self.inbox.append(json.loads(body))
        return self.inbox.popleft()

    async def expect(self, type_: str, timeout: float = WAIT, **fields: Any) -> dict[str, Any]:
        """Skip messages until one of `type_` matching `fields` arrives."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no {type_} {fields} within {timeout}s")
            message = await self.recv(left)
            if message["type"] == type_ and all(message.get(k) == v for k, v in fields.items()):
                return message

    async def next_of(self, *types: str, timeout: float = WAIT) -> dict[str, Any]:
        """The next message whose type is one of `types`, failing on any other kind."""
        message = await self.recv(timeout)
        assert message["type"] in types, message
        return message

    async def sync(self, token: str = "sync") -> list[dict[str, Any]]:
        """Ping and collect everything that arrives before the pong."""
        await self.send("ping", token=token)
        seen = []
        while True:
            message = await self.recv()
            if message["type"] == "pong" and message["token"] == token:
                return seen
            seen.append(message)

    async def hello(self, nick: str) -> dict[str, Any]:
        await self.send("hello", nick=nick, protocol=PROTOCOL_VERSION)
        welcome = await self.next_of("welcome")
        self.nick = welcome["nick"]
        return welcome

    async def join(self, room: str) -> dict[str, Any]:
        """Join and consume the joiner's replies; returns the history message."""
        await self.send("join", room=room)
        await self.expect("joined", nick=self.nick)
        history = await self.expect("history")
        await self.expect("members")
        return history

    async def closed(self, timeout: float = WAIT) -> bool:
        """True once the server has closed the connection (after any pending messages)."""
        try:
            while True:
                data = await asyncio.wait_for(self.reader.read(65536), timeout)
                if not data:
                    return True
                for body in self.decoder.feed(data):
                    self.inbox.append(json.loads(body))
        except (ConnectionError, OSError):
            return True

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(ConnectionError, OSError, TimeoutError):
            await asyncio.wait_for(self.writer.wait_closed(), WAIT)

    def abort(self) -> None:
        """Vanish with a TCP reset (SO_LINGER 0: close() sends RST, not FIN)."""
        sock = self.writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.writer.transport.abort()
