"""The scenarios as seen from chat-bench: start a server, drive workers, measure, check."""

from __future__ import annotations

import contextlib
import getpass
import multiprocessing
import statistics
import time
from array import array
from dataclasses import dataclass, field, replace
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import TYPE_CHECKING, Any

from chat_bench import wire
from chat_bench.loadgen import Job, worker_main
from chat_bench.results import DISTURBED, RunResult
from chat_bench.runner import ServerFailed, ServerProc, process_sched, split_label

if TYPE_CHECKING:
    from chat_bench.store import Databases

#: A server using this share of its core is saturated: the run measured the server.
SATURATED = 0.85
#: Otherwise, a generator using this share of its core was the bottleneck: the run is invalid.
GEN_BUSY = 0.8
#: Seconds given to a server after a churn run, once its descriptors are back, before its
#: memory is read again.
SETTLE = 1.5


@dataclass
class Settings:
    """Options that shape every run (from the command line)."""

    duration: float = 3.0
    publishers: int = 4
    window: int = 128
    rate: float = 20_000.0  # latency: offered deliveries per second (messages/s = rate / N)
    concurrency: int = 32
    room_size: int = 10
    probes: int = 20
    workers: int = 1
    max_outbuf: int | None = None
    observer_rate: float = 50.0  # flood: messages per second each observer says
    observer_rooms: int = 3  # flood: rooms the observers are spread over
    flooder_address: str = "127.0.0.2"  # flood: the flooder's source address (not exempt)
    flood_rounds: int = 2  # flood: alternations of a slice alone and a slice with a flooder
    store_messages: int = 1_000_000  # store: messages in the database's one room
    store_pages: int = 200  # store: `history` pages read back from the newest
    store_page_size: int = 50  # store: `history.limit`
    store_queries: int = 100  # store: `search` requests of one or two words
    store_results: int = 20  # store: `search.limit`
    pin: bool = True


class RunFailed(Exception):
    """The run is wrong: lost, duplicated or refused messages, or a broken worker."""


class Workers:
    """Load generator processes for one run, and the phases chat-bench walks them through."""

    def __init__(self, jobs: list[Job]) -> None:
        ctx = multiprocessing.get_context("spawn")
        self.pipes: list[Connection] = []
        self.procs: list[BaseProcess] = []
        for job in jobs:
            ours, theirs = ctx.Pipe()
            proc = ctx.Process(target=worker_main, args=(theirs, job), daemon=True)
            proc.start()
            theirs.close()
            self.pipes.append(ours)
            self.procs.append(proc)

    def send(self, kind: str, **body: Any) -> None:
        for pipe in self.pipes:
            pipe.send((kind, body))

    def collect(self, kind: str, timeout: float) -> list[dict[str, Any]]:
        """One `kind` message from every worker, or RunFailed."""
        deadline = time.monotonic() + timeout
        out = []
        for i, pipe in enumerate(self.pipes):
            left = deadline - time.monotonic()
            if left <= 0 or not pipe.poll(left):
                raise RunFailed(f"load generator {i} sent no {kind} within {timeout:g}s")
            try:
                got, body = pipe.recv()
            except (EOFError, OSError):
                raise RunFailed(f"load generator {i} died") from None
            if got == "error":
                raise RunFailed(f"load generator {i}: {body['error']}")
            if got != kind:
                raise RunFailed(f"load generator {i} sent {got}, expected {kind}")
            out.append(body)
        return out

    def sched(self) -> tuple[float, float]:
        """CPU and run-queue wait seconds of all workers so far."""
        cpu = wait = 0.0
        for proc in self.procs:
            if proc.pid is not None and proc.is_alive():
                with contextlib.suppress(OSError):
                    c, w = process_sched(proc.pid)
                    cpu += c
                    wait += w
        return cpu, wait

    def close(self) -> None:
        for proc in self.procs:
            proc.join(5)
            if proc.is_alive():
                proc.kill()
                proc.join(5)
        for pipe in self.pipes:
            pipe.close()


def _split(items: list[int], parts: int) -> list[list[int]]:
    return [items[i::parts] for i in range(parts)]


def _jobs(settings: Settings, base: Job, members: list[int]) -> list[Job]:
    parts = max(1, min(settings.workers, len(members) or 1))
    return [
        replace(base, worker=w, workers=parts, members=chunk)
        for w, chunk in enumerate(_split(members, parts))
    ]


class Usage:
    """CPU use of the server and of the generator over one measured phase."""

    def __init__(self, server: ServerProc, workers: Workers) -> None:
        self.server = server
        self.workers = workers
        self.t0 = time.monotonic()
        self.srv0 = server.sched()
        self.gen0 = workers.sched()

    def finish(self, result: RunResult) -> None:
        """Record shares of one core: used, and wanted (used plus waiting for the CPU)."""
        wall = time.monotonic() - self.t0
        srv_cpu, srv_wait = self.server.sched().since(self.srv0)
        gen = self.workers.sched()
        result.server_cpu = srv_cpu / wall
        result.gen_cpu = (gen[0] - self.gen0[0]) / wall
        result.server_demand = (srv_cpu + srv_wait) / wall
        result.gen_demand = (gen[0] + gen[1] - self.gen0[0] - self.gen0[1]) / wall


def _mark_bound(result: RunResult) -> None:
    """Invalid when the generator, not the server, ran out of CPU; a note when neither did.

    Judged on demand (CPU used plus time spent waiting for it), so that other work on a shared
    machine taking part of a core does not make a saturated process look idle.
    """
    srv, gen = result.server_demand, result.gen_demand
    if gen is None or srv is None or srv >= SATURATED:
        return
    if gen >= GEN_BUSY:
        result.status = "invalid"
        result.notes.append(
            f"load generator wanted {gen:.0%} of its core, the server only {srv:.0%} of its own: "
            "the generator, not the server, was the bottleneck"
        )
    elif result.scenario in ("fanout", "churn"):
        result.notes.append(
            f"neither the server ({srv:.0%}) nor the generator ({gen:.0%}) wanted a whole core: "
            "round trips or other work on the machine limited this run, so it understates the "
            "server (its CPU per delivery still compares)"
        )


def run(
    scenario: str,
    label: str,
    clients: int,
    repeat: int,
    settings: Settings,
    databases: Databases | None = None,
) -> RunResult:
    """One measurement of the server `label` names (see `runner.server_label`). Never raises
    for a server or run problem: it is in the result.

    The store scenario opens a database of `clients` messages from `databases` (built there
    once and kept for the other servers of the run), or builds its own for this run.
    """
    if scenario == "store":
        from chat_bench import store  # it builds on this module

        return store.run(label, clients, repeat, settings, databases)
    result = RunResult(scenario, label, clients, repeat)
    backend, db_store = split_label(label)
    server = ServerProc(
        backend,
        max_outbuf=settings.max_outbuf,
        store=db_store,
        pin=settings.pin,
        capacity=clients,
    )
    try:
        server.start()
    except (ServerFailed, OSError) as exc:
        server.stop()
        result.status = "unavailable"
        result.error = f"did not start: {exc}"
        return result
    if settings.pin and not server.pinned:
        result.notes.append("server not pinned to a CPU")
    try:
        if scenario in ("fanout", "latency"):
            _room(server, result, settings)
        elif scenario == "idle":
            _idle(server, result, settings)
        elif scenario == "flood":
            _flood(server, result, settings)
        else:
            _churn(server, result, settings)
        if not server.alive():
            raise RunFailed(f"server exited during the run: {server.log()}")
    except RunFailed as exc:
        result.status = "failed"
        result.error = str(exc)
    finally:
        server.stop()
    return result


def _room(server: ServerProc, result: RunResult, settings: Settings) -> None:
    n = result.clients
    publishers = min(settings.publishers, n)
    rate = settings.rate / n  # messages per second offered to the room
    base = Job(
        scenario=result.scenario,
        tls=server.store == "tls",
        unix_path=server.unix_path if server.store == "unix" else "",
        nick_prefix=f"{getpass.getuser()}-" if server.store == "unix" else "",
        kind=server.kind,
        host=server.host,
        port=server.port,
        clients=n,
        publishers=publishers,
        window=settings.window,
        duration=settings.duration,
        rate=rate,
        pin=settings.pin,
    )
    if result.scenario == "latency" and settings.workers == 1 and n > publishers:
        # The sender gets a process of its own, so that reading the room's deliveries never
        # holds up a scheduled send (both processes share the load CPU).
        jobs = [
            replace(base, worker=0, workers=2, members=list(range(publishers))),
            replace(base, worker=1, workers=2, members=list(range(publishers, n))),
        ]
    else:
        jobs = _jobs(settings, base, list(range(n)))
    workers = Workers(jobs)
    try:
        workers.collect("ready", 60 + n * 0.05)
        workers.send("sync")
        workers.collect("synced", 60)
        usage = Usage(server, workers)
        t_start = time.monotonic() + 0.1
        workers.send("go", t_start=t_start)
        sent_parts = workers.collect("sent", settings.duration + 30)
        usage.finish(result)
        sent: dict[int, int] = {}
        for part in sent_parts:
            sent.update(part["sent"])
        workers.send("expect", sent=sent)
        parts = workers.collect("result", 60)
    finally:
        workers.close()
    total = sum(sent.values())
    failures = [f for p in parts for f in p["failures"]]
    orders = {p["order"] for p in parts}
    if len(orders) > 1:
        failures.append("load generators saw different orders of the room's messages")
    order = parts[0]["order"].split(b"\n") if parts[0]["order"] else []
    failures += wire.verify_order(order, sent)
    deliveries = sum(p["deliveries"] for p in parts)
    expected = total * n
    result.metrics["lost"] = expected - deliveries
    if deliveries != expected:
        failures.append(f"{deliveries} deliveries counted, {expected} expected")
    if failures:
        raise RunFailed("; ".join(failures[:5]))
    t_last = max(p["t_last"] for p in parts)
    elapsed = max(t_last - t_start, 1e-9)
    result.metrics["messages"] = total
    result.metrics["deliveries"] = deliveries
    if result.scenario == "fanout":
        result.metrics["deliveries_per_s"] = deliveries / elapsed
        result.metrics["messages_per_s"] = total / elapsed
        # Server CPU per delivery: comparable even when the server was not the bottleneck.
        assert result.server_cpu is not None
        result.metrics["server_us_per_delivery"] = result.server_cpu * elapsed / deliveries * 1e6
        _mark_bound(result)
    else:
        lat = array("d")
        for p in parts:
            lat.frombytes(p["latencies"])
        values = sorted(lat)
        result.metrics["offered_per_s"] = settings.rate
        result.metrics["p50_ms"] = _pct(values, 50) * 1000
        result.metrics["p99_ms"] = _pct(values, 99) * 1000
        result.metrics["p999_ms"] = _pct(values, 99.9) * 1000
        result.metrics["max_ms"] = values[-1] * 1000 if values else 0.0
        result.metrics["send_lag_ms"] = max(p["send_lag"] for p in parts) * 1000
        _mark_bound(result)


def _pct(values: list[float], pct: float) -> float:
    if not values:
        return 0.0
    index = min(len(values) - 1, max(0, round(pct / 100 * len(values) + 0.5) - 1))
    return values[index]


def _idle(server: ServerProc, result: RunResult, settings: Settings) -> None:
    n = result.clients
    time.sleep(0.3)
    rss0 = server.rss_kib()
    base = Job(
        scenario="idle",
        tls=server.store == "tls",
        unix_path=server.unix_path if server.store == "unix" else "",
        nick_prefix=f"{getpass.getuser()}-" if server.store == "unix" else "",
        kind=server.kind,
        host=server.host,
        port=server.port,
        clients=n,
        probes=settings.probes,
        room_size=settings.room_size,
        pin=settings.pin,
    )
    workers = Workers(_jobs(settings, base, list(range(n))))
    try:
        workers.collect("ready", 60 + n * 0.02)
        time.sleep(1.0)
        rss1 = server.rss_kib()
        usage = Usage(server, workers)
        workers.send("probe")
        parts = workers.collect("result", 30 + settings.probes)
        usage.finish(result)
        fds = server.fd_count()
        workers.send("release")
    finally:
        workers.close()
    failures = [f for p in parts for f in p["failures"]]
    if failures:
        raise RunFailed("; ".join(failures[:5]))
    probes = sorted(x for p in parts for x in p["probe_latencies"])
    result.metrics["connections"] = sum(p["connected"] for p in parts)
    result.metrics["server_fds"] = fds
    result.metrics["rss_before_kib"] = rss0
    result.metrics["rss_held_kib"] = rss1
    result.metrics["bytes_per_conn"] = (rss1 - rss0) * 1024 / n
    result.metrics["probe_p50_ms"] = statistics.median(probes) * 1000
    result.metrics["probe_max_ms"] = probes[-1] * 1000


def _churn(server: ServerProc, result: RunResult, settings: Settings) -> None:
    if server.kind == "redis":
        raise RunFailed("churn is not defined for redis")
    slots = result.clients
    base = Job(
        scenario="churn",
        tls=server.store == "tls",
        unix_path=server.unix_path if server.store == "unix" else "",
        nick_prefix=f"{getpass.getuser()}-" if server.store == "unix" else "",
        kind=server.kind,
        host=server.host,
        port=server.port,
        duration=settings.duration,
        pin=settings.pin,
    )
    jobs = [
        replace(base, worker=w, workers=len(chunk), concurrency=len(chunk))
        for w, chunk in enumerate(_split(list(range(slots)), max(1, settings.workers)))
        if chunk
    ]
    workers = Workers(jobs)
    try:
        workers.collect("ready", 60)
        fd0 = _settled_fds(server, None)
        time.sleep(0.5)
        rss0 = server.rss_kib()
        usage = Usage(server, workers)
        workers.send("go")
        parts = workers.collect("result", settings.duration + 60)
        usage.finish(result)
    finally:
        workers.close()
    failures = [f for p in parts for f in p["failures"]]
    if failures:
        raise RunFailed("; ".join(failures[:5]))
    fd1 = _settled_fds(server, fd0)
    time.sleep(SETTLE)
    rss1 = server.rss_kib()
    sessions = sum(p["sessions"] for p in parts)
    elapsed = max(p["elapsed"] for p in parts)
    result.metrics["sessions"] = sessions
    result.metrics["sessions_per_s"] = sessions / elapsed
    result.metrics["fds_before"] = fd0
    result.metrics["fds_after"] = fd1
    result.metrics["leaked_fds"] = max(0, fd1 - fd0)
    result.metrics["rss_before_kib"] = rss0
    result.metrics["rss_after_kib"] = rss1
    result.metrics["rss_change_pct"] = (rss1 - rss0) * 100 / rss0
    if fd1 > fd0:
        raise RunFailed(f"{fd1 - fd0} file descriptors leaked ({fd0} before, {fd1} after)")
    _mark_bound(result)


def _settled_fds(server: ServerProc, target: int | None, timeout: float = 10.0) -> int:
    """The server's descriptor count once closes have settled (back to `target`, or stable)."""
    deadline = time.monotonic() + timeout
    last = server.fd_count()
    while time.monotonic() < deadline:
        time.sleep(0.2)
        now = server.fd_count()
        if (target is not None and now <= target) or (target is None and now == last):
            return now
        last = now
    return last


#: The flooder's accepted rate is measured after its burst: from this many seconds on.
STEADY_AFTER = 1.0


@dataclass
class _Slices:
    """One condition of a flood run (alone, or with the flooder), over its slices."""

    latencies: array[float] = field(default_factory=lambda: array("d"))
    messages: int = 0
    send_lag: float = 0.0
    usage: list[RunResult] = field(default_factory=list)

    def add(self, part: dict[str, Any], usage: RunResult) -> None:
        self.latencies.frombytes(part["latencies"])
        self.messages += part["messages"]
        self.send_lag = max(self.send_lag, part["send_lag"])
        self.usage.append(usage)

    def share(self, name: str) -> float:
        values = [getattr(u, name) for u in self.usage if getattr(u, name) is not None]
        return statistics.mean(values) if values else 0.0


def _flood(server: ServerProc, result: RunResult, settings: Settings) -> None:
    """Observers timed alone and while one connection floods the server from another address.

    The two conditions alternate on the same server and the same observer connections, in
    `flood_rounds` rounds of one slice each (alone, then with a new flooder), so that whatever
    else the machine does during the run falls on both alike; the ratio of their percentiles
    is then the flooder's effect.
    """
    if server.kind != "chat":
        raise RunFailed("flood is defined for the chat backends only")
    n = result.clients
    base = Job(
        scenario="flood",
        tls=server.store == "tls",
        unix_path=server.unix_path if server.store == "unix" else "",
        nick_prefix=f"{getpass.getuser()}-" if server.store == "unix" else "",
        kind=server.kind,
        host=server.host,
        port=server.port,
        clients=n,
        duration=settings.duration,
        observer_rate=settings.observer_rate,
        observer_rooms=settings.observer_rooms,
        flooder_address=settings.flooder_address,
        pin=settings.pin,
    )
    jobs = [
        replace(base, worker=0, workers=2, role="observers", members=list(range(n))),
        replace(base, worker=1, workers=2, role="flooder"),
    ]
    workers = Workers(jobs)
    alone, flooded = _Slices(), _Slices()
    floods: list[dict[str, Any]] = []
    failures: list[str] = []
    try:
        workers.collect("ready", 60)
        workers.send("sync")
        workers.collect("synced", 60)
        for k in range(max(1, settings.flood_rounds)):
            for condition in (alone, flooded):
                if condition is flooded:
                    workers.send("arm")
                    workers.collect("armed", 30)
                usage = Usage(server, workers)
                workers.send("go", t_start=time.monotonic() + 0.1)
                observers, flooder = workers.collect("phase", settings.duration + 40)
                sink = RunResult("flood", result.backend, n)
                usage.finish(sink)
                condition.add(observers, sink)
                label = "alone" if condition is alone else "with the flooder"
                failures += [f"round {k + 1} {label}: {f}" for f in observers["failures"]]
                if flooder["flooded"]:
                    floods.append(flooder)
        workers.send("finish")
        parts = workers.collect("result", 30)
    finally:
        workers.close()
    failures += [f for p in parts for f in p["failures"]]
    metrics = result.metrics
    metrics["rounds"] = len(floods)
    metrics["observer_messages_per_s"] = settings.observer_rate * n
    for prefix, condition in (("alone_", alone), ("", flooded)):
        values = sorted(condition.latencies)
        metrics[prefix + "messages"] = condition.messages
        metrics[prefix + "p50_ms"] = _pct(values, 50) * 1000
        metrics[prefix + "p99_ms"] = _pct(values, 99) * 1000
        metrics[prefix + "max_ms"] = values[-1] * 1000 if values else 0.0
        metrics[prefix + "send_lag_ms"] = condition.send_lag * 1000
        metrics[prefix + "server_cpu"] = condition.share("server_cpu")
        metrics[prefix + "server_wait"] = max(
            0.0, condition.share("server_demand") - condition.share("server_cpu")
        )
    result.server_cpu = flooded.share("server_cpu")
    result.server_demand = flooded.share("server_demand")
    result.gen_cpu = flooded.share("gen_cpu")
    result.gen_demand = flooded.share("gen_demand")
    if metrics["alone_p99_ms"] > 0:
        metrics["p99_ratio"] = metrics["p99_ms"] / metrics["alone_p99_ms"]
    if metrics["alone_server_wait"] > DISTURBED:
        # Nothing of the bench but the observers runs in a slice alone, so a server that waited
        # for its CPU then shared its core with other work, in these slices and likely in the
        # others. (With the flooder let through, the flood itself makes the server wait.)
        result.notes.append(
            f"the server waited for its CPU {metrics['alone_server_wait']:.0%} of the time in its "
            f"slices alone ({metrics['server_wait']:.0%} with the flooder): other work on its "
            "core disturbed this run, and its percentiles measure that too"
        )
    _flooder_outcome(result, floods, settings.duration, failures)
    if failures:
        raise RunFailed("; ".join(failures[:5]))


def _flooder_outcome(
    result: RunResult, floods: list[dict[str, Any]], duration: float, failures: list[str]
) -> None:
    """What the server let the flooders do: accepted messages, and whether one was cut."""
    metrics = result.metrics
    accepted = 0
    steady: list[float] = []
    cuts: list[float] = []
    for k, part in enumerate(floods):
        echoes = array("d")
        echoes.frombytes(part["echoes"])
        accepted += len(echoes)
        late = [t for t in echoes if t >= STEADY_AFTER]
        if len(late) >= 2 and late[-1] > late[0]:
            # Between the first and the last echo after the burst: exact for a steady trickle.
            steady.append((len(late) - 1) / (late[-1] - late[0]))
        elif duration > STEADY_AFTER:
            steady.append(len(late) / (duration - STEADY_AFTER))
        fatal = [e for e in part["errors"] if e.get("fatal")]
        codes = sorted({str(e.get("code")) for e in part["errors"]})
        cut_after = part["lost_after"]
        when = f" after {cut_after:.2f}s" if cut_after is not None else ""
        if part["error_count"]:
            first = part["errors"][0]
            result.notes.append(
                f"flooder {k + 1} got {part['error_count']} error(s) ({', '.join(codes)}); the "
                f"first after {first['t']:.2f}s: {first.get('message')}"
            )
        if fatal and all(e.get("code") == "flood" for e in fatal):
            # The server working as designed: an outcome to report, not a broken run.
            result.notes.append(f"flooder {k + 1} was disconnected with `flood`{when}")
            cuts.append(cut_after if cut_after is not None else duration)
        elif fatal or cut_after is not None:
            why = ", ".join(codes) or "no error frame"
            failures.append(f"flooder {k + 1} was disconnected ({why}){when}")
            cuts.append(cut_after if cut_after is not None else duration)
    metrics["flooder_written"] = sum(p["written"] for p in floods)
    metrics["flooder_accepted"] = accepted
    metrics["flooder_accepted_per_s"] = accepted / (duration * max(1, len(floods)))
    if steady:
        metrics["flooder_steady_per_s"] = statistics.mean(steady)
    metrics["flooder_errors"] = sum(p["error_count"] for p in floods)
    metrics["flooder_cut"] = float(len(cuts))
    if cuts:
        metrics["flooder_cut_after_s"] = min(cuts)
