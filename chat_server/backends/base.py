"""What every backend receives: where to listen, and how to report that it is listening."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from chat_server.core import Hub

#: Bytes asked of the kernel per read.
READ_SIZE = 256 * 1024
#: Values of `--selector` (the selectors backend's choice of system call).
SELECTORS = ("default", "select", "poll", "epoll")
#: Default pool size of the threadpool backend: one worker per connected client.
DEFAULT_WORKERS = 512


def _ignore_ready(host: str, port: int) -> None:
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


class Backend(Protocol):
    def __call__(self, hub: Hub, options: ServeOptions) -> None:
        """Serve until SIGINT or SIGTERM, then shut down gracefully and return."""
