"""Stopped (SIGTSTP, ctrl+z) and continued (SIGCONT), the client keeps every key: the real
client in a pseudo-terminal against a scripted server, typing and pasting after the resume.

Textual's driver started a second input thread on a second SIGCONT (a paste then came out in
chunks, out of order) and let Enter typed while resuming turn into a newline (the line was not
sent); chat_client/driver.py works around both. Every wait here is bounded.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import signal
import struct
import subprocess
import sys
import termios
import threading
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from protocol import Join, Say
from tests.client.fakeserver import FakeServer

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="a Linux pty")


class Client:
    """chat-client on a pty of its own (its controlling terminal), its output drained."""

    def __init__(self, port: int) -> None:
        master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
        env = {k: v for k, v in os.environ.items() if not k.startswith(("WIRECHAT_", "TEXTUAL"))}
        env["TERM"] = "xterm-256color"

        def controlling_tty() -> None:
            os.setsid()
            fcntl.ioctl(0, termios.TIOCSCTTY, 0)

        args = ["--port", str(port), "--nick", "alice", "--room", "lobby"]
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "chat_client", *args],
            stdin=slave,
            stdout=slave,
            stderr=slave,
            preexec_fn=controlling_tty,
            env=env,
            cwd=ROOT,
        )
        os.close(slave)
        self.master = master
        self.output = bytearray()
        threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self) -> None:
        while True:
            try:
                data = os.read(self.master, 65536)
            except OSError:
                return
            if not data:
                return
            self.output += data

    def type(self, data: str) -> None:
        os.write(self.master, data.encode())

    async def paste(self, text: str, chunk: int = 2048) -> None:
        """A bracketed paste, written the way a terminal sends a large one: in pieces."""
        data = ("\x1b[200~" + text + "\x1b[201~").encode()
        for start in range(0, len(data), chunk):
            os.write(self.master, data[start : start + chunk])
            await asyncio.sleep(0.005)

    def signal(self, number: int) -> None:
        os.kill(self.proc.pid, number)

    def stopped(self) -> bool:
        stat = Path(f"/proc/{self.proc.pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] == "T"

    def close(self) -> None:
        if self.proc.poll() is None:
            self.signal(signal.SIGCONT)
            self.type("\x11")  # ctrl+q
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        os.close(self.master)


@pytest.fixture
async def fake() -> AsyncIterator[FakeServer]:
    server = await FakeServer().start()
    yield server
    await server.stop()


@pytest.fixture
async def client(fake: FakeServer) -> AsyncIterator[Client]:
    client = Client(fake.port)
    try:
        await fake.wait_for(lambda: bool(fake.received(Join)), 30)
        await asyncio.sleep(0.5)  # the chat screen is up and reading keys
        yield client
    finally:
        client.close()


def says(fake: FakeServer) -> list[str]:
    return [m.text for m in fake.received(Say)]  # type: ignore[attr-defined]


async def wait_stopped(client: Client, stopped: bool = True) -> None:
    async with asyncio.timeout(10):
        while client.stopped() != stopped:
            await asyncio.sleep(0.02)


async def check_typing_and_paste(client: Client, fake: FakeServer, word: str) -> None:
    client.type(f"{word}\r")
    await fake.wait_for(lambda: word in says(fake), 10)
    lines = [f"{word} paste {n:04d} " + "x" * 40 for n in range(1000)]  # ~55 KB
    await client.paste("\n".join(lines) + "\n")
    pasted = lambda: [s for s in says(fake) if s.startswith(f"{word} paste")]  # noqa: E731
    # A long paste asks first (chat_client/screens/paste.py): `s` sends it.
    async with asyncio.timeout(20):
        while not pasted():
            client.type("s")
            with contextlib.suppress(TimeoutError):
                await fake.wait_for(lambda: bool(pasted()), 0.5)
    await fake.wait_for(lambda: len(pasted()) >= len(lines), 20)
    assert pasted() == lines


async def test_keys_typed_as_the_client_continues_are_kept(
    client: Client, fake: FakeServer
) -> None:
    client.type("before\r")
    await fake.wait_for(lambda: "before" in says(fake), 10)
    client.signal(signal.SIGTSTP)
    await wait_stopped(client)
    client.type("typed while stopped\r")  # nothing reads it until the client continues
    client.signal(signal.SIGCONT)
    client.type("right away\r")
    await fake.wait_for(lambda: "right away" in says(fake), 10)
    assert says(fake) == ["before", "typed while stopped", "right away"]
    await check_typing_and_paste(client, fake, "after")


async def test_a_second_sigcont_starts_no_second_reader(client: Client, fake: FakeServer) -> None:
    client.signal(signal.SIGTSTP)
    await wait_stopped(client)
    client.signal(signal.SIGCONT)
    await wait_stopped(client, False)
    await asyncio.sleep(0.3)
    client.signal(signal.SIGCONT)  # `bg` then `fg`, `kill -CONT`, a debugger
    await asyncio.sleep(0.3)
    await check_typing_and_paste(client, fake, "again")


async def test_ctrl_z_suspends(client: Client, fake: FakeServer) -> None:
    client.type("\x1a")  # ctrl+z
    await wait_stopped(client)
    client.signal(signal.SIGCONT)
    await wait_stopped(client, False)
    await check_typing_and_paste(client, fake, "back")
