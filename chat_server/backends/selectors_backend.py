"""The selectors backend: one thread, non-blocking sockets, one selector (epoll, poll or select).

Each loop turn waits in the selector, reads what is readable into the core, writes buffered
leftovers where the kernel has room again, and then flushes every connection the core woke
during the turn with one `send` each. What the kernel does not take stays in that connection's
buffer and EVENT_WRITE is watched only while such a leftover exists. Nothing ever blocks.
"""

from __future__ import annotations

import logging
import selectors
import signal
import socket
import struct
import time
from types import FrameType

from chat_server.backends import BackendUnavailable
from chat_server.backends.base import CLOSE_LINGER, READ_SIZE, ServeOptions, reap_interval
from chat_server.core import Connection, Hub

log = logging.getLogger("chat_server")

#: select() cannot watch a descriptor at or above FD_SETSIZE (1024 on Linux).
FD_SETSIZE = 1024
_READ = selectors.EVENT_READ
_WRITE = selectors.EVENT_WRITE
_ACCEPT = "accept"
_WAKE = "wake"
_RESET = struct.pack("ii", 1, 0)  # SO_LINGER on, 0 s: close() sends a reset


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

    __slots__ = ("conn", "deadline", "events", "loop", "out", "peer", "reading", "sock")

    def __init__(self, loop: _Loop, sock: socket.socket, peer: str) -> None:
        self.loop = loop
        self.sock: socket.socket | None = sock
        self.peer = peer
        self.out = bytearray()  # accepted from the core, not yet taken by the kernel
        self.events = 0  # 0: not registered with the selector
        self.reading = True
        self.deadline: float | None = None  # set once closed by the core with data left
        self.conn: Connection

    # ConnectionIO: only remember it; the loop flushes once at the end of the turn.
    def output_ready(self) -> None:
        self.loop.dirty.append(self)


class _Loop:
    def __init__(self, hub: Hub, sel: selectors.BaseSelector) -> None:
        self.hub = hub
        self.sel = sel
        self.dirty: list[_Client] = []
        self.clients: set[_Client] = set()  # registered with the selector
        self.lingering: set[_Client] = set()
        self.fd_limit = FD_SETSIZE if isinstance(sel, selectors.SelectSelector) else None
        self.stopping = False
        self.received = 0  # bytes read since the last flush

    # ------------------------------------------------------------------ events

    def accept(self, listener: socket.socket) -> None:
        for _ in range(64):  # bounded, so a connection storm cannot starve the others
            try:
                sock, addr = listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:  # EMFILE and friends: keep serving who is here
                log.warning("accept failed: %s", exc)
                return
            sock.setblocking(False)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            client = _Client(self, sock, f"{addr[0]}:{addr[1]}")
            fd = sock.fileno()
            full = self.fd_limit is not None and fd >= self.fd_limit
            if full:
                log.warning(
                    "refusing %s: descriptor %d is beyond select()'s limit of %d (FD_SETSIZE); "
                    "use --selector poll or epoll for more clients",
                    client.peer,
                    fd,
                    self.fd_limit,
                )
            client.conn = self.hub.open(client, client.peer, full=full)
            if not full:
                self.clients.add(client)
                self._watch(client)

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
        if data:
            self.hub.receive(client.conn, data)
            self.received += len(data)
            if self.received >= READ_SIZE:  # flush early: see flush()
                self.flush()
        else:
            client.reading = False
            self.hub.lost(client.conn)

    def writable(self, client: _Client) -> None:
        if self._send(client, client.out):
            self._settle(client)

    def flush(self) -> None:
        """Write what the core queued this turn: one send per connection.

        Also called in the middle of a turn once it has read READ_SIZE bytes: what the core
        queues between flushes counts against every member's max_outbuf.
        """
        self.received = 0
        check_backlog = self.hub.check_backlog
        while self.dirty:
            batch, self.dirty = self.dirty, []
            for client in batch:
                data = client.conn.take_output()
                if client.sock is None:
                    continue
                if data:
                    if client.out:
                        client.out += data
                    elif not self._send(client, data):
                        continue
                if not client.conn.closed and client.out:
                    check_backlog(client.conn, len(client.out))  # may close it: re-queued
                self._settle(client)

    # ------------------------------------------------------------------ helpers

    def _send(self, client: _Client, data: bytes | bytearray) -> bool:
        """Send what the kernel takes now; keep the rest. False if the socket is gone."""
        assert client.sock is not None
        try:
            sent = client.sock.send(data)
        except (BlockingIOError, InterruptedError):
            sent = 0
        except OSError:
            client.out.clear()
            self.hub.lost(client.conn, reset=True)
            self.close(client)
            return False
        if data is client.out:
            del client.out[:sent]
        elif sent < len(data):
            client.out += memoryview(data)[sent:]
        return True

    def _settle(self, client: _Client) -> None:
        """Close a finished connection, or watch what it needs now."""
        if client.conn.closed:
            if not client.out or not client.events:
                self.close(client)
                return
            if client.deadline is None:
                client.deadline = time.monotonic() + CLOSE_LINGER
                self.lingering.add(client)
        self._watch(client)

    def _watch(self, client: _Client) -> None:
        assert client.sock is not None
        want = _WRITE if client.out else 0
        if client.reading and not client.conn.closed:
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
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _RESET)
        sock.close()
        client.sock = None
        client.out.clear()
        self.clients.discard(client)
        self.lingering.discard(client)

    def cut_expired(self, now: float) -> None:
        for client in [c for c in self.lingering if c.deadline is not None and c.deadline <= now]:
            self.close(client, cut=True)

    def turn(self, timeout: float, wake: socket.socket, listener: socket.socket | None) -> None:
        for key, mask in self.sel.select(timeout):
            data = key.data
            if data is _ACCEPT:
                if listener is not None:
                    self.accept(listener)
            elif data is _WAKE:
                while True:
                    try:
                        if not wake.recv(4096):
                            break
                    except (BlockingIOError, InterruptedError):
                        break
            else:
                client: _Client = data
                if mask & _WRITE and client.sock is not None:
                    self.writable(client)
                if mask & _READ and client.sock is not None and client.reading:
                    self.readable(client)
        self.flush()
        if self.lingering:
            self.cut_expired(time.monotonic())


def serve(hub: Hub, options: ServeOptions) -> None:
    """Serve on one thread until SIGINT/SIGTERM, then shut down gracefully."""
    sel = make_selector(options.selector)
    loop = _Loop(hub, sel)
    listener = socket.create_server(
        (options.host, options.port), backlog=options.backlog, reuse_port=False
    )
    listener.setblocking(False)
    wake_r, wake_w = socket.socketpair()
    wake_r.setblocking(False)
    wake_w.setblocking(False)
    sel.register(listener, _READ, _ACCEPT)
    sel.register(wake_r, _READ, _WAKE)

    def stop(signum: int, frame: FrameType | None) -> None:
        loop.stopping = True  # the wake-up fd makes select() return

    old_wakeup = signal.set_wakeup_fd(wake_w.fileno())
    old_handlers = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    host, port = listener.getsockname()[:2]
    log.info("selectors backend using %s", type(sel).__name__)
    options.ready(host, port)
    interval = reap_interval(hub)
    next_reap = time.monotonic() + interval
    try:
        while not loop.stopping:
            now = time.monotonic()
            if now >= next_reap:
                hub.reap_idle()
                loop.flush()
                next_reap = now + interval
            timeout = next_reap - now
            if loop.lingering:
                first = min(c.deadline for c in loop.lingering if c.deadline is not None)
                timeout = min(timeout, first - now)
            loop.turn(max(0.0, timeout), wake_r, listener)
        log.info("shutting down")
        sel.unregister(listener)
        listener.close()
        hub.shutdown()
        loop.flush()
        deadline = time.monotonic() + CLOSE_LINGER + 0.5
        while loop.clients and (left := deadline - time.monotonic()) > 0:
            loop.turn(min(left, 0.1), wake_r, None)
        for client in list(loop.clients):
            loop.close(client, cut=True)
    finally:
        signal.set_wakeup_fd(old_wakeup)
        for sig, handler in old_handlers.items():
            signal.signal(sig, handler)
        listener.close()
        sel.close()
        wake_r.close()
        wake_w.close()
