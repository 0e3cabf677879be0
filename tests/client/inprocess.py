"""A wirechat server inside the test process: the asyncio backend on a thread of its own.

`InProcessServer` stands in for `tests.helpers.ServerProcess` where a test only needs a server
to talk to: start(), stop(), restart() on the same port, and the host/port attributes. It runs
`serve_async` under `asyncio.run` on its own thread, so its event loop is never the test's
(the Textual pilot's or pytest-asyncio's), and it costs no interpreter start-up.

What it does not stand in for: anything about the server as a process (signals, exit codes,
a crash, descriptor limits, its log on stderr). Tests of those keep ServerProcess.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import resource
import threading
import time
from dataclasses import replace

from chat_server.backends.asyncio_backend import serve_async
from chat_server.backends.base import ServeOptions
from chat_server.backends.lifecycle import clients_allowed
from chat_server.cli import build_parser, check_config, config_from, store_from
from chat_server.core import CoreConfig, Hub
from chat_server.core.interfaces import Store


class _Run:
    """One life of the server: a Hub, a thread, and the loop running on it."""

    def __init__(self, hub: Hub, options: ServeOptions) -> None:
        self.hub = hub
        self.options = options
        self.options.ready = self._ready
        self.address: tuple[str, int] | None = None
        self.ready = threading.Event()  # set once listening, or once the thread has ended
        self.loop: asyncio.AbstractEventLoop | None = None
        self.stop: asyncio.Event | None = None
        self.error: BaseException | None = None
        self.thread = threading.Thread(
            target=self._main, name=f"chat-server:{options.port}", daemon=True
        )

    def _ready(self, host: str, port: int) -> None:
        self.address = (host, port)
        self.ready.set()

    def _main(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as exc:  # reported by start() or stop() on the test's thread
            self.error = exc
        finally:
            self.ready.set()

    async def _serve(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.stop = asyncio.Event()
        await serve_async(self.hub, self.options, self.stop)

    def request_stop(self) -> None:
        """Set `stop` on the server's loop (its graceful shutdown, as on SIGTERM)."""
        if self.loop is None or self.stop is None:
            return
        # The loop may have closed since (the server failed): then there is nothing to stop.
        with contextlib.suppress(RuntimeError):
            self.loop.call_soon_threadsafe(self.stop.set)


class InProcessServer:
    """The asyncio backend on an ephemeral loopback port, in this process.

    `args` are chat-server flags (`--max-clients 3`, `--password pw`), parsed by the CLI's own
    parser and turned into a CoreConfig and a store as the CLI does, so they mean the same as
    for `python -m chat_server`. Without `--db` the server keeps nothing (`--db :memory:`):
    every start builds a new Hub, so a restart is a fresh server (a new `instance`, ids from 1,
    no rooms, nicks or accounts). With `--db PATH` a restart reopens that database: the same
    `instance`, ids going on, rooms and accounts kept, as a real restart of it is."""

    def __init__(self, backend: str = "asyncio", *args: str) -> None:
        if backend != "asyncio":
            raise ValueError(f"in process only the asyncio backend runs, not {backend!r}")
        self.backend = backend
        self.args = args if "--db" in args else ("--db", ":memory:", *args)
        self.host = "127.0.0.1"
        self.port = 0
        self.hub: Hub | None = None  # the running server's core, for inspection
        self._run: _Run | None = None

    def start(self, port: int | None = None, timeout: float = 15.0) -> InProcessServer:
        """Start and wait until it listens. Without `port`, reuse the last one (0 at first);
        the listener sets SO_REUSEADDR, so the port of a stopped server is free at once, but a
        port still taken is retried until `timeout`, as ServerProcess does."""
        if self._run is not None:
            raise RuntimeError("already running")
        if port is not None:
            self.port = port
        deadline = time.monotonic() + timeout
        while True:
            config, options, store = self._parsed()
            run = _Run(Hub(config, backend=self.backend, store=store), options)
            run.thread.start()
            # Every attempt gets a moment to report, even one begun just before the deadline.
            if not run.ready.wait(max(0.5, deadline - time.monotonic())):
                run.request_stop()
                run.thread.join(5)
                raise RuntimeError(f"server did not start within {timeout}s")
            if run.address is not None:
                break
            run.thread.join(5)
            run.hub.store.close()
            taken = isinstance(run.error, OSError) and run.error.errno == errno.EADDRINUSE
            if not taken or time.monotonic() > deadline:
                raise RuntimeError(f"server did not start: {run.error!r}") from run.error
            time.sleep(0.05)
        self.host, self.port = run.address
        self.hub = run.hub
        self._run = run
        return self

    def _parsed(self) -> tuple[CoreConfig, ServeOptions, Store]:
        argv = ["--backend", self.backend, "--host", self.host, "--port", str(self.port)]
        try:
            args = build_parser().parse_args([*argv, *self.args])
        except SystemExit:  # argparse has printed why; a test must fail, not end the run
            raise ValueError(f"bad server flags: {self.args}") from None
        config = config_from(args)
        problem = check_config(config)
        if problem is not None:
            raise ValueError(problem)
        # The CLI raises the open-files limit, then lowers --max-clients to what fits. The test
        # process's limit is left alone: --max-clients is fitted to it as it is.
        soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft != resource.RLIM_INFINITY and config.max_clients > clients_allowed(soft):
            config = replace(config, max_clients=clients_allowed(soft))
        return config, ServeOptions(host=args.host, port=args.port), store_from(args)

    def restart(self) -> InProcessServer:
        """Stop, then start again on the same port (without `--db`, a fresh server: new ids,
        no rooms; with it, the same database)."""
        self.stop()
        return self.start()

    def stop(self, timeout: float = 10.0) -> int:
        """Shut down gracefully (`bye` to every client, as on SIGTERM) and wait for the thread.
        Returns 0, as a server process exiting cleanly would; raises if the server failed."""
        run, self._run = self._run, None
        if run is None:
            return 0
        self.hub = None
        run.request_stop()
        run.thread.join(timeout)
        if run.thread.is_alive():
            raise RuntimeError(f"server did not stop within {timeout}s")
        run.hub.store.close()  # the backend closes it on shutdown; this is for a failed run
        if run.error is not None:
            raise RuntimeError(f"server failed: {run.error!r}") from run.error
        return 0
