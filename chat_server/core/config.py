"""The core's settings: limits and identity, with the defaults the CLI documents."""

from __future__ import annotations

from dataclasses import dataclass

from protocol import DEFAULT_MAX_FRAME


@dataclass(frozen=True, slots=True)
class CoreConfig:
    max_frame: int = DEFAULT_MAX_FRAME
    history: int = 100  # messages kept per room and replayed on join
    max_clients: int = 20_000
    max_rooms_per_client: int = 100
    # Bytes of outbound data a connection may have waiting after a flush (what the backend
    # could not write yet) before it is disconnected as a slow consumer.
    max_outbuf: int = 1 << 20
    idle_timeout: float = 300.0  # seconds without any frame from a client before it is dropped
    hello_timeout: float = 30.0  # seconds a new connection has to register with `hello`
    password: str | None = None
    motd: str | None = None
    server_name: str = "wirechat"
