"""What the thread-per-connection backends share: the locked core, one writer, the ticker.

Each connection has a reader thread (a pool worker or a socketserver handler) that blocks in
`recv` and hands the bytes to the core under the one core lock. Writes never happen on a reader
thread: `output_ready()` (always called under the lock) only queues the connection for the
writer thread and pokes its wake-up socket. The writer takes every queued connection's output
under the lock in one go, then, outside the lock, sends each with one non-blocking `send`;
what the kernel does not take stays in that connection's buffer and is written when a selector
reports the socket writable. A slow consumer therefore never blocks a reader, the writer or a
room. A reader whose frames produced output waits until the writer has taken it, so a fast
sender cannot run ahead of the writer and pile output up in the core; a reader held back by
flood control waits before its next `recv` until the core resumes it.
"""

from __future__ import annotations

import contextlib
import logging
import selectors
import signal
import socket
import ssl
import threading
import time
from collections.abc import Callable

from chat_server.backends.base import READ_SIZE
from chat_server.backends.lifecycle import (
    CLOSE_LINGER,
    Lingering,
    OutputBuffer,
    discard_input,
    peer_of,
    reset,
    shutdown_deadline,
)
from chat_server.backends.tls import TlsFailed, TlsSession
from chat_server.core import TICK, Connection, Hub
from chat_server.core.threads import SERVING_SIGNALS
from chat_server.listeners import peer_user

log = logging.getLogger("chat_server")

#: Stack per connection thread: enough for the core and the JSON parser, far below the default.
THREAD_STACK = 512 * 1024
_WAKE = "wake"


class Peer:
    """One socket of a threaded backend: its core connection and the writer's state for it."""

    __slots__ = (
        "closing",
        "conn",
        "core",
        "cut",
        "events",
        "finished",
        "has_reader",
        "label",
        "may_read",
        "out",
        "sock",
        "tls",
        "tls_lock",
        "writer_done",
    )

    def __init__(
        self,
        core: ThreadedCore,
        sock: socket.socket,
        label: str,
        has_reader: bool,
        tls: TlsSession | None = None,
    ):
        self.core = core
        self.sock = sock
        self.label = label
        self.has_reader = has_reader
        # The TLS layer (None: a plain stream) and its lock: the reader feeds it, the writer
        # encrypts with it, never both at once.
        self.tls = tls
        self.tls_lock = threading.Lock()
        self.conn: Connection
        self.may_read = threading.Event()  # cleared while flood control holds it back
        self.may_read.set()
        # Writer-thread state.
        self.out = OutputBuffer()
        self.events = 0  # registered with the writer's selector for EVENT_WRITE
        self.closing = False  # conn.closed as seen when its output was last taken
        self.writer_done = False
        self.cut = False  # close with a reset: the peer never took its last bytes
        self.finished = threading.Event()  # the writer is done with this socket

    # ConnectionIO: called under the core lock; only queue and signal.
    def output_ready(self) -> None:
        self.core.request_flush(self)

    def pause_reading(self) -> None:
        self.may_read.clear()

    def resume_reading(self) -> None:
        self.may_read.set()


class ThreadedCore:
    """The hub behind one lock, plus the writer and ticker threads."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self.lock = threading.Lock()
        self.peers: set[Peer] = set()  # sockets not yet closed (under lock)
        self._pending: list[Peer] = []  # woken by the core since the writer's last batch (lock)
        self._requested = 0  # batch number the pending list belongs to (lock)
        self._done = 0  # last batch the writer finished taking and sending
        self._flushed = threading.Condition(threading.Lock())
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._sel = selectors.DefaultSelector()
        self._sel.register(self._wake_r, selectors.EVENT_READ, _WAKE)
        self._lingering: Lingering[Peer] = Lingering()
        self._stopping = threading.Event()
        self._kick = threading.Event()  # wakes the ticker: results handed back to settle
        hub.set_waker(self._kick.set)
        self._threads = [
            threading.Thread(target=self._write_loop, name="chat-writer", daemon=True),
            threading.Thread(target=self._tick_loop, name="chat-ticker", daemon=True),
        ]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    # ------------------------------------------------------------------ called by readers

    def open(
        self,
        sock: socket.socket,
        addr: object,
        *,
        full: bool = False,
        tls: ssl.SSLContext | None = None,
    ) -> Peer:
        """Register a new socket with the core; `full` refuses it (no reader will run). With
        `tls`, the socket speaks TLS (a tls:// listener's)."""
        user = None
        if sock.family == socket.AF_UNIX:
            user = peer_user(sock)
            label, ip = f"unix:{user or '?'}", None
        else:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            label, ip = peer_of(addr)
        session = None if tls is None else TlsSession(tls)
        peer = Peer(self, sock, label, has_reader=not full, tls=session)
        with self.lock:
            self.peers.add(peer)
            peer.conn = self.hub.open(peer, label, address=ip, full=full, local_user=user)
        return peer

    def read_loop(self, peer: Peer) -> None:
        """The reader thread's whole life: feed the core until EOF, then close the socket."""
        sock = peer.sock
        try:
            # Closed or shutting down: stop, even if the peer keeps sending.
            while not peer.writer_done and not self._stopping.is_set():
                if not peer.may_read.is_set():
                    peer.may_read.wait(0.5)  # resumed by the core, or woken to finish
                    continue
                try:
                    data = sock.recv(READ_SIZE)
                except OSError:
                    self._lost(peer, reset=True)
                    return
                if not data:
                    self._lost(peer, reset=False)
                    return
                if peer.tls is not None:
                    plain = self._decrypt(peer, data)
                    if plain is None:
                        return
                    if not plain:
                        continue
                    data = plain
                with self.lock:
                    self.hub.receive(peer.conn, data)
                    batch = self._requested if self._pending else 0
                if batch:
                    self._wait_flushed(batch)
        finally:
            peer.finished.wait(CLOSE_LINGER + 2.0)  # the writer flushes, then shuts it down
            self._close(peer)

    def _decrypt(self, peer: Peer, data: bytes) -> bytes | None:
        """Raw bytes through the peer's TLS layer: the plaintext they complete; None when TLS
        failed (the peer is then lost). Records to answer (the handshake's) go to the
        writer, which writes every record in the order the layer made them."""
        assert peer.tls is not None
        with peer.tls_lock:
            try:
                plain = peer.tls.receive(data)
            except TlsFailed as exc:
                log.info("tls from %s failed: %s", peer.label, exc)
                plain = None
            wants_write = peer.tls.wants_write
        if plain is None:
            self._lost(peer, reset=True)
            return None
        if wants_write:
            with self.lock:
                self.request_flush(peer)
        return plain

    def _encrypt(self, peer: Peer, data: bytes) -> bytes:
        """What to write for `data` on a TLS peer (every record waiting, in order)."""
        assert peer.tls is not None
        with peer.tls_lock:
            try:
                return peer.tls.send(data)
            except TlsFailed:
                peer.conn.reset = True  # nothing more can be said: cut it
                return b""

    def _lost(self, peer: Peer, *, reset: bool) -> None:
        with self.lock:
            self.hub.lost(peer.conn, reset=reset)

    def _wait_flushed(self, batch: int) -> None:
        with self._flushed:
            self._flushed.wait_for(lambda: self._done >= batch or self._stopping.is_set(), 1.0)

    def _close(self, peer: Peer) -> None:
        if peer.cut:
            reset(peer.sock)
        with contextlib.suppress(OSError):
            peer.sock.close()
        with self.lock:
            self.peers.discard(peer)

    # ------------------------------------------------------------------ called under the lock

    def request_flush(self, peer: Peer) -> None:
        if not self._pending:
            self._requested += 1
            with contextlib.suppress(BlockingIOError):
                self._wake_w.send(b"\0")
        self._pending.append(peer)

    # ------------------------------------------------------------------ the writer thread

    def _write_loop(self) -> None:
        # The only writer: if a pass fails unexpectedly, log it and go on rather than let
        # every connection's output stop with this thread.
        while True:
            try:
                if self._write_pass():
                    return
            except Exception:
                log.exception("writer pass failed; continuing")
                time.sleep(0.01)

    def _write_pass(self) -> bool:
        """One select-and-write pass; True once stopping and nothing is left to take."""
        timeout: float | None = None
        timeout = self._lingering.wait()
        if self._stopping.is_set():
            timeout = 0.05 if timeout is None else min(timeout, 0.05)
        ready: dict[Peer, None] = {}
        for key, _ in self._sel.select(timeout):
            if key.data is _WAKE:
                with contextlib.suppress(BlockingIOError):
                    while self._wake_r.recv(4096):
                        pass
            else:
                ready[key.data] = None
        cuts: list[tuple[Peer, bytes]] = []
        with self.lock:
            batch, self._pending = self._pending, []
            number = self._requested
            for peer in batch:
                data = peer.conn.take_output()
                if peer.tls is not None and not peer.writer_done:
                    data = self._encrypt(peer, data)
                if peer.conn.reset and not peer.writer_done:
                    cuts.append((peer, data))
                    continue
                if data and not peer.writer_done:
                    peer.out.data += data
                # Read with take_output, under the lock: the core may close the
                # connection (and queue a last frame) while _write runs.
                peer.closing = peer.conn.finished
                ready[peer] = None
        for peer, data in cuts:
            ready.pop(peer, None)
            self._cut(peer, data)
        self._write(list(ready))
        with self._flushed:
            self._done = number
            self._flushed.notify_all()
        for peer in self._lingering.expired():
            peer.cut = True
            self._finish(peer)
        if self._stopping.is_set() and not self._pending:
            with self.lock:
                if not self._pending:
                    return True
        return False

    def _cut(self, peer: Peer, data: bytes) -> None:
        """A slow consumer: the error frame only if nothing is half sent, then a reset."""
        if not peer.out and data:
            with contextlib.suppress(OSError):
                peer.sock.send(data, socket.MSG_DONTWAIT)
        peer.cut = True
        self._finish(peer)

    def _write(self, peers: list[Peer]) -> None:
        backlog: list[Peer] = []
        for peer in peers:
            if peer.writer_done:
                continue
            if peer.out:
                try:
                    peer.out.write(peer.sock)
                except OSError:
                    peer.out.clear()
                    self._lost(peer, reset=True)
                    self._finish(peer)
                    continue
            if peer.closing:
                if not peer.out:
                    self._finish(peer)
                    continue
                self._lingering.start(peer)
            elif peer.out or peer.conn.unsent:
                backlog.append(peer)  # report every write to a connection with a backlog
            self._watch(peer)
        if backlog:
            with self.lock:  # may drop slow consumers, which queues them for the next batch
                for peer in backlog:
                    self.hub.check_backlog(peer.conn, len(peer.out))

    def _watch(self, peer: Peer) -> None:
        want = selectors.EVENT_WRITE if peer.out and not peer.writer_done else 0
        if want == peer.events:
            return
        if want:
            self._sel.register(peer.sock, want, peer)
        else:
            self._sel.unregister(peer.sock)
        peer.events = want

    def _finish(self, peer: Peer) -> None:
        """The writer is done with `peer`: shut the socket down, which also wakes its reader."""
        if peer.writer_done:
            return
        peer.writer_done = True
        peer.out.clear()
        self._watch(peer)
        self._lingering.discard(peer)
        if peer.cut:
            reset(peer.sock)
        else:
            discard_input(peer.sock)
        with contextlib.suppress(OSError):
            peer.sock.shutdown(socket.SHUT_RDWR)
        peer.may_read.set()
        peer.finished.set()
        if not peer.has_reader:
            self._close(peer)

    # ------------------------------------------------------------------ timers and shutdown

    def _tick_loop(self) -> None:
        """The core's timers, and the results other threads hand back (`Hub.settle`)."""
        next_tick = time.monotonic() + TICK
        while not self._stopping.is_set():
            self._kick.wait(max(0.0, next_tick - time.monotonic()))
            self._kick.clear()
            if self._stopping.is_set():
                break
            try:
                with self.lock:
                    self.hub.settle()
                    now = time.monotonic()
                    if now >= next_tick:
                        next_tick = now + TICK
                        self.hub.tick()
            except Exception:  # the timers of every connection: log, never stop them
                log.exception("tick failed; continuing")

    def shutdown(self) -> None:
        """`bye` to everyone, wait for the sockets to close (at most CLOSE_LINGER), then cut."""
        with self.lock:
            self.hub.shutdown()
        deadline = shutdown_deadline()
        while time.monotonic() < deadline:
            with self.lock:
                if not self.peers:
                    break
            time.sleep(0.02)
        with self.lock:
            remaining = list(self.peers)
        for peer in remaining:  # wakes their readers, which close the sockets
            peer.cut = True
            with contextlib.suppress(OSError):
                peer.sock.shutdown(socket.SHUT_RDWR)
            peer.may_read.set()
            peer.finished.set()
        self._stopping.set()
        self._kick.set()
        with self._flushed:  # readers waiting for the writer need not wait out their timeout
            self._flushed.notify_all()
        with contextlib.suppress(BlockingIOError):
            self._wake_w.send(b"\0")
        for thread in self._threads:
            thread.join(2.0)
        self._sel.close()
        self._wake_r.close()
        self._wake_w.close()


def block_stop_signals() -> None:
    """Call before starting any thread: SIGINT/SIGTERM (and SIGHUP) then wait for
    `wait_for_stop_signal`."""
    signal.pthread_sigmask(signal.SIG_BLOCK, SERVING_SIGNALS)


def wait_for_stop_signal(core: ThreadedCore, reload: Callable[[], None]) -> None:
    """Wait for SIGINT or SIGTERM; on each SIGHUP meanwhile, run `reload` under the lock."""
    while signal.sigwait(SERVING_SIGNALS) == signal.SIGHUP:
        with core.lock:
            reload()
    log.info("shutting down")
