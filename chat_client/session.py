"""A connection that survives drops: reconnect with backoff, rejoin, fill gaps, keep alive.

No UI here. `Session.run(emit)` connects, registers the nick and then passes every server
message to `emit`, together with a few events of its own (state changes, round-trip times).
When the connection is lost it reconnects with exponential backoff and jitter, registers the
current nick again, rejoins every room it was in with `join` + `since` = the last message id
it saw there, and drops any message whose id is not above that last id, so a reconnect
neither loses nor repeats a line.

Message ids only increase within one run of a server; a restarted server starts again from 1.
`welcome.instance` changes whenever the server restarts, so after a reconnect a different
instance means a new server: the per-room marks are reset and rooms are rejoined from their
full history. For a server that does not send `instance`, a message is only dropped as seen
if both its id and its timestamp are not above the room's mark, so the live messages of a
restarted server are still shown.

Accounts: with an account password (`account_password`, or `login()`), every `hello`, the
automatic reconnects included, carries `auth`. `hello` is once per connection, so `login()` on
a live connection says `quit` and connects again at once. The session stops reconnecting on
its own (a `Halted` event; `retry_now()` or `login()` connects again) when retrying cannot
help: another login took the nick (`replaced`: two devices would otherwise take the nick from
each other forever), an admin disconnected us (`killed`) or a server ban closed the connection
or refused the `hello` (a fatal `banned`), or on a reconnect the nick turned out to be an
account (`nick_registered`) or the password was refused (`bad_login`). A successful `register` or
`passwd` makes its password the one used for the next logins; `unregister` forgets it.
The account is named by the nick in `hello`: after a `/nick` away from the account's name, a
reconnect logs in with the account's name and then asks for the nick again.

Rooms with a key: the key a `join` carried (or the key we set with `mode`) is kept with the
room, and the rejoins after a reconnect carry it. A room we were kicked from is not rejoined.

First connection: a UI that asks where to connect makes the session with `retry_first=False`:
if the very first attempt finds nothing listening, or nothing that says `welcome`, `run` ends
with `Unreachable` instead of retrying (a wrong host or port is better asked again). Once
connected, a lost connection is always retried.

TLS and Unix sockets: with `tls` the session connects with TLS (chat_client/trust.py); with
`unix` to that socket. A certificate that is not trusted stops the session at once with
`Untrusted`, on the first connection or a later one: retrying cannot make it trusted.

Offline policy: chat lines (`say`, `dm`) and joins submitted while offline are kept in order
in an outbox and sent after the next successful reconnect and rejoin (the UI marks them as
queued). Nothing submitted is silently dropped: `submit` says whether it went out now.

Away: the server forgets an away message when the connection ends, so the session keeps ours
(`away`, as the server last confirmed it, or as last asked for) and says it again on every new
connection, right after the rejoins; an `away` submitted while offline just sets it.

The events `run` emits, the connection states, the backoff and the per-room marks are small
values in chat_client/session_types.py, re-exported here.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections import deque
from collections.abc import Callable, Iterable, Mapping

from chat_client.address import label
from chat_client.commands import quit_reason
from chat_client.net import ChatConnection, ConnectionClosed, HelloRejected, connect_error
from chat_client.session_types import (
    Backoff,
    Connected,
    ConnState,
    Halted,
    OutboxDrained,
    Rejected,
    RoomMark,
    RoundTrip,
    SessionEvent,
    StateChanged,
    Unreachable,
    Untrusted,
)
from chat_client.trust import TlsOptions, TrustError
from protocol import (
    Bye,
    ChangeNick,
    ChatMessage,
    DirectMessage,
    Error,
    ErrorCode,
    History,
    Join,
    Joined,
    Kicked,
    Left,
    Mode,
    ModeChanged,
    NickChanged,
    Passwd,
    PasswdChanged,
    Ping,
    Pong,
    Quit,
    Register,
    Registered,
    Say,
    SendDm,
    ServerMessage,
    Unregistered,
    Welcome,
)
from protocol.base import WireMessage as _Message
from protocol.names import name_key
from protocol.presence import Away, AwayChanged

#: Errors to `hello` that retrying cannot fix: reported, and the session stops.
HELLO_FATAL = frozenset(
    {
        ErrorCode.INVALID_NICK,
        ErrorCode.BAD_PASSWORD,
        ErrorCode.UNSUPPORTED_PROTOCOL,
        ErrorCode.NICK_TAKEN,
        ErrorCode.NICK_REGISTERED,
        ErrorCode.BAD_LOGIN,
        ErrorCode.BANNED,
    }
)
#: Errors to `hello` on a reconnect after which retrying cannot help: the session halts.
HELLO_HALT = frozenset({ErrorCode.NICK_REGISTERED, ErrorCode.BAD_LOGIN, ErrorCode.BANNED})
#: How long a connection given up for a new login may take to close after our `quit`.
RELOGIN_LINGER = 2.0
#: Requests kept while offline and sent after reconnecting; others are refused while offline.
QUEUEABLE = (Say, SendDm, Join)
MAX_OUTBOX = 500
#: Messages dispatched in a row before giving the event loop (and so the UI) a turn.
YIELD_EVERY = 50


def halts(error: Error) -> bool:
    """Whether the session stops reconnecting after `error` on a live connection: `replaced`
    and `killed`, and `banned` when fatal (a server ban; a room's ban only refuses a join)."""
    if error.code in (ErrorCode.REPLACED, ErrorCode.KILLED):
        return True
    return error.code == ErrorCode.BANNED and error.fatal


class Session:
    """One user's presence on one server, across any number of TCP connections."""

    def __init__(
        self,
        host: str,
        port: int,
        nick: str,
        *,
        password: str | None = None,
        account_password: str | None = None,
        rooms: Iterable[str] = (),
        keys: Mapping[str, str] | None = None,
        ping_interval: float = 15.0,
        ping_timeout: float = 45.0,
        connect_timeout: float = 5.0,
        backoff: Backoff | None = None,
        retry_first: bool = True,
        tls: TlsOptions | None = None,
        unix: str | None = None,
    ) -> None:
        self.host = host
        self.tls = tls  # connect with TLS (chat_client/trust.py)
        self.unix = unix  # connect to this Unix socket instead of host:port
        #: Whether to keep trying when the very first connection fails; if not, `run` ends
        #: with `Unreachable` (a wrong address is better asked again than retried forever).
        self.retry_first = retry_first
        self.port = port
        self.nick = nick
        self.password = password
        self.account_password = account_password  # logs in with hello.auth when set
        self.account: str | None = None  # the account this session is logged in to
        self.halted: Error | None = None  # why the session stopped reconnecting, while it has
        self._halt: Error | None = None  # set by `replaced`: halt once the connection ends
        # Set by `login` on a live connection: how many queued requests still go out on it
        # before it says `quit` (to connect again with the new password).
        self._relogin: int | None = None
        # Passwords of `register` / `passwd` in flight, used once the server confirms them.
        self._new_passwords: dict[str, str] = {}
        self.ping_interval = ping_interval
        self.ping_timeout = ping_timeout
        self.connect_timeout = connect_timeout
        self.backoff = backoff or Backoff()
        self.state = ConnState.OFFLINE
        self.rooms: dict[str, RoomMark] = {}
        self.max_id = 0
        self.welcome: Welcome | None = None
        self._instance: str | None = None  # welcome.instance of the last server
        self.rtt: float | None = None
        self.initial_rooms = list(rooms)
        # Keys of joins (`keys`: of the initial rooms, by name) and of our own `mode` changes
        # in flight, by name_key: kept with the room once the server confirms them.
        self._join_keys = {name_key(room): key for room, key in (keys or {}).items()}
        self._mode_keys: dict[str, str] = {}
        #: Our away message (None: not away), said again on every new connection.
        self.away: str | None = None
        self._outbox: deque[_Message] = deque()
        self._queued_offline = False  # the outbox held requests submitted while offline
        self._wake_writer = asyncio.Event()
        self._wake_retry = asyncio.Event()
        self._conn: ChatConnection | None = None
        self._stopped = False
        self._pings: dict[str, float] = {}
        self._tokens = itertools.count(1)
        self._emit: Callable[[SessionEvent], None] = lambda event: None

    # ------------------------------------------------------------------ API for the UI

    @property
    def address(self) -> str:
        """The server, as messages name it: `HOST:PORT`, `tls://HOST:PORT`, `unix://PATH`."""
        return label(self.host, self.port, tls=self.tls is not None, unix=self.unix)

    @property
    def connected(self) -> bool:
        return self.state is ConnState.CONNECTED

    def submit(self, message: _Message) -> bool:
        """Send `message` now (True) or, if offline, keep it for the next connection (False).

        Only requests in QUEUEABLE may be submitted while offline; others raise ValueError,
        and a full outbox raises OverflowError, so the caller can tell the user.
        """
        if isinstance(message, Away):
            self.away = (message.message or "").strip() or None
            if not self.connected:
                return False  # said when connected again, with the rejoins
        elif not self.connected:
            if not isinstance(message, QUEUEABLE):
                raise ValueError("not connected")
            if len(self._outbox) >= MAX_OUTBOX:
                raise OverflowError("too many messages waiting to be sent")
            self._queued_offline = True
        if isinstance(message, Register):
            self._new_passwords["register"] = message.password
        elif isinstance(message, Passwd):
            self._new_passwords["passwd"] = message.new
        elif isinstance(message, Join) and message.key is not None:
            self._join_keys[name_key(message.room)] = message.key
        elif isinstance(message, Mode) and message.key is not None:
            self._mode_keys[name_key(message.room)] = message.key
        self._outbox.append(message)
        self._wake_writer.set()
        return self.connected

    def forget_room(self, room: str) -> None:
        """Do not rejoin `room` on reconnecting (its window was closed while offline)."""
        self.rooms.pop(name_key(room), None)

    @property
    def pending(self) -> int:
        """Requests waiting in the outbox."""
        return len(self._outbox)

    def retry_now(self) -> None:
        """Cut the current backoff wait short (or connect again after a halt)."""
        self._wake_retry.set()

    def login(self, password: str) -> None:
        """Log in to the account named by the nick with `password`, on every hello from now on.

        `hello` is once per connection: a connected session finishes sending what is queued,
        says `quit` and connects again at once; otherwise the next attempt starts now.
        """
        self.account_password = password
        self.account = None  # log in to the account named by the current nick
        if self.connected:
            self._relogin = len(self._outbox)
            self._wake_writer.set()
        else:
            self.retry_now()

    async def quit(self, reason: str | None = None, timeout: float = 1.0) -> None:
        """Say goodbye (if connected) and stop reconnecting.

        A reason longer than the protocol allows is cut short; one the server would refuse
        (not one line of plain text) is left out, so quitting always works.
        """
        self._stopped = True
        reason = quit_reason(reason)
        self._wake_retry.set()
        conn = self._conn
        if conn is not None and not conn.closed:
            with contextlib.suppress(ConnectionClosed, OSError, TimeoutError):
                await asyncio.wait_for(conn.send(Quit(reason=reason)), timeout)
            await conn.close()

    def stop(self) -> None:
        """Stop without a goodbye: close the connection, do not reconnect."""
        self._stopped = True
        self._wake_retry.set()
        if self._conn is not None:
            self._conn.abort()

    # ------------------------------------------------------------------ the loop

    async def run(self, emit: Callable[[SessionEvent], None]) -> None:
        """Connect and stay connected until `stop`/`quit` or a fatal `hello` error."""
        self._emit = emit
        attempt = 0
        reconnect = self.welcome is not None
        while not self._stopped:
            self._set_state(ConnState.RECONNECTING if reconnect else ConnState.CONNECTING)
            reason = ""
            wait_at_least = 0.0
            halt: Error | None = None
            unreachable = False  # no server there: nothing listens, or nothing says welcome
            try:
                conn = await ChatConnection.open(
                    self.host, self.port, self.connect_timeout, tls=self.tls, unix=self.unix
                )
            except TrustError as exc:
                # Retrying cannot make a certificate trusted: the user decides.
                self._set_state(ConnState.OFFLINE, reason=str(exc))
                emit(Untrusted(exc))
                return
            except (OSError, TimeoutError) as exc:
                unreachable = True
                reason = f"cannot connect to {self.address}: {connect_error(exc)}"
            else:
                wanted = self.nick
                hello_nick = wanted
                if (
                    self.account_password is not None
                    and self.account is not None
                    and name_key(self.account) != name_key(wanted)
                ):
                    hello_nick = self.account  # log in as the account, then take the nick
                try:
                    welcome = await conn.hello(
                        hello_nick,
                        self.password,
                        self.connect_timeout,
                        account_password=self.account_password,
                    )
                except HelloRejected as exc:
                    await conn.close()
                    if exc.error.code in HELLO_FATAL and not reconnect:
                        self._set_state(ConnState.OFFLINE, reason=exc.error.message)
                        emit(Rejected(exc.error))
                        return
                    if exc.error.code in HELLO_HALT:
                        halt = exc.error
                    reason = f"{exc.error.code}: {exc.error.message}"
                    # A rate limit says when trying again can work: never retry sooner.
                    wait_at_least = float(exc.error.retry_after or 0)
                except (ConnectionClosed, TimeoutError, OSError) as exc:
                    await conn.close()
                    unreachable = True
                    reason = f"no welcome from {self.address}: {exc or 'timed out'}"
                else:
                    attempt = 0
                    rename = wanted if name_key(welcome.nick) != name_key(wanted) else None
                    reason = await self._serve(conn, welcome, reconnect, rename)
                    reconnect = True
                    halt, self._halt = self._halt, None
            if self._stopped:
                break
            if unreachable and not reconnect and not self.retry_first:
                self._set_state(ConnState.OFFLINE, reason=reason)
                emit(Unreachable(reason))
                return
            if halt is not None:
                await self._halted(halt)
                attempt = 0
                continue
            if self._relogin is not None:
                self._relogin = None
                continue  # at once: the connection was given up to log in
            delay = max(self.backoff.delay(attempt), wait_at_least)
            attempt += 1
            self._set_state(ConnState.RECONNECTING, retry_in=delay, reason=reason)
            self._wake_retry.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake_retry.wait(), delay)
        self._set_state(ConnState.OFFLINE, reason="stopped")

    async def _halted(self, error: Error) -> None:
        """Stay offline until `retry_now`, `login` or `stop`."""
        self._relogin = None
        self.halted = error
        self._wake_retry.clear()
        self._set_state(ConnState.OFFLINE, reason=f"{error.code}: {error.message}")
        self._emit(Halted(error))
        await self._wake_retry.wait()
        self.halted = None

    def _set_state(self, state: ConnState, retry_in: float | None = None, reason: str = "") -> None:
        self.state = state
        self._emit(StateChanged(state, retry_in, reason))

    async def _serve(
        self, conn: ChatConnection, welcome: Welcome, reconnect: bool, rename: str | None = None
    ) -> str:
        """Use one registered connection until it ends; return why it ended.

        `rename`: the nick to ask for first (we logged in under the account's name).
        """
        self._conn = conn
        self.welcome = welcome
        self.nick = welcome.nick
        self.account = welcome.account
        self._pings.clear()
        tasks: list[asyncio.Task[None]] = []
        try:
            restarted = reconnect and welcome.instance != self._instance
            self._instance = welcome.instance
            if restarted:
                self.max_id = 0
                for mark in self.rooms.values():
                    mark.last_id, mark.last_ts = 0, ""
            self.state = ConnState.CONNECTED
            pending = len(self._outbox)
            self._emit(StateChanged(ConnState.CONNECTED))
            self._emit(Connected(welcome, reconnect, restarted, pending))
            # Rejoin first: the server handles frames in order, so queued lines follow.
            joins: list[_Message] = [ChangeNick(nick=rename)] if rename else []
            joins += [
                Join(room=m.name, since=m.last_id or None, key=m.key) for m in self.rooms.values()
            ]
            if not reconnect:
                joins += [
                    Join(room=room, key=self._join_keys.get(name_key(room)))
                    for room in self.initial_rooms
                ]
            for join in joins:
                await conn.send(join)
            if self.away is not None:
                await conn.send(Away(message=self.away))
            tasks = [
                asyncio.create_task(self._writer(conn)),
                asyncio.create_task(self._keepalive(conn)),
            ]
            dispatched = 0
            async for message in conn.events():
                self._dispatch(message)
                dispatched += 1
                if dispatched % YIELD_EVERY == 0:
                    # A burst of buffered messages is read without awaiting the socket:
                    # let the UI run (keys, redraws) now and then.
                    await asyncio.sleep(0)
            return "connection closed by the server"
        except ConnectionClosed as exc:
            return str(exc)
        finally:
            self._conn = None
            if self.state is ConnState.CONNECTED:
                self.state = ConnState.RECONNECTING
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError, ConnectionClosed, OSError):
                    await task
            await conn.close()

    async def _writer(self, conn: ChatConnection) -> None:
        while True:
            while self._outbox and self._relogin != 0:
                await conn.send(self._outbox[0])
                self._outbox.popleft()
                if self._relogin is not None:
                    self._relogin -= 1
            if self._queued_offline and not self._outbox:
                self._queued_offline = False
                self._emit(OutboxDrained())  # so the UI stops showing "N queued"
            if self._relogin is not None:
                # What was submitted before `login` has gone out; what comes after waits in
                # the outbox for the next connection.
                await conn.send(Quit())
                await asyncio.sleep(RELOGIN_LINGER)
                conn.abort()
                return
            self._wake_writer.clear()
            await self._wake_writer.wait()

    async def _keepalive(self, conn: ChatConnection) -> None:
        loop = asyncio.get_running_loop()
        while True:
            now = loop.time()
            if self._pings and now - min(self._pings.values()) > self.ping_timeout:
                conn.abort()  # the server stopped answering: the read loop ends
                return
            token = f"rtt-{next(self._tokens)}"
            self._pings[token] = now
            await conn.send(Ping(token=token))
            await asyncio.sleep(self.ping_interval)

    # ------------------------------------------------------------------ incoming

    def _dispatch(self, message: ServerMessage) -> None:
        match message:
            case History() if message.before is not None or message.complete is not None:
                pass  # a page of older messages asked for: below every mark, shown as it is
            case ChatMessage():
                mark = self.rooms.get(name_key(message.room))
                if mark is not None:
                    if mark.is_seen(message):
                        return  # already shown
                    mark.mark(message)
                self.max_id = max(self.max_id, message.id)
            case History():
                mark = self.rooms.get(name_key(message.room))
                fresh = [m for m in message.messages if mark is None or not mark.is_seen(m)]
                if mark is not None and fresh:
                    mark.mark(fresh[-1])
                if fresh:
                    self.max_id = max(self.max_id, fresh[-1].id)
                if len(fresh) != len(message.messages):
                    message = message.model_copy(update={"messages": fresh})
            case DirectMessage():
                self.max_id = max(self.max_id, message.id)
            case Joined() if name_key(message.nick) == name_key(self.nick):
                mark = self.rooms.setdefault(name_key(message.room), RoomMark(message.room))
                key = self._join_keys.pop(name_key(message.room), None)
                if key is not None:
                    mark.key = key or None
            case Left() | Kicked() if name_key(message.nick) == name_key(self.nick):
                self.rooms.pop(name_key(message.room), None)  # not rejoined on a reconnect
            case ModeChanged() if message.key is not None and self._is_me(message.by):
                key = self._mode_keys.pop(name_key(message.room), None)
                mark = self.rooms.get(name_key(message.room))
                if mark is not None:
                    mark.key = key if message.key else None
            case NickChanged() if name_key(message.old) == name_key(self.nick):
                self.nick = message.new
            case AwayChanged() if self._is_me(message.nick):
                self.away = message.message
            case Error() if halts(message):
                self._halt = message  # the server closes now: do not reconnect
            case Bye() if self._relogin is not None:
                return  # the goodbye to our own `quit` before logging in
            case Registered():
                self.account = message.account
                self.account_password = self._new_passwords.pop("register", self.account_password)
            case PasswdChanged():
                self.account_password = self._new_passwords.pop("passwd", self.account_password)
            case Unregistered():
                self.account = None
                self.account_password = None
            case Pong() if message.token in self._pings:
                sent = self._pings.pop(message.token)
                self.rtt = asyncio.get_running_loop().time() - sent
                self._emit(RoundTrip(self.rtt))
                return
        self._emit(message)

    def _is_me(self, nick: str) -> bool:
        return name_key(nick) == name_key(self.nick)


__all__ = [
    "Backoff",
    "ConnState",
    "Connected",
    "Halted",
    "OutboxDrained",
    "Rejected",
    "RoomMark",
    "RoundTrip",
    "Session",
    "SessionEvent",
    "StateChanged",
    "Unreachable",
    "Untrusted",
    "halts",
]
