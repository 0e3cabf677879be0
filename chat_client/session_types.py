"""What a Session tells its UI (connection states and events) and the small values it keeps
(backoff delays, the last message seen per room). No IO here; chat_client/session.py re-exports
all of it."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from enum import StrEnum

from chat_client.trust import TrustError
from protocol import ChatMessage, Error, ServerMessage, Welcome


class ConnState(StrEnum):
    CONNECTING = "connecting"
    CONNECTED = "connected"
    RECONNECTING = "reconnecting"
    OFFLINE = "offline"


@dataclass(frozen=True, slots=True)
class StateChanged:
    """The connection state changed; `retry_in` is the backoff delay when reconnecting."""

    state: ConnState
    retry_in: float | None = None
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Connected:
    """Registered with the server (again, if `reconnect`); `restarted`: it is a new server."""

    welcome: Welcome
    reconnect: bool
    restarted: bool
    flushed: int = 0


@dataclass(frozen=True, slots=True)
class RoundTrip:
    """A `pong` answered our `ping` after `seconds`."""

    seconds: float


@dataclass(frozen=True, slots=True)
class OutboxDrained:
    """Every request queued while offline has been sent: nothing is waiting any more."""


@dataclass(frozen=True, slots=True)
class Rejected:
    """The server refused our `hello` for a reason retrying will not fix; the session stopped."""

    error: Error


@dataclass(frozen=True, slots=True)
class Unreachable:
    """The first connection failed (nothing listens there, or no `welcome` came) and the
    session was made with `retry_first=False`: it stopped, so the UI can ask again."""

    reason: str


@dataclass(frozen=True, slots=True)
class Untrusted:
    """The server's TLS certificate is not trusted (chat_client/trust.py): the session
    stopped. `error` is an UntrustedCertificate (a UI may ask, pin it and connect again) or a
    FingerprintChanged (never to be accepted from the UI)."""

    error: TrustError


@dataclass(frozen=True, slots=True)
class Halted:
    """The session stopped reconnecting because of `error` (`replaced`, `killed`, a server
    ban, or a refused login on a reconnect); `Session.retry_now()` or `Session.login()`
    connects again."""

    error: Error


SessionEvent = (
    ServerMessage
    | StateChanged
    | Connected
    | RoundTrip
    | Rejected
    | OutboxDrained
    | Halted
    | Unreachable
    | Untrusted
)


@dataclass(slots=True)
class Backoff:
    """Exponential backoff with jitter: base * factor**attempt, capped, scaled down randomly."""

    base: float = 0.5
    factor: float = 2.0
    cap: float = 30.0
    jitter: float = 0.5  # the delay is drawn from [d * (1 - jitter), d]
    rng: random.Random = field(default_factory=random.Random)

    def delay(self, attempt: int) -> float:
        ceiling = min(self.cap, self.base * self.factor ** min(attempt, 32))
        return ceiling * (1.0 - self.jitter * self.rng.random())


@dataclass(slots=True)
class RoomMark:
    """A room we are in, with the spelling the server uses and the last message id seen."""

    name: str
    last_id: int = 0
    last_ts: str = ""  # ISO 8601 UTC from the server: compares as a string
    key: str | None = field(default=None, repr=False)  # the room's key, for rejoining

    def is_seen(self, message: ChatMessage) -> bool:
        """Already shown: an id not above the mark, from before it (not a restarted server)."""
        return message.id <= self.last_id and message.ts <= self.last_ts

    def mark(self, message: ChatMessage) -> None:
        self.last_id, self.last_ts = message.id, message.ts


__all__ = [
    "Backoff",
    "ConnState",
    "Connected",
    "Halted",
    "OutboxDrained",
    "Rejected",
    "RoomMark",
    "RoundTrip",
    "SessionEvent",
    "StateChanged",
    "Unreachable",
    "Untrusted",
]
