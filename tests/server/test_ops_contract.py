"""Metrics and health over HTTP from a real server, on every backend: `--http` serves
/healthz, /readyz and /metrics on its own port while the chat runs."""

from __future__ import annotations

import asyncio
import re
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

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
