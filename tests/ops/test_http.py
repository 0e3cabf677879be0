"""The HTTP endpoints over a real socket, in process: /metrics parsed with prometheus-client's
own parser and checked against what the chat did, /healthz, /readyz, and the limits on the
HTTP side (methods, paths, connections at once)."""

from __future__ import annotations

import json
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest
from prometheus_client.parser import text_string_to_metric_families

from chat_server.core import Hub
from chat_server.ops import http
from chat_server.ops.http import OpsServer
from tests.core.harness import connect, make_hub
from tests.core.peer import Peer

TIMEOUT = 5.0


class Ready:
    def __init__(self) -> None:
        self.value = False

    def __call__(self) -> bool:
        return self.value


@pytest.fixture
def served() -> Iterator[tuple[Hub, OpsServer, Ready]]:
    hub, _ = make_hub()
    ready = Ready()
    ops = OpsServer("127.0.0.1", 0, hub, ready)
    ops.start()
    yield hub, ops, ready
    ops.stop()
    hub.shutdown()


def get(ops: OpsServer, path: str, method: str = "GET") -> tuple[int, bytes]:
    request = urllib.request.Request(ops.url + path, method=method)
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as error:
        with error:
            return error.code, error.read()


def metrics(ops: OpsServer) -> dict[str, float]:
    """Every sample of /metrics by name and labels, e.g. 'wirechat_errors_total{code=x}'."""
    status, body = get(ops, "/metrics")
    assert status == 200
    samples: dict[str, float] = {}
    for family in text_string_to_metric_families(body.decode()):
        for sample in family.samples:
            labels = ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()))
            samples[sample.name + (f"{{{labels}}}" if labels else "")] = sample.value
    return samples


def peer(hub: Hub, nick: str, room: str | None = None) -> Peer:
    conn, io = connect(hub, nick)
    client = Peer(hub, conn, io, nick)
    if room is not None:
        client.join(room)
    client.pending()
    return client


def test_metrics_follow_what_the_chat_did(served: tuple[Hub, OpsServer, Ready]) -> None:
    hub, ops, _ = served
    before = metrics(ops)
    assert before["wirechat_users"] == 0 and before["wirechat_rooms"] == 0
    ann = peer(hub, "ann", "lobby")
    peer(hub, "bob", "lobby")
    for n in range(3):
        ann.send("say", room="lobby", text=f"hello {n}")
    ann.send("dm", to="nobody", text="hi")  # no_such_nick
    ann.send("frobnicate")  # invalid_message
    hub.tick()
    hub.tick()
    after = metrics(ops)
    assert after["wirechat_users"] == 2
    assert after["wirechat_rooms"] == 1
    assert after["wirechat_connections{listener=tcp}"] == 2
    assert after["wirechat_messages_total"] == 3
    assert after["wirechat_errors_total{code=no_such_nick}"] == 1
    assert after["wirechat_errors_total{code=invalid_message}"] == 1
    # Each message went to both members (2 x 3), plus the joins' answers and announcements.
    assert after["wirechat_deliveries_total"] >= 6 + before["wirechat_deliveries_total"]
    assert after["wirechat_sent_bytes_total"] > 6 * len("hello 0")
    assert after["wirechat_requests_total"] >= 2 + 2 + 3 + 1  # hellos, joins, says, dm
    assert after["wirechat_tick_lag_seconds_count"] >= 1
    assert after["wirechat_store_healthy"] == 1
    assert "process_cpu_seconds_total" in after


def test_limit_refusals_are_counted_by_kind(served: tuple[Hub, OpsServer, Ready]) -> None:
    hub, ops, _ = served
    # 10 connects per 10 s from one address, then too_many_connections.
    refused = sum(connect(hub, address="192.0.2.1")[0].closed for _ in range(17))
    assert refused == 7
    samples = metrics(ops)
    assert samples["wirechat_limit_refusals_total{kind=too_many_connections}"] == refused
    assert samples["wirechat_errors_total{code=too_many_connections}"] == refused


def test_health_and_readiness(served: tuple[Hub, OpsServer, Ready]) -> None:
    _, ops, ready = served
    assert get(ops, "/healthz") == (200, b"ok\n")
    status, body = get(ops, "/readyz")
    assert status == 503 and json.loads(body)["listening"] is False
    ready.value = True
    status, body = get(ops, "/readyz")
    report = json.loads(body)
    assert status == 200 and report["ready"] is True and report["store"] == "ok"


def test_readiness_fails_when_the_store_stops_taking_writes(
    served: tuple[Hub, OpsServer, Ready], monkeypatch: pytest.MonkeyPatch
) -> None:
    hub, ops, ready = served
    ready.value = True
    monkeypatch.setattr(hub.store, "health", lambda: "history is not being kept: disk full")
    status, body = get(ops, "/readyz")
    assert status == 503 and "disk full" in json.loads(body)["store"]
    assert metrics(ops)["wirechat_store_healthy"] == 0


def test_only_get_on_the_three_paths(served: tuple[Hub, OpsServer, Ready]) -> None:
    _, ops, _ = served
    assert get(ops, "/nothing")[0] == 404
    assert get(ops, "/metrics", method="POST")[0] == 405
    assert get(ops, "/metrics", method="DELETE")[0] == 405


def test_connections_at_once_are_bounded(
    served: tuple[Hub, OpsServer, Ready], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, ops, _ = served
    # Long enough that no idle connection gives its slot up before the test is done with it
    # (they close from this side at the end), however loaded the machine is.
    monkeypatch.setattr(http._Handler, "timeout", 60.0)
    host, port = ops.server_address[:2]
    idle = [socket.create_connection((host, port), timeout=TIMEOUT) for _ in range(8)]
    deadline = time.monotonic() + TIMEOUT
    while ops._slots._value and time.monotonic() < deadline:  # type: ignore[attr-defined]
        time.sleep(0.01)  # until each has taken its slot
    extra = socket.create_connection((host, port), timeout=TIMEOUT)
    extra.sendall(b"GET /healthz HTTP/1.0\r\n\r\n")
    assert extra.recv(100) == b""  # closed unanswered: every slot is taken
    for sock in idle:
        sock.close()
    extra.close()
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:  # the slots come back
        try:
            if get(ops, "/healthz")[0] == 200:
                break
        except OSError:
            time.sleep(0.05)
    assert get(ops, "/healthz")[0] == 200
