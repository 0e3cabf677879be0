"""The uvloop backend: the asyncio backend, unchanged, running on uvloop's libuv event loop."""

from __future__ import annotations

import asyncio

import uvloop

from chat_server.backends.asyncio_backend import serve_async
from chat_server.backends.base import ServeOptions
from chat_server.core import Hub


def serve(hub: Hub, options: ServeOptions) -> None:
    """Serve with uvloop's event loop (same protocol, flusher and shutdown as asyncio)."""
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(serve_async(hub, options))
