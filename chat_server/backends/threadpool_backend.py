"""The threadpool backend: one pooled worker thread per connection, blocking reads.

An acceptor thread hands each new socket to a `ThreadPoolExecutor` worker that reads it for
the connection's whole life. The pool never queues a client: when every worker is busy the
newcomer gets the fatal `server_full` error and is closed. Writes go through the shared writer
thread of `_threaded`, so a slow reader on the other end never holds up a worker.
"""

from __future__ import annotations

import contextlib
import logging
import selectors
import socket
import ssl
import threading
from concurrent.futures import ThreadPoolExecutor

from chat_server.backends._threaded import (
    THREAD_STACK,
    Peer,
    ThreadedCore,
    block_stop_signals,
    wait_for_stop_signal,
)
from chat_server.backends.base import ServeOptions
from chat_server.backends.lifecycle import Acceptor, peer_of
from chat_server.core import Hub
from chat_server.listeners import Listener

log = logging.getLogger("chat_server")


class _Acceptor:
    """Accepts connections and gives each a worker, or a refusal when none is free."""

    def __init__(
        self,
        core: ThreadedCore,
        listeners: list[Listener],
        workers: int,
        tls: ssl.SSLContext | None,
    ) -> None:
        self.core = core
        self.listeners = listeners
        self.acceptors = [Acceptor(listener.sock, batch=1) for listener in listeners]
        self.tls = tls
        self.workers = workers
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="chat-worker")
        self.busy = 0  # workers running a connection (guarded by busy_lock)
        self.busy_lock = threading.Lock()
        self.stop_r, self.stop_w = socket.socketpair()
        self.thread = threading.Thread(target=self.run, name="chat-acceptor", daemon=True)

    def run(self) -> None:
        with selectors.DefaultSelector() as sel:
            for listener, acceptor in zip(self.listeners, self.acceptors, strict=True):
                sel.register(listener.sock, selectors.EVENT_READ, (listener, acceptor))
            sel.register(self.stop_r, selectors.EVENT_READ)
            while True:
                for key, _ in sel.select():
                    if key.fileobj is self.stop_r:
                        return
                    listener, acceptor = key.data
                    tls = self.tls if listener.kind == "tls" else None
                    for sock, addr in acceptor.accept():
                        self.start(sock, addr, tls)

    def start(self, sock: socket.socket, addr: object, tls: ssl.SSLContext | None) -> None:
        sock.setblocking(True)
        with self.busy_lock:
            full = self.busy >= self.workers
            if not full:
                self.busy += 1
        if full:
            log.warning("refusing %s: all %d workers are busy", peer_of(addr)[0], self.workers)
            self.core.open(sock, addr, full=True)  # the writer sends the error and closes it
            return
        peer = self.core.open(sock, addr, tls=tls)
        self.pool.submit(self.serve_one, peer)

    def serve_one(self, peer: Peer) -> None:
        try:
            self.core.read_loop(peer)
        except Exception:
            log.exception("reader of %s failed", peer.label)
        finally:
            with self.busy_lock:
                self.busy -= 1

    def stop(self) -> None:
        self.stop_w.send(b"\0")
        self.thread.join(5.0)
        for acceptor in self.acceptors:
            acceptor.close()
        self.stop_r.close()
        self.stop_w.close()


def serve(hub: Hub, options: ServeOptions) -> None:
    """Serve until SIGINT/SIGTERM with `options.workers` pooled readers, then shut down."""
    block_stop_signals()
    threading.stack_size(THREAD_STACK)
    listeners = options.open_listeners()
    for listener in listeners:
        listener.sock.setblocking(False)
    core = ThreadedCore(hub)
    acceptor = _Acceptor(core, listeners, options.workers, options.tls)
    try:
        core.start()
        acceptor.thread.start()
        log.info("threadpool backend with %d workers", options.workers)
        options.announce(listeners)
        wait_for_stop_signal(core, options.reload)
        acceptor.stop()
        for listener in listeners:
            listener.close()
        core.shutdown()
        acceptor.pool.shutdown(wait=True, cancel_futures=True)
    finally:
        for listener in listeners:
            with contextlib.suppress(OSError):
                listener.close()
