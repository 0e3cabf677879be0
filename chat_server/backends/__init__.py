"""The registry of IO backends: each name maps to the module that implements it.

A backend module is imported only when chosen, so an optional dependency (uvloop) costs
nothing to the others. Every backend is a `serve(hub, options)` function.
"""

from __future__ import annotations

import importlib

from chat_server.backends.base import Backend, ServeOptions

BACKENDS: dict[str, str] = {
    "asyncio": "chat_server.backends.asyncio_backend:serve",
    "uvloop": "chat_server.backends.uvloop_backend:serve",
    "selectors": "chat_server.backends.selectors_backend:serve",
    "threadpool": "chat_server.backends.threadpool_backend:serve",
    "socketserver": "chat_server.backends.socketserver_backend:serve",
}
DEFAULT_BACKEND = "asyncio"


class BackendUnavailable(RuntimeError):
    """The backend exists but cannot run here (a missing optional dependency)."""


def load_backend(name: str) -> Backend:
    """Import and return the serve function of backend `name`."""
    module_name, _, attr = BACKENDS[name].partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise BackendUnavailable(f"backend {name!r} is unavailable: {exc}") from exc
    serve: Backend = getattr(module, attr)
    return serve


__all__ = ["BACKENDS", "DEFAULT_BACKEND", "Backend", "BackendUnavailable", "ServeOptions"]
