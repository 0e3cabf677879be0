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
- `shutdown()` once, when the server stops;
- `set_waker(wake)` once, before serving: `wake()` may be called from any thread, and must
  make the backend call `settle()` soon on the core's thread (under its lock): that is how
  the store's writer and readers and the password hasher hand their results back.

The core answers by queueing encoded frames on connections and calling `io.output_ready()` on
each one that has something new, and `io.pause_reading()` / `io.resume_reading()` for flood
control; the backend calls `conn.take_output()`, writes the bytes, and closes the socket once
`conn.finished` is true (at once with a reset when `conn.reset` is true). The core is not
thread-safe: a threaded backend serialises its calls with one lock.

Work that may block (reads of the store, password hashing) runs on worker threads
(`defer`): the connection's later requests wait their turn meanwhile, so every answer still
comes in request order. A message is stored before its sender sees its echo: the sender's
output is withheld (`withhold`) until the store says the write is durable.

Rule 1: a chat rule, a check of what a client sent, or the wording of an error lives in the
core (this module, `handlers/`, `guards`, `flow`, `outbox`, `phases`) and nowhere else.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import logging
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Executor, Future
from typing import Any, TypeVar

from pydantic import ValidationError

from chat_server import __version__
from chat_server.core.accounts import Accounts, Passwords
from chat_server.core.clock import SystemClock, utc_now
from chat_server.core.config import REPLY_BUDGET, CoreConfig
from chat_server.core.connection import Connection, ConnectionIO
from chat_server.core.counts import Counts
from chat_server.core.flow import (
    PAUSED_STORE,
    bound_waiting,
    release_committed,
    run_waiting,
    withhold,
)
from chat_server.core.guards import AddressGuard, FloodGuard, address_bucket, retry_seconds
from chat_server.core.handlers import HANDLERS
from chat_server.core.handlers.local import local_left
from chat_server.core.handlers.moderation import expire_bans
from chat_server.core.handlers.rooms import leave_all
from chat_server.core.interfaces import (
    Authenticator,
    Clock,
    HistoryStore,
    NickRegistry,
    RoomBus,
    Store,
    StoredState,
)
from chat_server.core.memory import LocalBus, MemoryHistory, MemoryNicks, PasswordAuth
from chat_server.core.moderation import BanBook
from chat_server.core.outbox import Outbox
from chat_server.core.phases import ALLOWED, REFUSAL, Phase
from chat_server.core.ratelog import RateLimitedLog
from chat_server.core.reconfigure import reconfigure
from chat_server.core.rooms import Room, RoomDirectory
from chat_server.store.memory import MemoryStore
from protocol import (
    CLIENT_MESSAGE,
    Bye,
    ClientMessage,
    Error,
    ErrorCode,
    FrameTooLarge,
    Notice,
    ProtocolError,
    ServerInfo,
    encode,
)
from protocol.base import WireMessage as _Message
from protocol.names import name_key

log = logging.getLogger("chat_server")

Handler = Callable[["Hub", Connection, Any], None]
T = TypeVar("T")

#: How often a backend calls `Hub.tick()`.
TICK = 0.05
#: How often `tick()` reaps idle connections and prunes per-address windows, at most.
REAP_INTERVAL = 5.0
#: Longest `message` of an `invalid_message` error, in characters.
MAX_DETAILS = 300
#: How often `tick()` looks for empty rooms past `--room-ttl`, in seconds.
ROOM_PRUNE_INTERVAL = 3600.0


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
        store: Store | None = None,
        history: HistoryStore | None = None,
        nicks: NickRegistry | None = None,
        auth: Authenticator | None = None,
        bus: Callable[[Outbox], RoomBus] = LocalBus,
        passwords: Passwords | None = None,
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
        # The store is also the id source: ids must never start again while it remembers.
        self.store: Store = store if store is not None else MemoryStore()
        self.replay_budget = min(REPLY_BUDGET, config.max_outbuf // 2)
        self.history: HistoryStore = history or MemoryHistory(
            config.history, min(config.room_history_bytes, self.replay_budget), config.history_bytes
        )
        self.nicks: NickRegistry = nicks if nicks is not None else MemoryNicks()
        self.auth: Authenticator = auth or PasswordAuth(config.password)
        self.rooms = RoomDirectory(config.max_rooms, REPLY_BUDGET)
        self.counts = Counts()  # for metrics (chat_server.ops)
        self.outbox = Outbox(config, self._slow_consumer, self.counts)
        self.bus: RoomBus = bus(self.outbox)
        self.guard = AddressGuard(
            config.per_address,
            config.exempt,
            config.account_bad_logins,
            config.account_bad_logins_window,
        )
        self.server_info = ServerInfo(name=config.server_name, version=__version__)
        self.throttled: dict[Connection, None] = {}  # held back by flood control
        self.accounts = Accounts()
        self.passwords = passwords or Passwords()
        # Moderation (core.moderation): admins by account key, the server's own bans, and
        # the rooms (None: the server) holding a ban or mute that expires.
        self.admins = frozenset(name_key(name) for name in config.admins)
        self.server_bans = BanBook()
        # Local users (Unix socket) registered now: name_key(login name) -> connections.
        self.local_users: dict[str, int] = {}
        self.expiring: set[Room | None] = set()
        self._next_expiry = 0.0
        self._last_tick = 0.0  # when tick() last ran (its lag is counted)
        # Results handed back by other threads, run by `settle()` on the core's thread.
        self._completions: deque[Callable[[], None]] = deque()
        self._waker: Callable[[], None] | None = None
        self._woken = False
        self.deferred = 0  # works running on other threads for connections
        # Connections with output waiting for the store (Connection.holds says for what).
        self.withheld: dict[Connection, None] = {}
        self.durable = 0  # every store write up to this ticket is done
        self.closing = False
        self._refusals = RateLimitedLog(log)
        self._next_reap = 0.0
        # The phase table joined with the handlers: per phase, the handler of each request
        # type it allows (one lookup per request decides both).
        self._routes: dict[Phase, dict[type[_Message], Handler]] = {
            phase: {kind: h for kind, h in HANDLERS.items() if _type_name(kind) in allowed}
            for phase, allowed in ALLOWED.items()
        }
        self._next_prune = 0.0
        self.wall = time.time()  # wall-clock seconds as of the last tick (room activity)
        self._load(self.store.start(self.post, self, self.history))
        # The id source, bound once (known only once the store has started): one call per
        # message, with no property in the way.
        self.next_id: Callable[[], int] = self.store.next_id

    @property
    def instance(self) -> str:
        return self.store.instance

    def _load(self, state: StoredState) -> None:
        """What the store remembers: rooms (empty, cold windows), accounts, offline DMs."""
        for record in state.rooms:
            room = self.rooms.restore(record)
            self.history.cold(room, record.last_id)
        self.accounts.load(state.accounts, state.offline)
        for room_key, account in state.ops:
            found = self.rooms.get(room_key)
            if found is not None:
                found.mod.op_accounts.add(account)
        for ban in state.bans:
            scope = None if ban.scope == "" else self.rooms.get(ban.scope)
            if ban.scope == "":
                self.server_bans.load(ban)
            elif scope is not None:
                (scope.mod.bans if ban.kind == "ban" else scope.mod.mutes).load(ban)
                scope.update_restricted()
            else:
                continue
            if ban.expires is not None:
                self.expiring.add(scope)

    # ------------------------------------------------------------------ backend API

    def open(
        self,
        io: ConnectionIO,
        peer: str,
        *,
        address: str | None = None,
        full: bool = False,
        local_user: str | None = None,
    ) -> Connection:
        """Register a new connection from `address` (its IP; None for a local socket, whose
        peer's login name, when the kernel gave it, is `local_user`). If it is refused (server
        full, too many from its address) it comes back already closed."""
        now = self.clock.monotonic()
        conn = Connection(
            next(self._conn_ids), peer, address_bucket(address), io, self.config.max_frame, now
        )
        conn.local_user = local_user
        conn.ip = address
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
            self.counts.error(exc.code.value)
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
            if conn.flood is None and conn.waiting is None and not conn.busy:
                validate = CLIENT_MESSAGE.validate_json
                for index, body in enumerate(bodies):
                    if conn.closed:
                        return
                    if conn.busy or conn.paused & PAUSED_STORE:  # the rest waits its turn
                        conn.waiting = deque(bodies[index:])
                        bound_waiting(self, conn)
                        break
                    try:
                        message = validate(body)
                    except ValidationError as exc:
                        self._error(conn, _validation_error(exc, body))
                    else:
                        self.dispatch(conn, message)
            else:
                if conn.waiting is None:
                    conn.waiting = deque(bodies)
                else:
                    conn.waiting.extend(bodies)
                run_waiting(self, conn, now)
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
        if self._completions:
            self.settle()  # in case a wake was lost
        self.wall = time.time()
        now = self.clock.monotonic()
        if self._last_tick:
            self.counts.lag(max(0.0, now - self._last_tick - TICK))
        self._last_tick = now
        if self.throttled:
            for conn in list(self.throttled):
                run_waiting(self, conn, now)
        self.outbox.expire(now)
        if now >= self._next_reap:
            config = self.config
            # Often enough that no one outstays a timeout by more than a quarter of it.
            self._next_reap = now + min(
                REAP_INTERVAL, config.idle_timeout / 4, config.hello_timeout / 4
            )
            self.reap_idle()
            self.guard.prune(now)
        if now >= self._next_prune:
            self._next_prune = now + ROOM_PRUNE_INTERVAL
            self.prune_rooms(time.time())
        if self.expiring and now >= self._next_expiry:
            self._next_expiry = now + 1.0
            expire_bans(self, self.wall)

    def prune_rooms(self, wall_now: float) -> None:
        """Forget empty rooms with no message for `room_ttl_days` (a store keeps them)."""
        if not self.store.keeps_rooms:
            return
        horizon = wall_now - self.config.room_ttl_days * 86400
        for room in self.rooms.idle_since(horizon):
            log.info("forgetting room %s: empty and quiet since %s", room.name, room.last_active)
            self.forget_room(room)

    def forget_room(self, room: Room) -> None:
        self.store.forget_room(room.key, self.history.newest(room))
        self.history.forget(room)
        self.rooms.remove(room)

    # ------------------------------------------------------------------ other threads

    def set_waker(self, wake: Callable[[], None]) -> None:
        """`wake()` (callable from any thread) makes the backend call `settle()` soon."""
        self._waker = wake

    def post(self, completion: Callable[[], None]) -> None:
        """From any thread: run `completion` on the core's thread, at the next `settle()`."""
        self._completions.append(completion)
        if not self._woken:
            self._woken = True
            wake = self._waker
            if wake is not None:
                with contextlib.suppress(RuntimeError):  # the backend's loop is gone
                    wake()

    def settle(self) -> None:
        """Run what other threads handed back (backends call this when woken)."""
        self._woken = False
        completions = self._completions
        while completions:
            completion = completions.popleft()
            try:
                completion()
            except Exception:
                log.exception("internal error in a completion")

    def defer(
        self,
        conn: Connection,
        pool: Executor | None,
        work: Callable[[], T],
        then: Callable[[T], None],
        failure: ProtocolError,
    ) -> None:
        """Run `work` on `pool` (inline when None), then `then(result)` on the core's thread.
        Meanwhile `conn`'s later requests wait. If `work` fails, `conn` gets `failure`."""
        if pool is None:
            then(work())
            return
        conn.busy = True
        self.deferred += 1
        future = pool.submit(work)
        future.add_done_callback(
            lambda done: self.post(lambda: self._resume(conn, done, then, failure))
        )

    def _resume(
        self,
        conn: Connection,
        done: Future[T],
        then: Callable[[T], None],
        failure: ProtocolError,
    ) -> None:
        self.deferred -= 1
        conn.busy = False
        if conn.closed:
            return
        exc = done.exception()
        if exc is not None:
            log.warning("deferred work for %r failed: %s", conn, exc)
            self._answer_failure(conn, failure)
        else:
            try:
                then(done.result())
            except ProtocolError as failed:
                self._answer_failure(conn, failed)
            except Exception:
                log.exception("internal error finishing a request of %r", conn)
                self._error(conn, ProtocolError(ErrorCode.INTERNAL_ERROR, "internal server error"))
        self.resume_waiting(conn)

    def withhold(self, conn: Connection, ticket: int) -> None:
        """The frame just queued for `conn`, and all after it, wait until the store write
        `ticket` is durable (what was queued before it may go)."""
        withhold(self, conn, ticket)

    # StoreListener: called through `post`, on the core's thread.

    def committed(self, ticket: int) -> None:
        release_committed(self, ticket)

    def resume_waiting(self, conn: Connection) -> None:
        """Go on with `conn`'s waiting requests, unless it is closed or busy again."""
        if not conn.closed and not conn.busy and conn.waiting is not None:
            run_waiting(self, conn, self.clock.monotonic())

    def store_failed(self, error: str) -> None:
        self.announce(error)

    def store_recovered(self) -> None:
        self.announce("history is being kept again")

    def notice(self, text: str) -> bytes:
        """A `notice` frame from the server itself."""
        return encode(Notice(text=text, sender="server", ts=self.clock.stamp()))

    def announce(self, text: str) -> None:
        """A `notice` from the server to every registered connection."""
        self.outbox.broadcast(
            [c for c in self.connections.values() if c.phase is Phase.REGISTERED],
            self.notice(text),
        )

    def health(self) -> dict[str, object]:
        """What a health check reports: whether the store is keeping history."""
        problem = self.store.health()
        return {
            "ok": problem is None and not self.closing,
            "store": problem or "ok",
            "connections": len(self.connections),
            "rooms": len(self.rooms),
        }

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

    def reconfigure(self, config: CoreConfig) -> None:
        """Take what `config` changes among the reloadable settings (see `reconfigure.py`).
        Call on the core's thread (under its lock)."""
        reconfigure(self, config)

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
        # Everything queued reaches the database, then every withheld echo goes out.
        self.store.close()
        self.settle()
        self.passwords.close()

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
        if conn.phase is Phase.REGISTERED:
            self.counts.registered -= 1
            if conn.local_user is not None:
                local_left(self, conn)
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
        self.counts.error(exc.code.value)
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
        conn.holds = None  # nothing held is worth waiting for now
        conn.withheld = False
        self.withheld.pop(conn, None)
        conn.reset = True
        self.counts.slow_consumers += 1
        self.fail(conn, ProtocolError(ErrorCode.SLOW_CONSUMER, why))

    def parse(self, conn: Connection, body: bytes) -> ClientMessage | None:
        try:
            return CLIENT_MESSAGE.validate_json(body)
        except ValidationError as exc:
            self._error(conn, _validation_error(exc, body))
            return None

    def dispatch(self, conn: Connection, message: ClientMessage) -> None:
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
        self.counts.requests += 1
        # Inline rather than through `_guarded`: this runs for every request.
        try:
            handler(self, conn, message)
        except ProtocolError as exc:
            self._answer_failure(conn, exc)
        except Exception:
            log.exception("internal error handling %s from %r", message.type, conn)
            ref = getattr(message, "ref", None)
            self._error(
                conn, ProtocolError(ErrorCode.INTERNAL_ERROR, "internal server error", ref=ref)
            )

    def _answer_failure(self, conn: Connection, exc: ProtocolError) -> None:
        """Answer a request that broke a rule; close the connection if the error is fatal."""
        if exc.fatal:
            self.fail(conn, exc)
        else:
            self._error(conn, exc)


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
