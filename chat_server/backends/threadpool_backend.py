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

log = logging.getLogger("chat_server")


class _Acceptor:
    """Accepts connections and gives each a worker, or a refusal when none is free."""

    def __init__(self, core: ThreadedCore, listener: socket.socket, workers: int) -> None:
        self.core = core
        self.listener = listener
        self.acceptor = Acceptor(listener, batch=1)
        self.workers = workers
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="chat-worker")
        self.busy = 0  # workers running a connection (guarded by busy_lock)
        self.busy_lock = threading.Lock()
        self.stop_r, self.stop_w = socket.socketpair()
        self.thread = threading.Thread(target=self.run, name="chat-acceptor", daemon=True)

    def run(self) -> None:
        with selectors.DefaultSelector() as sel:
            sel.register(self.listener, selectors.EVENT_READ)
            sel.register(self.stop_r, selectors.EVENT_READ)
            while True:
                for key, _ in sel.select():
                    if key.fileobj is self.stop_r:
                        return
                    self.accept()

    def accept(self) -> None:
        for sock, addr in self.acceptor.accept():
            self.start(sock, addr)

    def start(self, sock: socket.socket, addr: object) -> None:
        sock.setblocking(True)
        with self.busy_lock:
            full = self.busy >= self.workers
            if not full:
                self.busy += 1
        if full:
            log.warning("refusing %s: all %d workers are busy", peer_of(addr)[0], self.workers)
            self.core.open(sock, addr, full=True)  # the writer sends the error and closes it
            return
        peer = self.core.open(sock, addr)
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
        self.acceptor.close()
        self.stop_r.close()
        self.stop_w.close()


def serve(hub: Hub, options: ServeOptions) -> None:
    """Serve until SIGINT/SIGTERM with `options.workers` pooled readers, then shut down."""
    block_stop_signals()
    threading.stack_size(THREAD_STACK)
    listener = socket.create_server((options.host, options.port), backlog=options.backlog)
    listener.setblocking(False)
    core = ThreadedCore(hub)
    acceptor = _Acceptor(core, listener, options.workers)
    try:
        core.start()
        acceptor.thread.start()
        host, port = listener.getsockname()[:2]
        log.info("threadpool backend with %d workers", options.workers)
        options.ready(host, port)
        wait_for_stop_signal()
        acceptor.stop()
        listener.close()
        core.shutdown()
        acceptor.pool.shutdown(wait=True, cancel_futures=True)
    finally:
        with contextlib.suppress(OSError):
            listener.close()
