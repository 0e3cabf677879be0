"""Connections that vanish, and servers that stop: cleanup and graceful shutdown."""

from __future__ import annotations

import asyncio
import signal
import struct

import pytest

from tests.conftest import ConnectFactory
from tests.helpers import ServerProcess, WireClient


@pytest.mark.parametrize("how", ["close", "reset"])
async def test_peer_vanishing_mid_frame_is_seen_as_left_once(
    connect: ConnectFactory, unique, how: str
) -> None:
    room = unique("room")
    watcher = await connect("watcher", room)
    ghost = await connect("ghost", room)
    await watcher.expect("joined", nick=ghost.nick)
    await ghost.send_raw(struct.pack(">I", 100) + b'{"type": "say"')  # half a frame
    if how == "reset":
        ghost.abort()
    else:
        await ghost.close()
    left = await watcher.expect("left", nick=ghost.nick)
    assert left["room"] == room
    assert left["reason"] == ("connection reset" if how == "reset" else "connection closed")
    assert [m for m in await watcher.sync() if m["type"] == "left"] == []
    # The nick is free again and the room is clean.
    again = await connect(None)
    await again.hello(ghost.nick)
    await watcher.send("who", room=room)
    assert (await watcher.next_of("members"))["nicks"] == [watcher.nick]


async def _stop_and_collect(backend: str, stall_one: bool) -> None:
    server = ServerProcess(backend).start()
    clients = []
    try:
        for i in range(3):
            client = await WireClient.connect(server)
            await client.hello(f"c{i}")
            await client.join("lobby")
            clients.append(client)
        if stall_one:
            await clients[0].send_raw(struct.pack(">I", 50) + b'{"type"')
        unregistered = await WireClient.connect(server)
        clients.append(unregistered)
        await asyncio.sleep(0.1)
        server.signal(signal.SIGTERM)
        for client in clients:
            assert (await client.expect("bye"))["reason"]
            assert await client.closed()
        assert await asyncio.to_thread(server.wait, 10) == 0
        assert "shutting down" in server.output()
    finally:
        for client in clients:
            await client.close()
        server.kill()


async def test_sigterm_says_bye_and_exits_zero(backend: str) -> None:
    await _stop_and_collect(backend, stall_one=False)


async def test_sigterm_with_a_client_stalled_mid_frame(backend: str) -> None:
    await _stop_and_collect(backend, stall_one=True)


async def test_sigint_shuts_down_too(backend: str) -> None:
    server = ServerProcess(backend).start()
    try:
        client = await WireClient.connect(server)
        await client.hello("x")
        server.signal(signal.SIGINT)
        await client.expect("bye")
        assert await asyncio.to_thread(server.wait, 10) == 0
        await client.close()
    finally:
        server.kill()


async def test_server_full(backend: str) -> None:
    server = ServerProcess(backend, "--max-clients", "2").start()
    clients = []
    try:
        for i in range(2):
            client = await WireClient.connect(server)
            await client.hello(f"full{i}")
            clients.append(client)
        extra = await WireClient.connect(server)
        clients.append(extra)
        error = await extra.next_of("error")
        assert error["code"] == "server_full" and error["fatal"] is True
        assert await extra.closed()
        # Once someone leaves there is room again.
        await clients[0].send("quit")
        await clients[0].expect("bye")
        await asyncio.sleep(0.2)
        late = await WireClient.connect(server)
        clients.append(late)
        await late.hello("late")
    finally:
        for client in clients:
            await client.close()
        assert server.stop() == 0


async def test_password(backend: str) -> None:
    server = ServerProcess(backend, "--password", "s3cret").start()
    try:
        wrong = await WireClient.connect(server)
        await wrong.send("hello", nick="w", protocol=1, password="guess")
        error = await wrong.next_of("error")
        assert error["code"] == "bad_password" and error["fatal"] is True
        assert await wrong.closed()
        await wrong.close()
        right = await WireClient.connect(server)
        await right.send("hello", nick="r", protocol=1, password="s3cret")
        await right.next_of("welcome")
        await right.close()
    finally:
        assert server.stop() == 0


async def _instances_across_a_restart(server: ServerProcess) -> list[str]:
    instances = []
    for _ in range(2):
        for _ in range(2):
            client = await WireClient.connect(server)
            instances.append((await client.hello("same"))["instance"])
            await client.send("quit")
            assert await client.closed()
            await client.close()
        server.restart()
    return instances


async def test_instance_changes_when_an_in_memory_server_restarts(backend: str) -> None:
    server = ServerProcess(backend, "--db", ":memory:").start()
    try:
        instances = await _instances_across_a_restart(server)
        assert instances[0] == instances[1] != instances[2] == instances[3]
    finally:
        assert server.stop() == 0


async def test_instance_stays_while_the_database_does(backend: str) -> None:
    server = ServerProcess(backend).start()
    try:
        instances = await _instances_across_a_restart(server)
        assert instances[0] == instances[1] == instances[2] == instances[3]
    finally:
        assert server.stop() == 0
