"""The selectors backend: one thread, non-blocking sockets, one selector (epoll, poll or select).

Each loop turn waits in the selector, reads what is readable into the core, writes buffered
leftovers where the kernel has room again, and then flushes every connection the core woke
during the turn with one `send` each. What the kernel does not take stays in that connection's
OutputBuffer and EVENT_WRITE is watched only while such a leftover exists; EVENT_READ is
dropped while flood control holds the connection back. Nothing ever blocks.
"""

from __future__ import annotations

import contextlib
import logging
import selectors
import signal
import socket
import ssl
import time
from types import FrameType

from chat_server.backends import BackendUnavailable
from chat_server.backends.base import READ_SIZE, ServeOptions
from chat_server.backends.lifecycle import (
    Acceptor,
    Lingering,
    OutputBuffer,
    discard_input,
    peer_of,
    reset,
    shutdown_deadline,
)
from chat_server.backends.tls import TlsFailed, TlsSession
from chat_server.core import TICK, Connection, Hub
from chat_server.listeners import Listener, peer_user

log = logging.getLogger("chat_server")

#: select() cannot watch a descriptor at or above FD_SETSIZE (1024 on Linux).
FD_SETSIZE = 1024
_READ = selectors.EVENT_READ
_WRITE = selectors.EVENT_WRITE
_ACCEPT = "accept"
_WAKE = "wake"


def make_selector(name: str) -> selectors.BaseSelector:
    """The selector class that `--selector NAME` asks for."""
    if name == "default":
        return selectors.DefaultSelector()
    cls_name = {"select": "SelectSelector", "poll": "PollSelector", "epoll": "EpollSelector"}[name]
    cls: type[selectors.BaseSelector] | None = getattr(selectors, cls_name, None)
    if cls is None:
        raise BackendUnavailable(f"--selector {name} is not available on this system")
    return cls()


class _Client:
    """One socket: its core connection, its unsent bytes and what the selector watches."""

    __slots__ = ("conn", "events", "loop", "out", "paused", "peer", "reading", "sock", "tls")

    def __init__(
        self, loop: _Loop, sock: socket.socket, peer: str, tls: TlsSession | None = None
    ) -> None:
        self.loop = loop
        self.sock: socket.socket | None = sock
        self.peer = peer
        self.tls = tls  # None: a plain stream
        self.out = OutputBuffer()
        self.events = 0  # 0: not registered with the selector
        self.reading = True  # False once the peer has closed its side
        self.paused = False  # flood control: do not read for now
        self.conn: Connection

    # ConnectionIO: only remember it; the loop flushes once at the end of the turn.
    def output_ready(self) -> None:
        self.loop.dirty.append(self)

    def pause_reading(self) -> None:
        self.paused = True
        if self.sock is not None:
            self.loop.watch(self)

    def resume_reading(self) -> None:
        self.paused = False
        if self.sock is not None:
            self.loop.watch(self)


class _Loop:
    def __init__(self, hub: Hub, sel: selectors.BaseSelector) -> None:
        self.hub = hub
        self.sel = sel
        self.dirty: list[_Client] = []
        self.clients: set[_Client] = set()  # registered with the selector
        self.lingering: Lingering[_Client] = Lingering()
        self.fd_limit = FD_SETSIZE if isinstance(sel, selectors.SelectSelector) else None
        self.stopping = False
        self.reloading = False  # SIGHUP came: reload the settings between two turns
        self.received = 0  # bytes read since the last flush
        self.tls: ssl.SSLContext | None = None  # for tls:// listeners

    # ------------------------------------------------------------------ events

    def accept(self, acceptor: Acceptor, listener: Listener) -> None:
        for sock, addr in acceptor.accept():
            sock.setblocking(False)
            user = None
            if listener.kind == "unix":
                user = peer_user(sock)
                label, ip = f"unix:{user or '?'}", None
            else:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                label, ip = peer_of(addr)
            tls = TlsSession(self.tls) if listener.kind == "tls" and self.tls else None
            client = _Client(self, sock, label, tls)
            fd = sock.fileno()
            full = self.fd_limit is not None and fd >= self.fd_limit
            if full:
                log.warning(
                    "refusing %s: descriptor %d is beyond select()'s limit of %d (FD_SETSIZE); "
                    "use --selector poll or epoll for more clients",
                    label,
                    fd,
                    self.fd_limit,
                )
            self.clients.add(client)
            client.conn = self.hub.open(client, label, address=ip, full=full, local_user=user)
            if client.conn.closed:
                self.dirty.append(client)
            else:
                self.watch(client)

    def readable(self, client: _Client) -> None:
        assert client.sock is not None
        try:
            data = client.sock.recv(READ_SIZE)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            client.reading = False
            self.hub.lost(client.conn, reset=True)
            return
        if client.tls is not None:
            self._received_tls(client, data)
        elif data:
            self.hub.receive(client.conn, data)
        if data:
            self.received += len(data)
            if self.received >= READ_SIZE:  # flush early: see flush()
                self.flush()
        else:
            client.reading = False
            self.hub.lost(client.conn)

    def _received_tls(self, client: _Client, data: bytes) -> None:
        """Raw bytes through the TLS layer: the handshake's answers go out at once, the
        plaintext (every complete record, however much TLS buffered) to the core."""
        assert client.tls is not None
        try:
            plain = client.tls.receive(data)
        except TlsFailed as exc:
            log.info("tls from %s failed: %s", client.peer, exc)
            client.reading = False
            self.hub.lost(client.conn, reset=True)
            self.close(client)
            return
        if client.tls.wants_write and client.sock is not None:
            self._write(client, client.tls.outgoing())
        if plain and client.sock is not None:
            self.hub.receive(client.conn, plain)

    def writable(self, client: _Client) -> None:
        if self._write(client, b""):
            self._settle(client)

    def flush(self) -> None:
        """Write what the core queued this turn: one send per connection.

        Also called in the middle of a turn once it has read READ_SIZE bytes, so that what
        the core queues between flushes stays far below every member's output caps.
        """
        self.received = 0
        while self.dirty:
            batch, self.dirty = self.dirty, []
            for client in batch:
                data = client.conn.take_output()
                if client.sock is None:
                    continue
                if client.tls is not None and (data or client.tls.wants_write):
                    try:
                        data = client.tls.send(data)
                    except TlsFailed:
                        data = b""  # nothing more can be said to it: reset below
                        client.conn.reset = True
                if client.conn.reset:
                    self._cut(client, data)
                    continue
                if (data or client.out) and not self._write(client, data):
                    continue
                self._settle(client)

    # ------------------------------------------------------------------ helpers

    def _write(self, client: _Client, data: bytes) -> bool:
        """Send what the kernel takes now and report the rest. False if the socket is gone."""
        assert client.sock is not None
        try:
            client.out.write(client.sock, data)
        except OSError:
            client.out.clear()
            self.hub.lost(client.conn, reset=True)
            self.close(client)
            return False
        if client.out or client.conn.unsent:
            self.hub.check_backlog(client.conn, len(client.out))  # may cut it: re-queued
        return True

    def _cut(self, client: _Client, data: bytes) -> None:
        """A slow consumer: the error frame only if nothing is half sent, then a reset."""
        assert client.sock is not None
        if not client.out and data:
            with contextlib.suppress(OSError):
                client.sock.send(data, socket.MSG_DONTWAIT)
        self.close(client, cut=True)

    def _settle(self, client: _Client) -> None:
        """Close a finished connection, or watch what it needs now."""
        if client.conn.finished:
            if not client.out:
                self.close(client)
                return
            self.lingering.start(client)
        self.watch(client)

    def watch(self, client: _Client) -> None:
        assert client.sock is not None
        want = _WRITE if client.out else 0
        if client.reading and not client.paused and not client.conn.closed:
            want |= _READ
        if want == client.events:
            return
        if not client.events:
            self.sel.register(client.sock, want, client)
        elif want:
            self.sel.modify(client.sock, want, client)
        else:
            self.sel.unregister(client.sock)
        client.events = want

    def close(self, client: _Client, cut: bool = False) -> None:
        sock = client.sock
        if sock is None:
            return
        if client.events:
            self.sel.unregister(sock)
            client.events = 0
        if cut:
            reset(sock)
        else:
            discard_input(sock)
        sock.close()
        client.sock = None
        client.out.clear()
        self.clients.discard(client)
        self.lingering.discard(client)

    def cut_expired(self) -> None:
        for client in self.lingering.expired():
            self.close(client, cut=True)

    def turn(self, timeout: float, wake: socket.socket, accepting: bool = True) -> None:
        for key, mask in self.sel.select(timeout):
            data = key.data
            if isinstance(data, tuple):  # (Acceptor, Listener)
                if accepting:
                    self.accept(*data)
            elif data is _WAKE:  # a signal, or results handed back by another thread
                while True:
                    try:
                        if not wake.recv(4096):
                            break
                    except (BlockingIOError, InterruptedError):
                        break
                self.hub.settle()
            else:
                client: _Client = data
                if mask & _WRITE and client.sock is not None:
                    self.writable(client)
                if mask & _READ and client.sock is not None and client.reading:
                    self.readable(client)
        self.flush()
        if self.lingering:
            self.cut_expired()


def serve(hub: Hub, options: ServeOptions) -> None:
    """Serve on one thread until SIGINT/SIGTERM, then shut down gracefully."""
    sel = make_selector(options.selector)
    loop = _Loop(hub, sel)
    loop.tls = options.tls
    listeners = options.open_listeners()
    acceptors: list[Acceptor] = []
    for listener in listeners:
        listener.sock.setblocking(False)
        acceptor = Acceptor(listener.sock)
        acceptors.append(acceptor)
        sel.register(listener.sock, _READ, (acceptor, listener))
    wake_r, wake_w = socket.socketpair()
    wake_r.setblocking(False)
    wake_w.setblocking(False)
    sel.register(wake_r, _READ, _WAKE)

    def wake() -> None:  # from other threads: the store's writer and readers, the hasher
        with contextlib.suppress(BlockingIOError, OSError):
            wake_w.send(b"\1")

    hub.set_waker(wake)

    def stop(signum: int, frame: FrameType | None) -> None:
        loop.stopping = True  # the wake-up fd makes select() return

    def hang_up(signum: int, frame: FrameType | None) -> None:
        loop.reloading = True  # likewise

    old_wakeup = signal.set_wakeup_fd(wake_w.fileno())
    old_handlers = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    old_handlers[signal.SIGHUP] = signal.signal(signal.SIGHUP, hang_up)
    log.info("selectors backend using %s", type(sel).__name__)
    options.announce(listeners)
    next_tick = time.monotonic() + TICK
    try:
        while not loop.stopping:
            now = time.monotonic()
            if now >= next_tick:
                hub.tick()
                loop.flush()
                next_tick = now + TICK
            timeout = next_tick - now
            linger = loop.lingering.wait()
            if linger is not None:
                timeout = min(timeout, linger)
            loop.turn(max(0.0, timeout), wake_r)
            if loop.reloading:
                loop.reloading = False
                options.reload()
                loop.flush()
        log.info("shutting down")
        for listener in listeners:
            sel.unregister(listener.sock)
            listener.close()
        hub.shutdown()
        loop.flush()
        deadline = shutdown_deadline()
        while loop.clients and (left := deadline - time.monotonic()) > 0:
            loop.turn(min(left, 0.1), wake_r, accepting=False)
        for client in list(loop.clients):
            loop.close(client, cut=True)
    finally:
        signal.set_wakeup_fd(old_wakeup)
        for sig, handler in old_handlers.items():
            signal.signal(sig, handler)
        for listener in listeners:
            listener.close()
        for acceptor in acceptors:
            acceptor.close()
        sel.close()
        wake_r.close()
        wake_w.close()
