"""The chat core: every chat rule, driven by bytes in and frames out, with no IO of its own.

A backend owns the sockets and calls four methods:

- `open(io, peer)` when a client connects, keeping the returned Connection (`full=True`
  refuses it as `server_full` when the backend itself has no room for it);
- `receive(conn, data)` with every chunk read from it;
- `lost(conn)` when the peer goes away (EOF, reset, error);
- `shutdown()` once, when the server stops.

The core answers by queueing encoded frames on connections and calling `io.output_ready()` on
each one that has something new; the backend then calls `conn.take_output()`, writes the bytes,
and closes the socket once `conn.closed` is true. Frames are encoded once and the same bytes are
queued for every recipient. The core is not thread-safe: a threaded backend serialises its calls
with one lock (and never holds it while writing to a socket).

Rule 1: a chat rule, a check of what a client sent, or the wording of an error lives here and
nowhere else.
"""

from __future__ import annotations

import hmac
import itertools
import json
import logging
import secrets
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from chat_server import __version__
from chat_server.core.config import CoreConfig
from chat_server.core.connection import Connection, ConnectionIO
from chat_server.core.rooms import Room
from protocol import (
    CLIENT_MESSAGE,
    PROTOCOL_VERSION,
    Bye,
    ChangeNick,
    ClientMessage,
    DirectMessage,
    Error,
    ErrorCode,
    FrameTooLarge,
    Hello,
    Join,
    Joined,
    Leave,
    Left,
    ListRooms,
    Members,
    NickChanged,
    Ping,
    Pong,
    ProtocolError,
    Quit,
    RoomInfo,
    RoomList,
    Say,
    SendDm,
    ServerInfo,
    SetTopic,
    Topic,
    Welcome,
    Who,
    encode,
    framing,
)
from protocol.messages import _Message, chat_message_body, history_body, with_ref
from protocol.names import (
    MAX_TOPIC_LENGTH,
    check_text,
    name_key,
    normalize_nick,
    normalize_room,
)

log = logging.getLogger("chat_server")

Handler = Callable[[Connection, Any], None]

#: The in-turn queue cap, as a multiple of max_outbuf (see Hub.__init__).
QUEUE_CAP_FACTOR = 4
#: Largest `history` and `room_list` replies, in bytes of JSON: the oldest messages (or the
#: least populated rooms) that do not fit are left out, so one reply cannot overrun a client.
REPLY_BUDGET = 256 * 1024


_last_stamp: tuple[int, str] = (-1, "")


def utc_now() -> str:
    """ISO 8601 UTC with milliseconds, e.g. 2026-11-27T21:24:03.123Z (formatted once per ms)."""
    global _last_stamp
    ms = time.time_ns() // 1_000_000
    if _last_stamp[0] == ms:
        return _last_stamp[1]
    when = datetime.fromtimestamp(ms // 1000, UTC).replace(microsecond=ms % 1000 * 1000)
    stamp = when.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    _last_stamp = (ms, stamp)
    return stamp


def _invalid(code: ErrorCode, exc: ValueError, ref: str | None = None) -> ProtocolError:
    return ProtocolError(code, str(exc), ref=ref)


class Hub:
    """All rooms, nicks and connections of one server. See the module docstring for its use."""

    def __init__(
        self,
        config: CoreConfig | None = None,
        *,
        backend: str = "unknown",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config or CoreConfig()
        self.backend = backend
        self.clock = clock
        self.connections: dict[int, Connection] = {}
        self.rooms: dict[str, Room] = {}  # room key -> room
        self.nicks: dict[str, Connection] = {}  # nick key -> registered connection
        self._conn_ids = itertools.count(1)
        self._message_ids = itertools.count(1)  # one sequence: increases within every room
        # Identifies this run of the server: ids start again when it changes (a restart).
        self.instance = secrets.token_hex(8)
        self._server_info = ServerInfo(name=self.config.server_name, version=__version__)
        self._handlers: dict[type[_Message], Handler] = {
            Hello: self._hello,
            Join: self._join,
            Leave: self._leave,
            Say: self._say,
            SendDm: self._dm,
            ChangeNick: self._nick,
            Who: self._who,
            ListRooms: self._rooms,
            SetTopic: self._topic,
            Ping: self._ping,
            Quit: self._quit,
        }
        self.closing = False
        # What one connection may have queued in the core between two flushes. The
        # `max_outbuf` cap proper is applied after each flush (check_backlog), to what the
        # backend could not write; this one only bounds memory within a turn, where a single
        # read of small frames can legitimately queue several times its size for every member.
        self._queue_cap = QUEUE_CAP_FACTOR * self.config.max_outbuf

    # ------------------------------------------------------------------ backend API

    def open(self, io: ConnectionIO, peer: str, *, full: bool = False) -> Connection:
        """Register a new connection. If the server is full it comes back already closed.

        A backend passes `full=True` when it has no capacity of its own for the connection
        (every pool worker busy, a descriptor its selector cannot watch): the client then gets
        the same fatal `server_full` error as when `max_clients` is reached.
        """
        conn = Connection(next(self._conn_ids), peer, io, self.config.max_frame, self.clock())
        log.info("connect %s id=%d", peer, conn.id)
        if full or self.closing or len(self.connections) >= self.config.max_clients:
            reason = "server is shutting down" if self.closing else "server is full"
            self._fail(conn, ProtocolError(ErrorCode.SERVER_FULL, reason))
            return conn
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
            conn.last_seen = self.clock()
        for body in bodies:
            if conn.closed:
                return
            self._handle(conn, body)
        if fatal is not None and not conn.closed:
            self._fail(conn, fatal)

    def lost(self, conn: Connection, *, reset: bool = False) -> None:
        """The peer went away (`reset`: with an error rather than an orderly close); its
        rooms see `left` once. Safe to call more than once."""
        if not conn.closed:
            self._drop(conn, "connection reset" if reset else "connection closed")

    def shutdown(self, reason: str = "server shutting down") -> None:
        """Say `bye` to everyone and mark every connection closed; refuse new ones."""
        self.closing = True
        bye = encode(Bye(reason=reason))
        for conn in list(self.connections.values()):
            self._send_frame(conn, bye)
            conn.closed = True
        self.connections.clear()
        self.rooms.clear()
        self.nicks.clear()

    def check_backlog(self, conn: Connection, unsent: int) -> None:
        """Tell the core how many bytes the backend still holds unsent for `conn`.

        Backends call this after writing; past the `max_outbuf` cap the connection is dropped
        as a slow consumer (others are not held back by it).
        """
        if unsent + conn.out_bytes > self.config.max_outbuf and not conn.closed:
            self._slow_consumer(conn)

    def reap_idle(self) -> None:
        """Drop connections that sent no frame for `idle_timeout` seconds, or that did not
        register within `hello_timeout` seconds of connecting. Call periodically."""
        now = self.clock()
        idle_since = now - self.config.idle_timeout
        opened_before = now - self.config.hello_timeout
        for conn in list(self.connections.values()):
            if conn.last_seen < idle_since:
                reason = f"no frame received for {self.config.idle_timeout:g} seconds"
            elif conn.nick is None and conn.opened < opened_before:
                reason = f"no hello within {self.config.hello_timeout:g} seconds"
            else:
                continue
            self._fail(conn, ProtocolError(ErrorCode.IDLE_TIMEOUT, reason))

    # ------------------------------------------------------------------ queueing

    def _wake(self, conn: Connection) -> None:
        if not conn.wake_pending:
            conn.wake_pending = True
            conn.io.output_ready()

    def _send(self, conn: Connection, message: _Message) -> None:
        self._send_frame(conn, encode(message))

    def _send_frame(self, conn: Connection, frame: bytes) -> None:
        if conn.closed:
            return
        conn.out.append(frame)
        conn.out_bytes += len(frame)
        if conn.out_bytes > self._queue_cap:
            self._slow_consumer(conn)
        elif not conn.wake_pending:
            conn.wake_pending = True
            conn.io.output_ready()

    def _broadcast(self, members: Iterable[Connection], frame: bytes) -> None:
        # The hot loop of every fan-out: keep it to a few attribute operations per member.
        cap = self._queue_cap
        size = len(frame)
        slow: list[Connection] = []
        for conn in members:
            conn.out.append(frame)
            queued = conn.out_bytes + size
            conn.out_bytes = queued
            if queued > cap:
                slow.append(conn)
            elif not conn.wake_pending:
                conn.wake_pending = True
                conn.io.output_ready()
        for conn in slow:
            self._slow_consumer(conn)

    # ------------------------------------------------------------------ errors and closing

    def _error(self, conn: Connection, exc: ProtocolError) -> None:
        log.info("error %r code=%s %s", conn, exc.code.value, exc)
        self._send(conn, Error(code=exc.code.value, message=str(exc), ref=exc.ref, fatal=exc.fatal))

    def _fail(self, conn: Connection, exc: ProtocolError) -> None:
        """Send a fatal error, then close."""
        self._error(conn, exc)
        self._drop(conn, exc.code.value)

    def _slow_consumer(self, conn: Connection) -> None:
        if conn.closed:  # already dropped by a cascade of `left` broadcasts
            return
        # What is queued will never be read in time: replace it with the error.
        conn.out.clear()
        conn.out_bytes = 0
        self._fail(
            conn,
            ProtocolError(
                ErrorCode.SLOW_CONSUMER,
                f"more than {self.config.max_outbuf} bytes waiting to be read; disconnected",
            ),
        )

    def _drop(self, conn: Connection, reason: str) -> None:
        """Remove `conn` from everything, tell its rooms, and mark it closed."""
        if conn.closed:
            return
        conn.closed = True
        self.connections.pop(conn.id, None)
        if conn.key is not None and self.nicks.get(conn.key) is conn:
            del self.nicks[conn.key]
        if conn.nick is not None:
            ts = utc_now()
            for room in conn.rooms.values():
                del room.members[conn]
                if not room.members:
                    self._forget_room(room)
                frame = encode(Left(room=room.name, nick=conn.nick, reason=reason, ts=ts))
                # May drop other slow members in turn; the room is already consistent.
                self._broadcast(room.members, frame)
            conn.rooms.clear()
        log.info("disconnect %r reason=%s", conn, reason)
        # Wake the backend so it flushes what is queued and then closes the socket.
        self._wake(conn)

    def _forget_room(self, room: Room) -> None:
        if self.rooms.get(room.key) is room:
            del self.rooms[room.key]

    # ------------------------------------------------------------------ dispatch

    def _handle(self, conn: Connection, body: bytes) -> None:
        try:
            message: ClientMessage = CLIENT_MESSAGE.validate_json(body)
        except ValidationError as exc:
            self._error(conn, _validation_error(exc, body))
            return
        if conn.nick is None and not isinstance(message, Hello | Ping | Quit):
            self._error(
                conn,
                ProtocolError(
                    ErrorCode.NOT_REGISTERED,
                    "say hello first",
                    ref=getattr(message, "ref", None),
                ),
            )
            return
        try:
            self._handlers[type(message)](conn, message)
        except ProtocolError as exc:
            if exc.fatal:
                self._fail(conn, exc)
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

    def _room_of(self, conn: Connection, room_name: str, ref: str | None = None) -> Room:
        room = conn.rooms.get(name_key(room_name))
        if room is None:
            raise ProtocolError(ErrorCode.NOT_IN_ROOM, f"you are not in {room_name}", ref=ref)
        return room

    def _sharing_rooms(self, conn: Connection) -> dict[Connection, None]:
        """`conn` and every connection that shares a room with it, each once."""
        peers: dict[Connection, None] = {conn: None}
        for room in conn.rooms.values():
            peers.update(room.members)
        return peers

    # ------------------------------------------------------------------ handlers

    def _hello(self, conn: Connection, msg: Hello) -> None:
        if conn.nick is not None:
            raise ProtocolError(ErrorCode.ALREADY_REGISTERED, f"already registered as {conn.nick}")
        if msg.protocol != PROTOCOL_VERSION:
            raise ProtocolError(
                ErrorCode.UNSUPPORTED_PROTOCOL,
                f"protocol {msg.protocol} is not supported; this server speaks {PROTOCOL_VERSION}",
            )
        expected = self.config.password
        if expected is not None and not hmac.compare_digest(
            (msg.password or "").encode(), expected.encode()
        ):
            raise ProtocolError(ErrorCode.BAD_PASSWORD, "wrong or missing password")
        nick = self._valid_free_nick(msg.nick, conn)
        conn.nick = nick
        conn.key = name_key(nick)
        self.nicks[conn.key] = conn
        log.info("hello %r", conn)
        self._send(
            conn,
            Welcome(
                nick=nick,
                protocol=PROTOCOL_VERSION,
                server=self._server_info,
                backend=self.backend,
                motd=self.config.motd,
                instance=self.instance,
            ),
        )

    def _valid_free_nick(self, wanted: str, conn: Connection) -> str:
        try:
            nick = normalize_nick(wanted)
        except ValueError as exc:
            raise _invalid(ErrorCode.INVALID_NICK, exc) from None
        owner = self.nicks.get(name_key(nick))
        if owner is not None and owner is not conn:
            raise ProtocolError(ErrorCode.NICK_TAKEN, f"{nick} is already taken")
        return nick

    def _join(self, conn: Connection, msg: Join) -> None:
        assert conn.nick is not None
        try:
            name = normalize_room(msg.room)
        except ValueError as exc:
            raise _invalid(ErrorCode.INVALID_ROOM, exc) from None
        key = name_key(name)
        room = conn.rooms.get(key)
        if room is None:
            if len(conn.rooms) >= self.config.max_rooms_per_client:
                raise ProtocolError(
                    ErrorCode.INVALID_ROOM,
                    f"you are already in {self.config.max_rooms_per_client} rooms; leave one first",
                )
            room = self.rooms.get(key)
            if room is None:
                room = self.rooms[key] = Room(name, key, self.config.history)
            room.members[conn] = None
            conn.rooms[key] = room
            self._broadcast(
                room.members, encode(Joined(room=room.name, nick=conn.nick, ts=utc_now()))
            )
        else:
            # Joining a room again is harmless: the joiner alone gets the same replies again.
            self._send(conn, Joined(room=room.name, nick=conn.nick, ts=utc_now()))
        replay = room.since(msg.since, budget=min(REPLY_BUDGET, self.config.max_outbuf // 2))
        self._send_frame(conn, framing.frame(history_body(room.name, replay)))
        self._send(conn, Members(room=room.name, nicks=room.nicks()))
        if room.topic:
            self._send(conn, Topic(room=room.name, topic=room.topic, nick=room.topic_by))

    def _leave(self, conn: Connection, msg: Leave) -> None:
        assert conn.nick is not None
        room = self._room_of(conn, msg.room)
        # Leave first, then tell: if this broadcast drops the leaver as a slow consumer, it
        # must not announce a second `left` for this room.
        del room.members[conn]
        del conn.rooms[room.key]
        if not room.members:
            self._forget_room(room)
        frame = encode(Left(room=room.name, nick=conn.nick, ts=utc_now()))
        self._broadcast([*room.members, conn], frame)

    def _say(self, conn: Connection, msg: Say) -> None:
        assert conn.nick is not None
        room = self._room_of(conn, msg.room, msg.ref)
        try:
            text = check_text(msg.text)
        except ValueError as exc:
            raise _invalid(ErrorCode.INVALID_TEXT, exc, msg.ref) from None
        # Encoded once, without building a ChatMessage (see protocol.messages fast paths).
        message_id = next(self._message_ids)
        body = chat_message_body(message_id, room.name, conn.nick, text, msg.action, utc_now())
        room.history.append((message_id, body))
        shared = framing.frame(body)
        if msg.ref is None:
            self._broadcast(room.members, shared)
            return
        # The sender's own copy carries its ref, so it can match the echo to what it sent. Every
        # member is queued the shared frame in one pass, then the sender's entry is swapped for
        # its own copy (it is the last thing queued for it), which keeps the loop free of checks.
        own = framing.frame(with_ref(body, msg.ref))
        self._broadcast(room.members, shared)
        out = conn.out
        if not conn.closed and out and out[-1] is shared:
            out[-1] = own
            conn.out_bytes += len(own) - len(shared)
            if conn.out_bytes > self._queue_cap:  # the same in-turn cap as _broadcast's
                self._slow_consumer(conn)

    def _dm(self, conn: Connection, msg: SendDm) -> None:
        assert conn.nick is not None
        target = self.nicks.get(name_key(msg.to))
        if target is None:
            raise ProtocolError(ErrorCode.NO_SUCH_NICK, f"no one is called {msg.to}", ref=msg.ref)
        try:
            text = check_text(msg.text)
        except ValueError as exc:
            raise _invalid(ErrorCode.INVALID_TEXT, exc, msg.ref) from None
        assert target.nick is not None
        message = DirectMessage.model_construct(
            id=next(self._message_ids),
            sender=conn.nick,
            to=target.nick,
            text=text,
            ts=utc_now(),
        )
        if target is not conn:
            self._send(target, message)
        self._send(conn, message.model_copy(update={"ref": msg.ref}))

    def _nick(self, conn: Connection, msg: ChangeNick) -> None:
        old = conn.nick
        assert old is not None and conn.key is not None
        new = self._valid_free_nick(msg.nick, conn)
        if new == old:
            return
        del self.nicks[conn.key]
        conn.nick = new
        conn.key = name_key(new)
        self.nicks[conn.key] = conn
        self._broadcast(self._sharing_rooms(conn), encode(NickChanged(old=old, new=new)))

    def _who(self, conn: Connection, msg: Who) -> None:
        room = self.rooms.get(name_key(msg.room))
        if room is None:
            raise ProtocolError(ErrorCode.NO_SUCH_ROOM, f"there is no room called {msg.room}")
        self._send(conn, Members(room=room.name, nicks=room.nicks()))

    def _rooms(self, conn: Connection, msg: ListRooms) -> None:
        # The most populated rooms that fit in REPLY_BUDGET, listed by name.
        chosen: list[Room] = []
        size = 0
        for room in sorted(self.rooms.values(), key=lambda r: (-len(r.members), r.key)):
            size += len(room.name.encode()) + len(room.topic.encode()) + 48
            if size > REPLY_BUDGET:
                break
            chosen.append(room)
        chosen.sort(key=lambda r: r.key)
        listing = [RoomInfo(name=r.name, members=len(r.members), topic=r.topic) for r in chosen]
        self._send(conn, RoomList(rooms=listing))

    def _topic(self, conn: Connection, msg: SetTopic) -> None:
        assert conn.nick is not None
        room = self._room_of(conn, msg.room)
        topic = msg.topic.strip()
        if topic:
            try:
                check_text(topic, "topic", MAX_TOPIC_LENGTH)
            except ValueError as exc:
                raise _invalid(ErrorCode.INVALID_TEXT, exc) from None
            if "\n" in topic:
                raise ProtocolError(ErrorCode.INVALID_TEXT, "a topic is one line")
        room.topic = topic
        room.topic_by = conn.nick
        self._broadcast(room.members, encode(Topic(room=room.name, topic=topic, nick=conn.nick)))

    def _ping(self, conn: Connection, msg: Ping) -> None:
        self._send(conn, Pong(token=msg.token))

    def _quit(self, conn: Connection, msg: Quit) -> None:
        reason = "quit"
        if msg.reason:
            try:
                reason = check_text(msg.reason.replace("\n", " "), "reason", 200)
            except ValueError:
                reason = "quit"
        self._send(conn, Bye(reason="goodbye"))
        self._drop(conn, reason)


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
    return ProtocolError(ErrorCode.INVALID_MESSAGE, details, ref=ref)
