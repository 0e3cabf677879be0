"""The asyncio backend: one event loop, one `asyncio.Protocol` per connection.

Reads go straight to the core. Output is coalesced: the first frame queued for a connection
in a loop turn schedules one flush (`call_soon`), which runs after every read of that turn and
writes each connection's frames with a single `transport.write` (or sooner, once the turn has
read more than READ_SIZE bytes, so a burst cannot pile up in the core past max_outbuf).

TLS is not asyncio's (`create_server(ssl=...)`): a tls:// connection is a plain transport
with the protocol's own `TlsSession` (the sans-IO layer the selectors and thread backends
use). A turn's output is then encrypted once per connection and written like plain output,
the direct write included (it writes ciphertext, so no layer is bypassed), without the
Python layers of asyncio's SSL protocol around each write. The core's hello window bounds a
stalled handshake, as it does on the other backends.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import ssl
from collections.abc import Callable
from typing import cast

from chat_server.backends.base import READ_SIZE, ServeOptions
from chat_server.backends.lifecycle import (
    CLOSE_LINGER,
    OUT_OF_DESCRIPTORS,
    SHUTDOWN_GRACE,
    Acceptor,
    discard_input,
    peer_of,
    reset,
)
from chat_server.backends.tls import TlsFailed, TlsSession
from chat_server.core import TICK, Connection, Hub
from chat_server.listeners import peer_user

log = logging.getLogger("chat_server")


class _Flusher:
    """Collects connections with pending output and writes them all once per loop turn."""

    __slots__ = ("hub", "loop", "open", "pending", "received", "scheduled")

    def __init__(self, hub: Hub, loop: asyncio.AbstractEventLoop) -> None:
        self.hub = hub
        self.loop = loop
        self.pending: list[ChatProtocol] = []
        self.scheduled = False
        self.open: set[ChatProtocol] = set()  # for shutdown: who still has a socket
        self.received = 0  # bytes read since the last flush

    def note_read(self, size: int) -> None:
        """Flush early once a turn has read a lot (uvloop reads many chunks per turn): what
        the core queues between flushes counts against every member's max_outbuf."""
        self.received += size
        if self.received >= READ_SIZE and self.pending:
            self.flush()

    def add(self, proto: ChatProtocol) -> None:
        self.pending.append(proto)
        if not self.scheduled:
            self.scheduled = True
            self.loop.call_soon(self.flush)

    def flush(self) -> None:
        self.scheduled = False
        self.received = 0
        check_backlog = self.hub.check_backlog
        write = os.write
        while self.pending:
            batch, self.pending = self.pending, []
            for proto in batch:
                transport = proto.transport
                conn = proto.conn
                data = conn.take_output()
                if transport is None or transport.is_closing():
                    continue
                tls = proto.tls
                if tls is not None and (data or tls.wants_write):
                    try:
                        data = tls.send(data)
                    except TlsFailed:
                        data = b""  # nothing more can be said to it: reset below
                        conn.reset = True
                if conn.reset:
                    proto.cut(data)
                    continue
                if data:
                    # Fast path: with nothing buffered in the transport, write to the socket
                    # directly (one system call, no Python-level transport.write per
                    # recipient), exactly as transport.write would; whatever the kernel does
                    # not take goes through the transport, which buffers it and writes it
                    # when the socket is writable. Errors are left to the transport too.
                    # Over TLS `data` is already the ciphertext (the transport itself is a
                    # plain stream), so no layer can be bypassed.
                    sent = 0
                    if proto.fd >= 0 and not transport.get_write_buffer_size():
                        try:
                            sent = write(proto.fd, data)
                        except OSError:
                            sent = 0
                    if sent < len(data):
                        transport.write(memoryview(data)[sent:] if sent else data)
                if conn.finished:
                    proto.close()
                else:
                    # Report what the transport holds (the core's queue was just emptied).
                    # May drop the connection as a slow consumer, which re-queues it.
                    unsent = transport.get_write_buffer_size()
                    if unsent or conn.unsent:
                        check_backlog(conn, unsent)


class ChatProtocol(asyncio.Protocol):
    __slots__ = ("conn", "fd", "flusher", "hub", "linger", "tls", "transport")

    def __init__(self, hub: Hub, flusher: _Flusher, tls: ssl.SSLContext | None = None) -> None:
        self.hub = hub
        self.flusher = flusher
        self.transport: asyncio.Transport | None = None
        self.linger: asyncio.TimerHandle | None = None
        self.fd = -1
        self.tls = None if tls is None else TlsSession(tls)  # None: a plain stream

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A stream transport (uvloop's does not subclass asyncio.Transport, hence no isinstance).
        self.transport = cast(asyncio.Transport, transport)
        self.flusher.open.add(self)
        sock = self.transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            # asyncio sets it only on sockets whose proto is IPPROTO_TCP, which the listener
            # from socket.create_server (proto 0) does not pass on: without it, Nagle and
            # delayed ACKs add ~40 ms to small frames.
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.fd = sock.fileno() if sock is not None else -1
        user = None
        if sock is not None and sock.family == socket.AF_UNIX:
            user = peer_user(sock)
            label, ip = f"unix:{user or '?'}", None
        else:
            label, ip = peer_of(self.transport.get_extra_info("peername"))
        # pause_writing/resume_writing report crossings of the soft output cap, so a buffer
        # that drains with no further writes is seen to drain.
        soft = self.hub.config.max_outbuf
        self.transport.set_write_buffer_limits(high=soft, low=soft)
        self.conn: Connection = self.hub.open(self, label, address=ip, local_user=user)

    def data_received(self, data: bytes) -> None:
        if self.tls is not None:
            self._received_tls(data)
        else:
            self.hub.receive(self.conn, data)
        self.flusher.note_read(len(data))

    def _received_tls(self, data: bytes) -> None:
        """Raw bytes through the TLS layer: the handshake's answers go out at once (behind
        anything the transport still holds), the plaintext to the core."""
        assert self.tls is not None and self.transport is not None
        try:
            plain = self.tls.receive(data)
        except TlsFailed as exc:
            log.info("tls from %s failed: %s", self.conn.peer, exc)
            self.hub.lost(self.conn, reset=True)
            self.transport.abort()
            return
        if self.tls.wants_write:
            self.transport.write(self.tls.outgoing())
        if plain:
            self.hub.receive(self.conn, plain)

    def eof_received(self) -> bool:
        # Keep the write side open: the core's wake-up flushes what is queued, then closes.
        self.hub.lost(self.conn)
        return True

    def connection_lost(self, exc: Exception | None) -> None:
        self.hub.lost(self.conn, reset=exc is not None)
        self.transport = None
        self.fd = -1
        self.flusher.open.discard(self)
        if self.linger is not None:
            # The socket is gone: drop the timer, which would keep the transport (and with it
            # this protocol and its connection) alive for the rest of CLOSE_LINGER.
            self.linger.cancel()
            self.linger = None

    def pause_writing(self) -> None:
        if self.transport is not None:
            self.hub.check_backlog(self.conn, self.transport.get_write_buffer_size())

    def resume_writing(self) -> None:
        if self.transport is not None:
            self.hub.check_backlog(self.conn, self.transport.get_write_buffer_size())

    # ConnectionIO
    def output_ready(self) -> None:
        self.flusher.add(self)

    def pause_reading(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.pause_reading()

    def resume_reading(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.resume_reading()

    def cut(self, data: bytes) -> None:
        """A slow consumer: the error frame only if nothing is half sent, then a reset."""
        transport = self.transport
        if transport is None:
            return
        if data and self.fd >= 0 and not transport.get_write_buffer_size():
            with contextlib.suppress(OSError):
                os.write(self.fd, data)
        sock = transport.get_extra_info("socket")
        if sock is not None:
            reset(sock)
        transport.abort()

    def close(self) -> None:
        """Close after the buffer drains, and cut the connection if it does not in time."""
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        if self.fd >= 0:
            discard_input(self.fd)
        transport.close()
        self.linger = self.flusher.loop.call_later(CLOSE_LINGER, transport.abort)


async def serve_async(hub: Hub, options: ServeOptions, stop: asyncio.Event | None = None) -> None:
    """Run the server on the running loop until SIGINT/SIGTERM, then shut down gracefully.

    With `stop`, run until that event is set instead, and leave signals alone (a server
    embedded in another program, or in a test, on a thread of its own)."""
    loop = asyncio.get_running_loop()
    flusher = _Flusher(hub, loop)

    def wake() -> None:  # from other threads: the store's writer and readers, the hasher
        loop.call_soon_threadsafe(hub.settle)

    hub.set_waker(wake)
    listeners = options.open_listeners()
    acceptors = []
    servers: list[asyncio.AbstractServer] = []

    def factory() -> ChatProtocol:
        return ChatProtocol(hub, flusher)

    def tls_factory() -> ChatProtocol:
        return ChatProtocol(hub, flusher, options.tls)

    for listener in listeners:
        listener.sock.setblocking(False)
        acceptors.append(Acceptor(listener.sock))
        server: asyncio.AbstractServer
        if listener.kind == "unix":
            server = await loop.create_unix_server(
                factory, sock=listener.sock, backlog=options.backlog
            )
        elif listener.kind == "tls":
            # TLS in the protocol (see the module's docstring): to asyncio a plain stream.
            server = await loop.create_server(
                tls_factory, sock=listener.sock, backlog=options.backlog
            )
        else:
            server = await loop.create_server(factory, sock=listener.sock, backlog=options.backlog)
        servers.append(server)
    signals = () if stop is not None else (signal.SIGINT, signal.SIGTERM)
    stop = stop or asyncio.Event()
    for sig in signals:
        loop.add_signal_handler(sig, stop.set)
    if signals:
        loop.add_signal_handler(signal.SIGHUP, _reload, hub, flusher, options)
    old_handler = loop.get_exception_handler()
    loop.set_exception_handler(_at_descriptor_limit(acceptors))
    options.announce(listeners)

    def tick() -> None:
        # The timers of every connection run here: a failure is logged, never the end of them.
        try:
            hub.tick()
            flusher.flush()
        except Exception:
            log.exception("tick failed; continuing")

    ticker = _every(loop, TICK, tick)
    try:
        await stop.wait()
    finally:
        ticker.cancel()
        for sig in signals:
            loop.remove_signal_handler(sig)
        if signals:
            loop.remove_signal_handler(signal.SIGHUP)
        loop.set_exception_handler(old_handler)
        log.info("shutting down")
        for server in servers:
            server.close()
        hub.shutdown()
        flusher.flush()
        # Give clients a moment to read their `bye`; transports abort after CLOSE_LINGER.
        deadline = loop.time() + SHUTDOWN_GRACE
        while flusher.open and loop.time() < deadline:
            await asyncio.sleep(0.02)
        for proto in list(flusher.open):
            if proto.transport is not None:
                proto.transport.abort()
        for server in servers:
            await server.wait_closed()
        for acceptor in acceptors:
            acceptor.close()
        for listener in listeners:
            listener.close()


def _reload(hub: Hub, flusher: _Flusher, options: ServeOptions) -> None:
    """SIGHUP: reload the settings; the transports then report crossings of the soft output
    cap as it is now."""
    options.reload()
    soft = hub.config.max_outbuf
    for proto in list(flusher.open):
        if proto.transport is not None and not proto.transport.is_closing():
            proto.transport.set_write_buffer_limits(high=soft, low=soft)
    flusher.flush()


def _every(
    loop: asyncio.AbstractEventLoop, seconds: float, fn: Callable[[], None]
) -> asyncio.Task[None]:
    async def tick() -> None:
        while True:
            await asyncio.sleep(seconds)
            fn()

    return loop.create_task(tick())


def _at_descriptor_limit(
    acceptors: list[Acceptor],
) -> Callable[[asyncio.AbstractEventLoop, dict[str, object]], None]:
    """asyncio's event loop, out of descriptors, reports the failed accept (with a traceback)
    and stops accepting for a second. Instead: one log line at most a second, and everyone
    waiting in the backlog gets `server_full` through the reserve descriptor. (uvloop does not
    report it: libuv closes the newcomers itself, with the same trick, but with no frame.)
    Everything else goes to the default handler."""

    def handle(loop: asyncio.AbstractEventLoop, context: dict[str, object]) -> None:
        exc = context.get("exception")
        if isinstance(exc, OSError) and exc.errno in OUT_OF_DESCRIPTORS:
            for acceptor in acceptors:
                acceptor.refuse_pending(exc)
        else:
            loop.default_exception_handler(context)

    return handle


def serve(hub: Hub, options: ServeOptions) -> None:
    """Serve with the standard asyncio event loop."""
    asyncio.run(serve_async(hub, options))
