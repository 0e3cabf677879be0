"""`--http HOST:PORT`: /metrics, /healthz and /readyz on a thread of their own, never on the
chat's port or loop. At most MAX_CONNECTIONS requests are served at once (others are closed
unanswered), each must arrive within REQUEST_TIMEOUT, and no request body is ever read."""

from __future__ import annotations

import json
import logging
import socket
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from chat_server.core.threads import ignore_stop_signals
from chat_server.ops.metrics import registry_for

if TYPE_CHECKING:
    from chat_server.core import Hub
    from chat_server.probe import StatusProbe

log = logging.getLogger("chat_server.http")

MAX_CONNECTIONS = 8
REQUEST_TIMEOUT = 5.0


class OpsServer(ThreadingHTTPServer):
    """The HTTP endpoints for one Hub. `listening()` says whether the chat listeners are open
    (the backend reports it); `/readyz` needs that and a store that takes writes."""

    daemon_threads = True

    def __init__(
        self,
        host: str,
        port: int,
        hub: Hub,
        listening: Callable[[], bool],
        probe: StatusProbe | None = None,
    ) -> None:
        self.address_family = socket.AF_INET6 if ":" in host else socket.AF_INET
        super().__init__((host, port), _Handler)
        self.hub = hub
        self.listening = listening
        self.registry = registry_for(hub, probe)
        self._slots = threading.BoundedSemaphore(MAX_CONNECTIONS)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        name = host.decode() if isinstance(host, bytes) else str(host)
        shown = f"[{name}]" if ":" in name else name
        return f"http://{shown}:{port}"

    def start(self) -> None:
        def run() -> None:
            ignore_stop_signals()
            self.serve_forever(poll_interval=0.2)

        self._thread = threading.Thread(target=run, name="ops-http", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self.shutdown()
        self.server_close()
        if self._thread is not None:
            self._thread.join(5)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False):
            self.shutdown_request(request)  # too many at once: closed unanswered
            return
        super().process_request(request, client_address)

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()

    def readiness(self) -> tuple[bool, dict[str, object]]:
        health = self.hub.health()
        listening = self.listening()
        ready = bool(health["ok"]) and listening
        return ready, {**health, "listening": listening, "ready": ready}


class _Handler(BaseHTTPRequestHandler):
    server: OpsServer
    timeout = REQUEST_TIMEOUT
    protocol_version = "HTTP/1.0"  # one request per connection: nothing to keep open

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path == "/metrics":
            self._answer(200, generate_latest(self.server.registry), CONTENT_TYPE_LATEST)
        elif path == "/healthz":
            self._answer(200, b"ok\n", "text/plain; charset=utf-8")
        elif path == "/readyz":
            ready, report = self.server.readiness()
            body = json.dumps(report).encode() + b"\n"
            self._answer(200 if ready else 503, body, "application/json")
        else:
            self._answer(404, b"not found: try /metrics, /healthz or /readyz\n", "text/plain")

    def do_HEAD(self) -> None:
        self._answer(405, b"", "text/plain")

    do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_HEAD

    def _answer(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        if status == 405:
            self.send_header("Allow", "GET")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s %s", self.address_string(), format % args)
