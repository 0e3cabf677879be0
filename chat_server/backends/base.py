"""What every backend receives: where to listen, and how to report that it is listening."""

from __future__ import annotations

import ssl
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from chat_server.core import Hub
from chat_server.listeners import Listener, ListenerSpec, open_listener

#: Bytes asked of the kernel per read.
READ_SIZE = 256 * 1024
#: Values of `--selector` (the selectors backend's choice of system call).
SELECTORS = ("default", "select", "poll", "epoll")
#: Default pool size of the threadpool backend: one worker per connected client.
DEFAULT_WORKERS = 512


def _ignore_ready(host: str, port: int) -> None:
    pass


def _ignore_listening(urls: list[str]) -> None:
    pass


def _no_reload() -> None:
    pass


@dataclass(slots=True)
class ServeOptions:
    host: str = "127.0.0.1"
    port: int = 8089
    backlog: int = 1024
    # Called once the listening socket is bound, with the address actually bound (port 0 works).
    ready: Callable[[str, int], None] = field(default=_ignore_ready)
    selector: str = "default"  # selectors backend only
    workers: int = DEFAULT_WORKERS  # threadpool backend only
    # The listeners to serve, already open (chat_server.listeners); empty: one TCP listener
    # on host:port, opened by the backend. `ready` is called with the first TCP or TLS one's
    # address, `listening` with every listener's URL once all are served.
    listeners: list[Listener] = field(default_factory=list)
    listening: Callable[[list[str]], None] = field(default=_ignore_listening)
    # For tls:// listeners. Every backend runs TLS over its own plain stream (backends/tls.py),
    # so a handshake that stalls is dropped by the core's hello window like a silent client.
    tls: ssl.SSLContext | None = None
    # Called on SIGHUP, on the core's thread (under the core lock for the thread backends):
    # reads the settings again and applies what may change (chat_server.reload).
    reload: Callable[[], None] = field(default=_no_reload)

    def open_listeners(self) -> list[Listener]:
        """The listeners to serve: those given, or the default TCP one on host:port."""
        if not self.listeners:
            spec = ListenerSpec("tcp", host=self.host, port=self.port)
            self.listeners = [open_listener(spec, self.backlog)]
        if any(listener.kind == "tls" for listener in self.listeners) and self.tls is None:
            raise ValueError(
                "a tls:// listener needs a certificate and key (--tls-cert, --tls-key)"
            )
        return self.listeners

    def announce(self, listeners: list[Listener]) -> None:
        """Call `ready` and `listening` for `listeners`, now served."""
        for listener in listeners:
            if listener.kind != "unix":
                host, port = listener.sock.getsockname()[:2]
                self.ready(host, port)
                break
        self.listening([listener.url for listener in listeners])


class Backend(Protocol):
    def __call__(self, hub: Hub, options: ServeOptions) -> None:
        """Serve until SIGINT or SIGTERM, then shut down gracefully and return; on each
        SIGHUP meanwhile, call `options.reload` on the core's thread."""
