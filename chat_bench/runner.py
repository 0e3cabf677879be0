"""Servers under test as child processes: start, pin to a CPU, measure, and stop them."""

from __future__ import annotations

import atexit
import contextlib
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field

from chat_server.backends import BACKENDS
from chat_server.backends.base import DEFAULT_WORKERS

#: CPU the server under test runs on, and CPU of the load generator and of chat-bench itself.
SERVER_CPU = 0
LOAD_CPU = 1
BASELINES = ("naive", "redis")
#: Stores a chat_server can keep its rooms in (`--stores`); `memory` is the default.
#: What a chat server runs on: its store, or `tls` (the memory store over TLS, a certificate of
#: its own made at start: the cost of encryption, against plain TCP in the same run), or `unix`
#: (the memory store on a Unix socket: what local clients get, against TCP loopback).
STORES = ("memory", "sqlite", "tls", "unix")
_CLK_TCK = os.sysconf("SC_CLK_TCK")


class ServerFailed(RuntimeError):
    """The server did not start, or died while it was measured."""


def registered_backends() -> list[str]:
    """Every backend in chat_server's registry, in registry order."""
    return list(BACKENDS)


def server_label(backend: str, store: str = "memory") -> str:
    """How results name a server: `asyncio` on the memory store, `asyncio+sqlite` on SQLite."""
    return backend if store == "memory" else f"{backend}+{store}"


def split_label(label: str) -> tuple[str, str]:
    """`server_label` undone: (backend, store)."""
    backend, plus, store = label.partition("+")
    return (backend, store) if plus else (label, "memory")


def redis_available() -> bool:
    return shutil.which("redis-server") is not None


def can_pin() -> bool:
    """True when the machine has the two CPUs the bench pins to and lets us pin."""
    try:
        cpus = os.sched_getaffinity(0)
    except OSError:
        return False
    return {SERVER_CPU, LOAD_CPU} <= cpus


def pin_self(cpu: int) -> bool:
    with contextlib.suppress(OSError):
        os.sched_setaffinity(0, {cpu})
        return True
    return False


#: chat-bench itself shares the load CPU with the generator; it yields to it at this niceness.
BENCH_NICE = 10


def lower_own_priority() -> None:
    """Make chat-bench yield its CPU to the generator (its children restore their own)."""
    with contextlib.suppress(OSError):
        os.setpriority(os.PRIO_PROCESS, 0, BENCH_NICE)


def normal_priority() -> None:
    """Undo an inherited `lower_own_priority` (needs the right to raise priority, e.g. root)."""
    with contextlib.suppress(OSError):
        os.setpriority(os.PRIO_PROCESS, 0, 0)


def raise_nofile() -> int:
    """Raise the soft open-files limit to the hard one (inherited by children); the new soft."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft < hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
    return soft


#: An empty config directory for the servers under test (no wirechat.toml to find).
_EMPTY_CONFIG = tempfile.mkdtemp(prefix="chat-bench-config-")
atexit.register(shutil.rmtree, _EMPTY_CONFIG, ignore_errors=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class ServerProc:
    """One server under test: a chat_server backend, or a baseline (`naive`, `redis`).

    A chat_server keeps its store in memory (`--db :memory:`) or, for `store="sqlite"`, in a
    fresh database file in a temporary directory that `stop` removes, unless `db` names an
    existing database to open (which is left in place).
    """

    name: str
    max_outbuf: int | None = None
    store: str = "memory"
    db: str | None = None
    pin: bool = True
    # Connections the run will hold at once: the threadpool backend gets a worker for each
    # (its default pool of 512 would refuse the rest as server_full, by design).
    capacity: int = 0
    host: str = "127.0.0.1"
    port: int = 0
    proc: subprocess.Popen[bytes] | None = None
    pinned: bool = False
    start_s: float = 0.0  # from spawning the process until it accepted a connection
    _db_dir: str | None = field(default=None, repr=False)
    _log: tempfile._TemporaryFileWrapper[bytes] | None = field(default=None, repr=False)

    @property
    def unix_path(self) -> str:
        """Where a `unix` server listens: in a directory of its own, removed by `stop`."""
        if self._db_dir is None:
            self._db_dir = tempfile.mkdtemp(prefix="chat-bench-unix-")
        return os.path.join(self._db_dir, "chat.sock")

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    @property
    def kind(self) -> str:
        return self.name if self.name in BASELINES else "chat"

    @property
    def label(self) -> str:
        return self.name if self.kind != "chat" else server_label(self.name, self.store)

    def _db_args(self) -> list[str]:
        db = self.db
        if db is None and self.store in ("memory", "tls", "unix"):
            return ["--db", ":memory:"]
        if db is None and self.store != "sqlite":
            raise ServerFailed(f"unknown store {self.store!r} (known: {', '.join(STORES)})")
        if db is None:
            if self._db_dir is None:
                self._db_dir = tempfile.mkdtemp(prefix="chat-bench-db-")
            db = os.path.join(self._db_dir, "bench.db")
        return ["--db", db, "--durability", "normal"]

    def command(self) -> list[str]:
        port = str(self.port)
        if self.name == "redis":
            exe = shutil.which("redis-server") or "redis-server"
            return [
                exe,
                *("--port", port, "--bind", self.host, "--save", "", "--appendonly", "no"),
                *("--protected-mode", "no", "--maxclients", "15000", "--loglevel", "warning"),
            ]
        if self.name == "naive":
            return [sys.executable, "-m", "chat_bench.naive", "--host", self.host, "--port", port]
        cmd = [sys.executable, "-m", "chat_server", "--backend", self.name]
        if self.store == "tls":
            cmd += ["--listen", f"tls://{self.host}:{port}", "--tls-self-signed"]
        elif self.store == "unix":
            cmd += ["--listen", f"unix://{self.unix_path}"]
        else:
            cmd += ["--host", self.host, "--port", port]
        cmd += ["--log-level", "warning"]
        cmd += self._db_args()
        if self.max_outbuf is not None:
            cmd += ["--max-outbuf", str(self.max_outbuf)]
        if self.name == "threadpool" and self.capacity > DEFAULT_WORKERS:
            cmd += ["--workers", str(self.capacity + 64)]
        return cmd

    def start(self, timeout: float = 15.0, poll: float = 0.05) -> ServerProc:
        """Spawn the server and wait (every `poll` seconds) until it accepts a connection."""
        self.port = free_port()
        cmd = self.command()
        if self.pin and shutil.which("taskset"):
            cmd = ["taskset", "-c", str(SERVER_CPU), *cmd]
        self._log = tempfile.NamedTemporaryFile(prefix="chat-bench-", suffix=".log")  # noqa: SIM115 (closed in stop)
        # No settings file or WIRECHAT_* variable of the caller's: the server under test runs
        # on the flags given here only.
        env = {k: v for k, v in os.environ.items() if not k.startswith("WIRECHAT_")}
        env["PYTHONUNBUFFERED"] = "1"
        if self.kind == "chat":
            env["XDG_CONFIG_HOME"] = _EMPTY_CONFIG
        if self.store == "tls":  # the self-signed certificate is made in a directory of its own
            if self._db_dir is None:
                self._db_dir = tempfile.mkdtemp(prefix="chat-bench-tls-")
            env["XDG_DATA_HOME"] = self._db_dir
        spawned = time.monotonic()
        self.proc = subprocess.Popen(
            cmd, stdin=subprocess.DEVNULL, stdout=self._log, stderr=self._log, env=env
        )
        with contextlib.suppress(OSError):
            os.setpriority(os.PRIO_PROCESS, self.proc.pid, 0)
        if self.pin:
            with contextlib.suppress(OSError):
                os.sched_setaffinity(self.proc.pid, {SERVER_CPU})
            with contextlib.suppress(OSError):
                self.pinned = os.sched_getaffinity(self.proc.pid) == {SERVER_CPU}
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise ServerFailed(f"{self.name} exited with {self.proc.returncode}: {self.log()}")
            try:
                if self.store == "unix":
                    with socket.socket(socket.AF_UNIX) as probe:
                        probe.settimeout(0.5)
                        probe.connect(self.unix_path)
                else:
                    with socket.create_connection((self.host, self.port), timeout=0.5):
                        pass
                self.start_s = time.monotonic() - spawned
                return self
            except OSError:
                time.sleep(poll)
        self.stop()
        raise ServerFailed(f"{self.name} did not accept connections within {timeout:g}s")

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log(self, limit: int = 2000) -> str:
        if self._log is None:
            return ""
        self._log.flush()
        with open(self._log.name, "rb") as fh:
            text = fh.read().decode(errors="replace").strip()
        return text[-limit:]

    def rss_kib(self) -> int:
        """Resident memory (VmRSS) in KiB."""
        with open(f"/proc/{self.pid}/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        raise ServerFailed(f"{self.name}: no VmRSS")

    def fd_count(self) -> int:
        return len(os.listdir(f"/proc/{self.pid}/fd"))

    def cpu_seconds(self) -> float:
        return process_cpu(self.pid)

    def sched(self) -> Sched:
        return Sched.of(self.pid)

    def stop(self, timeout: float = 10.0) -> None:
        proc = self.proc
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        if self._log is not None:
            self._log.close()
            self._log = None
        if self._db_dir is not None:
            shutil.rmtree(self._db_dir, ignore_errors=True)
            self._db_dir = None


@dataclass
class Sched:
    """A process's scheduler counters at one moment, per thread, to take differences of.

    Summing live threads alone would lose the time of threads that end in between (the thread
    backends start and end a thread per connection), and a difference could even come out
    negative: `since` takes the CPU time of the whole process from /proc/PID/stat instead
    (exited threads included, in clock ticks) whenever threads went away.
    """

    cpu: dict[str, int]  # thread id -> CPU nanoseconds
    wait: dict[str, int]  # thread id -> nanoseconds runnable but waiting for a CPU
    total: float  # CPU seconds of the whole process, exited threads included

    @classmethod
    def of(cls, pid: int) -> Sched:
        total = process_cpu(pid)
        cpu: dict[str, int] = {}
        wait: dict[str, int] = {}
        with contextlib.suppress(OSError):
            for tid in os.listdir(f"/proc/{pid}/task"):
                try:
                    with open(f"/proc/{pid}/task/{tid}/schedstat") as fh:
                        fields = fh.read().split()
                except OSError:
                    continue  # a thread that just ended
                cpu[tid] = int(fields[0])
                wait[tid] = int(fields[1])
        return cls(cpu, wait, total)

    def since(self, earlier: Sched) -> tuple[float, float]:
        """(CPU seconds, seconds waiting for a CPU) from `earlier` to this snapshot. The wait
        of threads that ended in between is not known: then it is a lower bound."""
        wait = sum(max(0, w - earlier.wait.get(tid, 0)) for tid, w in self.wait.items())
        live = sum(max(0, c - earlier.cpu.get(tid, 0)) for tid, c in self.cpu.items()) / 1e9
        whole = self.total - earlier.total
        # The whole-process figure is exact to a clock tick at either end; beyond that, it
        # holds time of threads that ended (or came and went) in between.
        lost = earlier.cpu.keys() - self.cpu.keys() or whole > live + 2 / _CLK_TCK
        return (max(live, whole) if lost else live), wait / 1e9


def process_sched(pid: int) -> tuple[float, float]:
    """(CPU seconds, seconds spent runnable but waiting for a CPU) of a process's threads.

    From /proc/PID/task/*/schedstat. The wait matters on a shared machine: a server that was
    runnable all the time was saturated even if other work on its CPU took some of it.
    """
    cpu = wait = 0
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return process_cpu(pid), 0.0
    for tid in tasks:
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat") as fh:
                fields = fh.read().split()
        except OSError:
            continue  # a thread that just ended
        cpu += int(fields[0])
        wait += int(fields[1])
    return cpu / 1e9, wait / 1e9


def process_cpu(pid: int) -> float:
    """User plus system CPU seconds of a whole process (all its threads)."""
    with open(f"/proc/{pid}/stat") as fh:
        stat = fh.read()
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / _CLK_TCK
