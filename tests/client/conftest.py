"""Fixtures for the client tests: a real wirechat server in a subprocess on a loopback port."""

from __future__ import annotations

import queue
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import pytest

HOST = "127.0.0.1"
_LISTENING = re.compile(r"listening on ([0-9.]+):(\d+)")


class ServerProcess:
    """`chat-server` on 127.0.0.1; `port` is fixed after the first start so it can restart."""

    def __init__(self, *extra: str) -> None:
        self.extra = extra
        self.port = 0
        self.proc: subprocess.Popen[str] | None = None
        self.log: list[str] = []
        self._reader = threading.Thread()

    def start(self, timeout: float = 10.0) -> None:
        cmd = [sys.executable, "-m", "chat_server", "--host", HOST, "--port", str(self.port)]
        deadline = time.monotonic() + timeout
        while True:
            port = self._spawn(cmd + list(self.extra), deadline)
            if port is not None:
                self.port = port
                return
            if time.monotonic() > deadline:
                raise RuntimeError("server did not start: " + "".join(self.log[-5:]))
            time.sleep(0.1)  # the old port may not be free yet

    def _spawn(self, cmd: list[str], deadline: float) -> int | None:
        proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        lines: queue.Queue[str | None] = queue.Queue()

        def drain() -> None:
            assert proc.stderr is not None
            for line in proc.stderr:
                self.log.append(line)
                lines.put(line)
            lines.put(None)

        reader = threading.Thread(target=drain, daemon=True)
        reader.start()
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                proc.kill()
                proc.wait(5)
                raise RuntimeError("server did not log its port in time")
            try:
                line = lines.get(timeout=remaining)
            except queue.Empty:
                continue
            if line is None:  # exited, e.g. the port was still in use
                proc.wait(5)
                reader.join(5)
                assert proc.stderr is not None
                proc.stderr.close()
                return None
            match = _LISTENING.search(line)
            if match:
                self.proc = proc
                self._reader = reader
                return int(match.group(2))

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if self.proc is not None:
            self._reader.join(5)
            assert self.proc.stderr is not None
            self.proc.stderr.close()
        self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()


@pytest.fixture
def server() -> Iterator[ServerProcess]:
    srv = ServerProcess()
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()
