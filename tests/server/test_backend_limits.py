"""Where particular backends run out: select()'s descriptor ceiling, a full pool, no uvloop."""

from __future__ import annotations

import asyncio
import json
import resource
import socket
import sys
import time

import pytest

from chat_server import cli
from protocol import FrameDecoder
from tests.helpers import WAIT, ServerProcess, WireClient

FD_SETSIZE = 1024


def _first_frame_or_eof(sock: socket.socket, timeout: float = WAIT) -> dict[str, object] | None:
    decoder = FrameDecoder(1 << 20)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        data = sock.recv(65536)
        if not data:
            return None
        bodies = decoder.feed(data)
        if bodies:
            return dict(json.loads(bodies[0]))
    raise TimeoutError("nothing from the server")


async def test_select_refuses_descriptors_past_fd_setsize_without_crashing() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = FD_SETSIZE + 200
    new_hard = hard if hard == resource.RLIM_INFINITY else max(hard, wanted)
    # Inherited by the server below. Raising the hard limit needs privileges; without them the
    # test cannot exercise select()'s ceiling and says so instead of passing silently.
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, wanted), new_hard))
    server = ServerProcess("selectors", "--selector", "select").start()
    socks: list[socket.socket] = []
    try:

        def open_many() -> None:
            for _ in range(FD_SETSIZE + 20):
                socks.append(socket.create_connection((server.host, server.port), timeout=WAIT))

        await asyncio.to_thread(open_many)
        error = await asyncio.to_thread(_first_frame_or_eof, socks[-1])
        assert error is not None
        assert error["type"] == "error" and error["code"] == "server_full"
        assert error["fatal"] is True
        assert await asyncio.to_thread(_first_frame_or_eof, socks[-1]) is None  # then closed
        assert await server.logged("beyond select()'s limit of 1024"), server.output()
        # Everyone below the ceiling is still served, and the server is alive.
        for sock in socks[:-30]:
            sock.close()
        del socks[:-30]
        client = await WireClient.connect(server)
        await client.hello("below-the-ceiling")
        await client.close()
        assert server.proc is not None and server.proc.poll() is None
    finally:
        for sock in socks:
            sock.close()
        assert server.stop() == 0
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


async def test_threadpool_refuses_a_client_when_every_worker_is_busy() -> None:
    server = ServerProcess("threadpool", "--workers", "3").start()
    clients: list[WireClient] = []
    try:
        for i in range(3):
            client = await WireClient.connect(server)
            await client.hello(f"worker{i}")
            clients.append(client)
        extra = await WireClient.connect(server)
        clients.append(extra)
        error = await extra.next_of("error")
        assert error["code"] == "server_full" and error["fatal"] is True
        assert await extra.closed()
        assert await server.logged("all 3 workers are busy"), server.output()
        # The three are unaffected, and a freed worker takes the next client.
        await clients[1].send("ping", token="t")
        await clients[1].expect("pong", token="t")
        await clients[0].send("quit")
        await clients[0].expect("bye")
        assert await clients[0].closed()
        deadline = time.monotonic() + WAIT
        while True:
            late = await WireClient.connect(server)
            clients.append(late)
            await late.send("hello", nick="late", protocol=1)
            reply = await late.recv()
            if reply["type"] == "welcome":
                break
            assert reply["code"] == "server_full" and time.monotonic() < deadline
            await asyncio.sleep(0.05)
    finally:
        for client in clients:
            await client.close()
        assert server.stop() == 0


def test_missing_uvloop_is_a_clear_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "uvloop", None)  # import uvloop now fails
    monkeypatch.delitem(sys.modules, "chat_server.backends.uvloop_backend", raising=False)
    assert cli.main(["--backend", "uvloop", "--port", "0"]) == 1
    assert "backend 'uvloop' is unavailable" in capsys.readouterr().err
