"""The socketserver backend: `ThreadingTCPServer`, a thread and a `BaseRequestHandler` each.

`serve_forever` runs on its own thread and starts a handler thread per connection; the handler
reads for the connection's whole life. Writes go through the shared writer thread of
`_threaded`. On SIGINT/SIGTERM the main thread calls `server.shutdown()` (never from the
`serve_forever` thread, which would deadlock), then says `bye` to everyone.
"""

from __future__ import annotations

import logging
import socket
import socketserver
import ssl
import threading
from typing import Any

from chat_server.backends._threaded import (
    THREAD_STACK,
    ThreadedCore,
    block_stop_signals,
    wait_for_stop_signal,
)
from chat_server.backends.base import ServeOptions
from chat_server.backends.lifecycle import OUT_OF_DESCRIPTORS, Acceptor
from chat_server.core import Hub
from chat_server.listeners import Listener

log = logging.getLogger("chat_server")


class _Handler(socketserver.BaseRequestHandler):
    server: _Server

    def handle(self) -> None:
        core = self.server.core
        self.request.setblocking(True)
        core.read_loop(core.open(self.request, self.client_address, tls=self.server.tls))


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, core: ThreadedCore, listener: Listener, tls: ssl.SSLContext | None) -> None:
        # Serves a socket bound and listening already (chat_server.listeners): the one
        # socketserver would make is closed unused.
        super().__init__(("", 0), _Handler, bind_and_activate=False)
        self.socket.close()
        self.socket = listener.sock
        self.server_address = listener.sock.getsockname()
        self.core = core
        self.tls = tls if listener.kind == "tls" else None
        # Non-blocking, so a refusal at the descriptor limit can never block serve_forever.
        self.socket.setblocking(False)
        self.acceptor = Acceptor(self.socket)

    def get_request(self) -> tuple[socket.socket, Any]:
        try:
            return self.socket.accept()
        except OSError as exc:
            # socketserver skips a failed accept and selects again, at once: at the
            # descriptor limit that spins. Refusing the newcomer takes it off the backlog.
            if exc.errno in OUT_OF_DESCRIPTORS:
                self.acceptor.refuse_one(exc)
            raise

    def server_close(self) -> None:
        super().server_close()
        if hasattr(self, "acceptor"):
            self.acceptor.close()

    def shutdown_request(self, request: Any) -> None:
        # The handler's read loop has closed the socket already (after the writer finished).
        self.close_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.exception("handler for %s failed", client_address)


def serve(hub: Hub, options: ServeOptions) -> None:
    """Serve until SIGINT/SIGTERM with a thread per connection, then shut down gracefully."""
    block_stop_signals()
    threading.stack_size(THREAD_STACK)
    core = ThreadedCore(hub)
    listeners = options.open_listeners()
    servers = [_Server(core, listener, options.tls) for listener in listeners]
    loops = [
        threading.Thread(target=server.serve_forever, name="chat-accept", daemon=True)
        for server in servers
    ]
    try:
        core.start()
        for loop in loops:
            loop.start()
        options.announce(listeners)
        wait_for_stop_signal(core, options.reload)
        for server in servers:
            server.shutdown()  # stops serve_forever (from this thread, not its own)
            server.server_close()
        core.shutdown()
        for loop in loops:
            loop.join(2.0)
    finally:
        for server in servers:
            server.server_close()
        for listener in listeners:
            listener.close()
