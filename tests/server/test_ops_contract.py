"""Metrics and health over HTTP from a real server, on every backend: `--http` serves
/healthz, /readyz and /metrics on its own port while the chat runs."""

from __future__ import annotations

import asyncio
import re
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

from chat_server.probe import probe
from tests.helpers import WAIT, ServerProcess, WireClient

_URL = re.compile(r"metrics and health on (http://\S+)")


def fetch(url: str) -> tuple[int, str]:
    with urllib.request.urlopen(url, timeout=WAIT) as answer:
        return answer.status, answer.read().decode()


async def test_http_serves_health_and_metrics(backend: str, unique) -> None:
    server = ServerProcess(backend, "--http", "127.0.0.1:0").start()
    clients: list[WireClient] = []
    try:
        assert await server.logged("metrics and health on")
        match = _URL.search(server.output())
        assert match is not None
        base = match.group(1)
        assert await asyncio.to_thread(fetch, base + "/healthz") == (200, "ok\n")
        status, body = await asyncio.to_thread(fetch, base + "/readyz")
        assert status == 200 and '"ready": true' in body
        room = unique("ops")
        for nick in ("ann", "bob"):
            client = await WireClient.connect(server)
            clients.append(client)
            await client.hello(unique(nick))
            await client.join(room)
        await clients[0].send("say", room=room, text="counted")
        await clients[1].expect("message", text="counted")
        _, text = await asyncio.to_thread(fetch, base + "/metrics")
        samples = {
            s.name: s.value
            for family in text_string_to_metric_families(text)
            for s in family.samples
        }
        assert samples["wirechat_messages_total"] == 1
        assert samples["wirechat_users"] == 2
        assert samples["wirechat_rooms"] == 1
        assert samples["wirechat_connections"] == 2
    finally:
        for client in clients:
            client.writer.close()
        server.stop()


async def test_udp_probe_answers_with_the_servers_status(backend: str) -> None:
    server = ServerProcess(backend, "--udp", "127.0.0.1:0", "--http", "127.0.0.1:0").start()
    try:
        assert await server.logged("answering status probes on udp")
        found = re.search(r"answering status probes on udp (\S+):(\d+)", server.output())
        assert found is not None
        status, rtt = await asyncio.to_thread(probe, found.group(1), int(found.group(2)))
        assert status["backend"] == backend and status["protocol"] == 1
        assert status["listeners"] == [f"tcp://127.0.0.1:{server.port}"]
        assert status["users"] == 0 and rtt > 0
        assert await server.logged("metrics and health on")
        match = _URL.search(server.output())
        assert match is not None
        _, text = await asyncio.to_thread(fetch, match.group(1) + "/metrics")
        assert "wirechat_probe_answers_total 1.0" in text
    finally:
        server.stop()
