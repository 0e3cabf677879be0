"""The event-loop backends turn Nagle off on every accepted TCP socket (small frames must not
wait for the peer's delayed ACK); asyncio does it only for sockets whose proto is TCP."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Callable

import pytest
import uvloop

from chat_server.backends.asyncio_backend import serve_async
from chat_server.backends.base import ServeOptions
from chat_server.core import Hub

LOOPS: dict[str, Callable[[], asyncio.AbstractEventLoop]] = {
    "asyncio": asyncio.new_event_loop,
    "uvloop": uvloop.new_event_loop,
}


@pytest.mark.parametrize("loop_name", sorted(LOOPS))
def test_accepted_sockets_have_nodelay(loop_name: str) -> None:
    hub = Hub(backend=loop_name)
    bound: list[int] = []
    ready = threading.Event()
    holder: dict[str, object] = {}

    def ready_cb(host: str, port: int) -> None:
        bound.append(port)
        ready.set()

    async def main() -> None:
        stop = asyncio.Event()
        holder["stop"], holder["loop"] = stop, asyncio.get_running_loop()
        await serve_async(hub, ServeOptions(host="127.0.0.1", port=0, ready=ready_cb), stop)

    def run() -> None:
        with asyncio.Runner(loop_factory=LOOPS[loop_name]) as runner:
            runner.run(main())

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    assert ready.wait(5)
    client = socket.create_connection(("127.0.0.1", bound[0]), timeout=5)
    try:
        for _ in range(100):
            if hub.connections:
                break
            threading.Event().wait(0.02)
        (conn,) = hub.connections.values()
        transport = conn.io.transport  # type: ignore[attr-defined]
        sock = transport.get_extra_info("socket")
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
    finally:
        client.close()
        loop = holder["loop"]
        assert isinstance(loop, asyncio.AbstractEventLoop)
        loop.call_soon_threadsafe(holder["stop"].set)  # type: ignore[attr-defined]
        thread.join(10)
    assert not thread.is_alive()
