"""The chat core's entry points for backends: connections in, frames out, no IO of its own.

A backend owns the sockets and calls:

- `open(io, peer, address=...)` when a client connects, keeping the returned Connection
  (`full=True` refuses it as `server_full` when the backend itself has no room for it);
- `receive(conn, data)` with every chunk read from it;
- `check_backlog(conn, unsent)` after every write to it (and every drain), with the bytes it
  still holds unsent: the one rule by which output caps see what the kernel did not take;
- `lost(conn)` when the peer goes away (EOF, reset, error);
- `tick()` every TICK seconds: resumes connections held back by flood control, cuts slow
  consumers over the soft limit for too long, and reaps idle connections now and then;
- `shutdown()` once, when the server stops.

The core answers by queueing encoded frames on connections and calling `io.output_ready()` on
each one that has something new, and `io.pause_reading()` / `io.resume_reading()` for flood
control; the backend calls `conn.take_output()`, writes the bytes, and closes the socket once
`conn.closed` is true (at once with a reset when `conn.reset` is true). The core is not
thread-safe: a threaded backend serialises its calls with one lock.

Rule 1: a chat rule, a check of what a client sent, or the wording of an error lives in the
core (this module, `handlers/`, `guards`, `outbox`, `phases`) and nowhere else.
"""

from __future__ import annotations

import itertools
import json
import logging
from collections import deque
from collections.abc import Callable
from typing import Any

from pydantic import ValidationError

from chat_server import __version__
from chat_server.core.clock import SystemClock, utc_now
from chat_server.core.config import REPLY_BUDGET, CoreConfig
from chat_server.core.connection import MALFORMED, Connection, ConnectionIO, Malformed
from chat_server.core.guards import AddressGuard, FloodGuard, address_bucket, retry_seconds
from chat_server.core.handlers import HANDLERS
from chat_server.core.handlers.rooms import leave_all
from chat_server.core.interfaces import (
    Authenticator,
    Clock,
    HistoryStore,
    IdSource,
    NickRegistry,
    RoomBus,
)
from chat_server.core.memory import LocalBus, MemoryHistory, MemoryIds, MemoryNicks, PasswordAuth
from chat_server.core.outbox import Outbox
from chat_server.core.phases import ALLOWED, REFUSAL, Phase
from chat_server.core.ratelog import RateLimitedLog
from chat_server.core.rooms import RoomDirectory
from protocol import (
    CLIENT_MESSAGE,
    Bye,
    ClientMessage,
    Error,
    ErrorCode,
    FrameTooLarge,
    ProtocolError,
    ServerInfo,
    encode,
)
from protocol.messages import _Message

log = logging.getLogger("chat_server")

Handler = Callable[["Hub", Connection, Any], None]

#: How often a backend calls `Hub.tick()`.
TICK = 0.05
#: How often `tick()` reaps idle connections and prunes per-address windows, at most.
REAP_INTERVAL = 5.0
#: Longest `message` of an `invalid_message` error, in characters.
MAX_DETAILS = 300


class _CallableClock:
    """Adapts a bare `() -> float` monotonic function (as tests pass) to the Clock seam."""

    __slots__ = ("monotonic", "stamp")

    def __init__(self, monotonic: Callable[[], float]) -> None:
        self.monotonic = monotonic
        self.stamp = utc_now


class Hub:
    """All rooms, nicks and connections of one server. See the module docstring for its use."""

    def __init__(
        self,
        config: CoreConfig | None = None,
        *,
        backend: str = "unknown",
        clock: Clock | Callable[[], float] | None = None,
        ids: IdSource | None = None,
        history: HistoryStore | None = None,
        nicks: NickRegistry | None = None,
        auth: Authenticator | None = None,
        bus: Callable[[Outbox], RoomBus] = LocalBus,
    ) -> None:
        self.config = config = config or CoreConfig()
        self.backend = backend
        if clock is None:
            clock = SystemClock()
        elif callable(clock) and not hasattr(clock, "monotonic"):
            clock = _CallableClock(clock)
        self.clock: Clock = clock  # type: ignore[assignment]
        self.connections: dict[int, Connection] = {}
        self._conn_ids = itertools.count(1)
        self.ids: IdSource = ids or MemoryIds()
        self.replay_budget = min(REPLY_BUDGET, config.max_outbuf // 2)
        self.history: HistoryStore = history or MemoryHistory(
            config.history, min(config.room_history_bytes, self.replay_budget), config.history_bytes
        )
        self.nicks: NickRegistry = nicks if nicks is not None else MemoryNicks()
        self.auth: Authenticator = auth or PasswordAuth(config.password)
        self.rooms = RoomDirectory(config.max_rooms, REPLY_BUDGET)
        self.outbox = Outbox(config, self._slow_consumer)
        self.bus: RoomBus = bus(self.outbox)
        self.guard = AddressGuard(config.per_address, config.exempt)
        self.server_info = ServerInfo(name=config.server_name, version=__version__)
        self.throttled: dict[Connection, None] = {}  # held back by flood control
        self.closing = False
        self._refusals = RateLimitedLog(log)
        self._next_reap = 0.0
        # The phase table joined with the handlers: per phase, the handler of each request
        # type it allows (one lookup per request decides both).
        self._routes: dict[Phase, dict[type[_Message], Handler]] = {
            phase: {kind: h for kind, h in HANDLERS.items() if _type_name(kind) in allowed}
            for phase, allowed in ALLOWED.items()
        }

    @property
    def instance(self) -> str:
        return self.ids.instance

    # ------------------------------------------------------------------ backend API

    def open(
        self, io: ConnectionIO, peer: str, *, address: str | None = None, full: bool = False
    ) -> Connection:
        """Register a new connection from `address` (its IP; None for a local socket). If it
        is refused (server full, too many from its address) it comes back already closed."""
        now = self.clock.monotonic()
        conn = Connection(
            next(self._conn_ids), peer, address_bucket(address), io, self.config.max_frame, now
        )
        conn.exempt = address is None or self.guard.is_exempt(address)
        try:
            if full or self.closing or len(self.connections) >= self.config.max_clients:
                reason = "server is shutting down" if self.closing else "server is full"
                raise ProtocolError(ErrorCode.SERVER_FULL, reason)
            if not conn.exempt:
                assert conn.address is not None
                self.guard.admit(conn.address, now)
                conn.flood = FloodGuard(self.config.flood, now)
        except ProtocolError as exc:
            # A refusal costs one line a second in the log at most, however many there are.
            self._refusals.warning("refusing %s: %s (%s)", peer, exc.code.value, exc)
            self._send_error(conn, exc)
            conn.enter(Phase.CLOSING)
            self._wake(conn)
            return conn
        log.info("connect %s id=%d", peer, conn.id)
        self.connections[conn.id] = conn
        return conn

    def receive(self, conn: Connection, data: bytes) -> None:
        """Handle bytes read from `conn`: every complete frame in them, in order."""
        if conn.closed:
            return
        fatal: FrameTooLarge | None = None
        try:
            bodies = conn.decoder.feed(data)
        except FrameTooLarge as exc:
            bodies, fatal = exc.frames, exc
        if bodies:  # only complete frames count as activity, not a trickle of bytes
            now = conn.last_seen = self.clock.monotonic()
            if conn.flood is None:
                validate = CLIENT_MESSAGE.validate_json
                for body in bodies:
                    if conn.closed:
                        return
                    try:
                        message = validate(body)
                    except ValidationError as exc:
                        self._error(conn, _validation_error(exc, body))
                    else:
                        self._dispatch(conn, message)
            else:
                if conn.waiting is None:
                    conn.waiting = deque(bodies)
                else:
                    conn.waiting.extend(bodies)
                self._run_waiting(conn, now)
        if fatal is not None and not conn.closed:
            if conn.waiting:
                # Requests before the bad length wait their turn; the error comes after them
                # (reading is paused, and the decoder takes nothing more).
                conn.doomed = fatal
            else:
                self.fail(conn, fatal)

    def lost(self, conn: Connection, *, reset: bool = False) -> None:
        """The peer went away (`reset`: with an error rather than an orderly close); its
        rooms see `left` once. Safe to call more than once."""
        if not conn.closed:
            self.drop(conn, "connection reset" if reset else "connection closed")

    def check_backlog(self, conn: Connection, unsent: int) -> None:
        """The backend holds `unsent` bytes for `conn` after a write: call after every write
        and drain. Past an output cap the connection is cut as a slow consumer."""
        self.outbox.report_unsent(conn, unsent, self.clock.monotonic())

    def tick(self) -> None:
        """Timers: resume flood-held connections, expire soft output limits, reap idle ones."""
        now = self.clock.monotonic()
        if self.throttled:
            for conn in list(self.throttled):
                self._run_waiting(conn, now)
        self.outbox.expire(now)
        if now >= self._next_reap:
            config = self.config
            # Often enough that no one outstays a timeout by more than a quarter of it.
            self._next_reap = now + min(
                REAP_INTERVAL, config.idle_timeout / 4, config.hello_timeout / 4
            )
            self.reap_idle()
            self.guard.prune(now)

    def reap_idle(self) -> None:
        """Drop connections that sent no frame for `idle_timeout` seconds, or that did not
        register within `hello_timeout` seconds of connecting."""
        now = self.clock.monotonic()
        idle_since = now - self.config.idle_timeout
        opened_before = now - self.config.hello_timeout
        for conn in list(self.connections.values()):
            if conn.last_seen < idle_since:
                reason = f"no frame received for {self.config.idle_timeout:g} seconds"
            elif conn.phase is Phase.CONNECTED and conn.opened < opened_before:
                reason = f"no hello within {self.config.hello_timeout:g} seconds"
            else:
                continue
            self.fail(conn, ProtocolError(ErrorCode.IDLE_TIMEOUT, reason))

    def shutdown(self, reason: str = "server shutting down") -> None:
        """Say `bye` to everyone and mark every connection closed; refuse new ones."""
        self.closing = True
        bye = encode(Bye(reason=reason))
        # Out of every room first: a `bye` that cuts a slow member must not tell its rooms.
        for conn in self.connections.values():
            conn.rooms.clear()
        self.rooms.clear()
        for conn in list(self.connections.values()):
            self.outbox.send(conn, bye)
            conn.enter(Phase.CLOSING)
            self.nicks.release(conn)
        self.connections.clear()
        self.rooms.clear()
        self.throttled.clear()

    # ------------------------------------------------------------------ for handlers

    def send(self, conn: Connection, message: _Message) -> None:
        self.outbox.send(conn, encode(message))

    def error(self, conn: Connection, exc: ProtocolError) -> None:
        self._error(conn, exc)

    def fail(self, conn: Connection, exc: ProtocolError) -> None:
        """Send a fatal error, then close."""
        self._error(conn, exc)
        self.drop(conn, exc.code.value)

    def drop(self, conn: Connection, reason: str) -> None:
        """Remove `conn` from everything, tell its rooms, and mark it closed."""
        if conn.closed:
            return
        conn.enter(Phase.CLOSING)
        self.connections.pop(conn.id, None)
        if conn.flood is not None and conn.address is not None:
            self.guard.release(conn.address)  # admitted under the per-address caps
        self.nicks.release(conn)
        self.throttled.pop(conn, None)
        self.outbox.forget(conn)
        conn.waiting = None
        conn.held = None
        if conn.rooms:
            leave_all(self, conn, reason)
        log.info("disconnect %r reason=%s", conn, reason)
        # Wake the backend so it flushes what is queued and then closes the socket.
        self._wake(conn)

    # ------------------------------------------------------------------ internals

    def _wake(self, conn: Connection) -> None:
        if not conn.wake_pending:
            conn.wake_pending = True
            conn.io.output_ready()

    def _error(self, conn: Connection, exc: ProtocolError) -> None:
        log.info("error %r code=%s %s", conn, exc.code.value, exc)
        self._send_error(conn, exc)

    def _send_error(self, conn: Connection, exc: ProtocolError) -> None:
        retry = None if exc.retry_after is None else retry_seconds(exc.retry_after)
        error = Error(
            code=exc.code.value, message=str(exc), ref=exc.ref, fatal=exc.fatal, retry_after=retry
        )
        self.outbox.send(conn, encode(error))

    def _slow_consumer(self, conn: Connection, why: str) -> None:
        if conn.closed:  # already dropped by a cascade of `left` broadcasts
            return
        # What is queued will never be read in time: discard it, queue the error in its
        # place, and have the backend reset the socket rather than drain it.
        conn.out.clear()
        conn.out_bytes = 0
        conn.unsent = 0  # the backend discards what it holds
        conn.reset = True
        self.fail(conn, ProtocolError(ErrorCode.SLOW_CONSUMER, why))

    def _run_waiting(self, conn: Connection, now: float) -> None:
        """Handle the requests flood control held back, as far as the budget goes now."""
        flood = conn.flood
        assert flood is not None
        waiting = conn.waiting
        if waiting is None:
            return
        while waiting and not conn.closed:
            body = waiting[0]
            held = conn.held
            if held is None:
                # Validated once, the first time it comes up; a malformed frame is answered
                # then, and charged as a request all the same when its turn comes.
                held = self._parse(conn, body) or MALFORMED
            kind = held.type
            wait = flood.take(kind, len(body) + 4, now)
            if wait > 0:
                conn.held = held  # keep the result until its turn
                self._hold(conn, now)
                return
            waiting.popleft()
            conn.held = None
            if not isinstance(held, Malformed):
                self._dispatch(conn, held)
        if not conn.closed:
            conn.waiting = None
            if conn.doomed is not None:
                self.fail(conn, conn.doomed)
            else:
                self._release(conn)

    def _hold(self, conn: Connection, now: float) -> None:
        limits = self.config.flood
        if conn not in self.throttled:
            self.throttled[conn] = None
            conn.io.pause_reading()
        if conn.waiting is not None and len(conn.waiting) > limits.max_waiting:
            if conn.waiting_since is None:
                conn.waiting_since = now
            elif now - conn.waiting_since > limits.max_waiting_seconds:
                self.fail(
                    conn,
                    ProtocolError(
                        ErrorCode.FLOOD,
                        f"more than {limits.max_waiting} requests waiting for over "
                        f"{limits.max_waiting_seconds:g} seconds; disconnected",
                    ),
                )
        else:
            conn.waiting_since = None

    def _release(self, conn: Connection) -> None:
        conn.waiting_since = None
        if conn in self.throttled:
            del self.throttled[conn]
            conn.io.resume_reading()

    def _parse(self, conn: Connection, body: bytes) -> ClientMessage | None:
        try:
            return CLIENT_MESSAGE.validate_json(body)
        except ValidationError as exc:
            self._error(conn, _validation_error(exc, body))
            return None

    def _dispatch(self, conn: Connection, message: ClientMessage) -> None:
        phase = conn.phase
        handler = self._routes[phase].get(type(message))
        if handler is None:
            refusal = REFUSAL[phase]
            if refusal is not None:
                code, text = refusal
                if conn.nick is not None:
                    text = f"{text} as {conn.nick}"
                self._error(conn, ProtocolError(code, text, ref=getattr(message, "ref", None)))
            return
        try:
            handler(self, conn, message)
        except ProtocolError as exc:
            if exc.fatal:
                self.fail(conn, exc)
            else:
                self._error(conn, exc)
        except Exception:
            log.exception("internal error handling %s from %r", message.type, conn)
            self._error(
                conn,
                ProtocolError(
                    ErrorCode.INTERNAL_ERROR,
                    "internal server error",
                    ref=getattr(message, "ref", None),
                ),
            )


def _type_name(kind: type[_Message]) -> str:
    """The wire `type` of a message class (its `type` field's default)."""
    return str(kind.model_fields["type"].default)


def _validation_error(exc: ValidationError, body: bytes) -> ProtocolError:
    """Map a pydantic failure to bad_json (not a JSON object) or invalid_message."""
    first = exc.errors(include_url=False, include_context=False)[0]
    if first["type"] in ("json_invalid", "dict_type") and not first["loc"]:
        what = "not valid JSON" if first["type"] == "json_invalid" else "not a JSON object"
        return ProtocolError(ErrorCode.BAD_JSON, f"frame is {what}: {first['msg']}")
    ref = None
    try:
        raw = json.loads(body)
        if isinstance(raw, dict) and isinstance(raw.get("ref"), str):
            ref = raw["ref"][:128]
    except ValueError:
        pass
    details = "; ".join(
        f"{'.'.join(str(p) for p in e['loc'][1:]) or 'type'}: {e['msg']}"
        for e in exc.errors(include_url=False, include_context=False)[:3]
    )
    # pydantic quotes some inputs (an unknown `type`): never echo more than a line of them.
    if len(details) > MAX_DETAILS:
        details = details[: MAX_DETAILS - 1] + "…"
    return ProtocolError(ErrorCode.INVALID_MESSAGE, details, ref=ref)
