"""Results of runs, how repeats are combined, and the issue's targets checked against them."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from typing import Any

from chat_bench.runner import server_label, split_label

#: The figure each scenario is judged by, and whether more of it is better.
PRIMARY = {
    "fanout": "deliveries_per_s",
    "latency": "p99_ms",
    "idle": "bytes_per_conn",
    "churn": "sessions_per_s",
    "flood": "p99_ratio",
    "store": "history_p99_ms",
}
HIGHER_IS_BETTER = {"deliveries_per_s", "messages_per_s", "sessions_per_s"}
#: Columns shown per scenario, in order.
METRICS = {
    "fanout": ["deliveries_per_s", "messages_per_s", "server_us_per_delivery"],
    "latency": ["p50_ms", "p99_ms", "p999_ms", "max_ms", "send_lag_ms"],
    "idle": ["bytes_per_conn", "probe_p50_ms", "probe_max_ms"],
    "churn": ["sessions_per_s", "leaked_fds", "rss_change_pct"],
    "flood": [
        "alone_p50_ms",
        "alone_p99_ms",
        "p50_ms",
        "p99_ms",
        "p99_ratio",
        "flooder_accepted_per_s",
        "flooder_steady_per_s",
        "flooder_written",
    ],
    "store": [
        "start_s",
        "start_memory_s",
        "join_ms",
        "history_p50_ms",
        "history_p99_ms",
        "search_p50_ms",
        "search_p99_ms",
        "search_results",
        "bytes_per_message",
        "build_s",
    ],
}
LABELS = {
    "deliveries_per_s": "deliveries/s",
    "messages_per_s": "messages/s",
    "server_us_per_delivery": "srv CPU us/delivery",
    "p50_ms": "p50 ms",
    "p99_ms": "p99 ms",
    "p999_ms": "p99.9 ms",
    "max_ms": "max ms",
    "send_lag_ms": "gen lag ms",
    "bytes_per_conn": "bytes/conn",
    "probe_p50_ms": "msg p50 ms",
    "probe_max_ms": "msg max ms",
    "sessions_per_s": "sessions/s",
    "leaked_fds": "leaked fds",
    "rss_change_pct": "RSS change %",
    "alone_p50_ms": "alone p50 ms",
    "alone_p99_ms": "alone p99 ms",
    "p99_ratio": "p99 flooded/alone",
    "flooder_accepted_per_s": "flooder msg/s",
    "flooder_steady_per_s": "after 1 s",
    "flooder_written": "flooder sent",
    "start_s": "start s",
    "start_memory_s": "start s (:memory:)",
    "join_ms": "join ms",
    "history_p50_ms": "history p50 ms",
    "history_p99_ms": "history p99 ms",
    "history_max_ms": "history max ms",
    "search_p50_ms": "search p50 ms",
    "search_p99_ms": "search p99 ms",
    "search_max_ms": "search max ms",
    "search_results": "results/search",
    "search_hit_pct": "searches with results %",
    "bytes_per_message": "bytes/message",
    "build_s": "build s",
}
#: Metrics that are ratios already: shown as 1.23x.
RATIOS = {"p99_ratio"}
#: A server that waited this share of the wall time for its CPU (runnable, not running) while
#: the bench asked little of it was disturbed by other work on its core: its latency
#: percentiles measure that too (flood: judged on the slices without the flooder).
DISTURBED = 0.05


@dataclass
class RunResult:
    """One measurement: one server, one scenario, one room size, one repeat."""

    scenario: str
    backend: str
    clients: int
    repeat: int = 0
    status: str = "ok"  # ok, invalid (generator-bound), failed, unavailable, skipped
    error: str | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    server_cpu: float | None = None  # share of one core used by the server while measured
    gen_cpu: float | None = None  # share of one core used by the load generator
    server_demand: float | None = None  # CPU used plus time runnable but waiting, per wall second
    gen_demand: float | None = None
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "scenario": self.scenario,
            "backend": self.backend,
            "clients": self.clients,
            "repeat": self.repeat,
            "status": self.status,
            "error": self.error,
            "metrics": self.metrics,
            "server_cpu": self.server_cpu,
            "gen_cpu": self.gen_cpu,
            "server_demand": self.server_demand,
            "gen_demand": self.gen_demand,
            "notes": self.notes,
        }


@dataclass
class Summary:
    """The repeats of one (scenario, backend, clients) combined: medians of the usable runs."""

    scenario: str
    backend: str
    clients: int
    status: str
    metrics: dict[str, float]
    runs: list[RunResult]
    server_cpu: float | None = None
    gen_cpu: float | None = None
    server_demand: float | None = None
    gen_demand: float | None = None

    @property
    def error(self) -> str | None:
        for run in self.runs:
            if run.error:
                return run.error
        return None


def summarise(runs: list[RunResult]) -> list[Summary]:
    groups: dict[tuple[str, str, int], list[RunResult]] = {}
    for run in runs:
        groups.setdefault((run.scenario, run.backend, run.clients), []).append(run)
    out = []
    for (scenario, backend, clients), group in groups.items():
        usable = [r for r in group if r.status in ("ok", "invalid")]
        statuses = {r.status for r in group}
        if "failed" in statuses:
            status = "failed"
        elif not usable:
            status = group[0].status
        elif any(r.status == "invalid" for r in usable):
            status = "invalid"
        else:
            status = "ok"
        metrics: dict[str, float] = {}
        for key in {k for r in usable for k in r.metrics}:
            values = [r.metrics[key] for r in usable if key in r.metrics]
            metrics[key] = statistics.median(values)
        out.append(
            Summary(
                scenario,
                backend,
                clients,
                status,
                metrics,
                group,
                _median([r.server_cpu for r in usable]),
                _median([r.gen_cpu for r in usable]),
                _median([r.server_demand for r in usable]),
                _median([r.gen_demand for r in usable]),
            )
        )
    return out


def _median(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def find(
    summaries: list[Summary], scenario: str, backend: str, clients: int | None = None
) -> Summary | None:
    for s in summaries:
        if s.scenario == scenario and s.backend == backend and clients in (None, s.clients):
            return s
    return None


def ratio(summaries: list[Summary], s: Summary, metric: str, baseline: str) -> float | None:
    """`s`'s figure divided by the baseline's in the same run (same scenario and size)."""
    base = find(summaries, s.scenario, baseline, s.clients)
    if base is None or base.status not in ("ok", "invalid"):
        return None
    value = s.metrics.get(metric)
    ref = base.metrics.get(metric)
    if value is None or not ref:
        return None
    return value / ref


# ----------------------------------------------------------------- the issue's targets


@dataclass
class Target:
    """`backend`'s `metric` compared with `factor` times a reference (a number or a server)."""

    scenario: str
    backend: str
    clients: int | None
    metric: str
    factor: float
    versus: str | None  # a server measured in the same run, or None for an absolute limit
    at_least: bool = True

    def describe(self) -> str:
        size = f" N={self.clients}" if self.clients else ""
        label = LABELS[self.metric]
        sign = ">=" if self.at_least else "<="
        if self.versus is None:
            unit = "x" if self.metric in RATIOS else ""
            return f"{self.scenario}{size} {self.backend}: {label} {sign} {self.factor:g}{unit}"
        return (
            f"{self.scenario}{size} {self.backend}: {label} {sign} {self.factor:g}x {self.versus}"
        )


@dataclass
class TargetResult:
    target: Target
    verdict: str  # met, missed, inconclusive, not measured
    measured: float | None
    detail: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "target": self.target.describe(),
            "verdict": self.verdict,
            "measured": self.measured,
            "detail": self.detail,
        }


def issue_targets(
    backends: list[str],
    clients: list[int],
    idle_clients: int,
    observers: int = 10,
    stores: list[str] | None = None,
) -> list[Target]:
    """The numbers asked of each backend (issue 5, flood control's, and the SQLite store's),
    for this run. Targets of a backend name its memory-store label (`asyncio`); those of the
    SQLite store compare `asyncio+sqlite` with `asyncio` of the same run."""
    stores = stores or ["memory"]
    targets: list[Target] = []
    fast = {10: 4.0, 100: 15.0, 1000: 20.0}
    for backend in ("asyncio", "uvloop"):
        for n, factor in fast.items():
            targets.append(Target("fanout", backend, n, "deliveries_per_s", factor, "naive"))
        for n in (100, 1000):
            targets.append(Target("fanout", backend, n, "deliveries_per_s", 1.0, "redis"))
    for n in fast:
        targets.append(Target("fanout", "selectors", n, "deliveries_per_s", 0.8, "asyncio"))
    for backend in ("threadpool", "socketserver"):
        targets.append(Target("fanout", backend, 100, "deliveries_per_s", 2.0, "naive"))
    for backend in backends:
        targets.append(Target("latency", backend, 100, "p99_ms", 1.0, "naive", at_least=False))
    for backend in ("asyncio", "uvloop", "selectors"):
        targets.append(
            Target("idle", backend, idle_clients, "bytes_per_conn", 8192, None, at_least=False)
        )
    for backend in backends:
        targets.append(Target("churn", backend, None, "leaked_fds", 0, None, at_least=False))
        targets.append(Target("churn", backend, None, "rss_change_pct", 5.0, None, at_least=False))
    for backend in backends:
        targets.append(Target("flood", backend, observers, "p99_ratio", 1.5, None, at_least=False))
    for backend in backends:
        sqlite = server_label(backend, "sqlite")
        if "memory" in stores:
            for n in fast:
                targets.append(Target("fanout", sqlite, n, "deliveries_per_s", 0.85, backend))
            targets.append(Target("latency", sqlite, 100, "p99_ms", 1.2, backend, at_least=False))
        if backend in ("asyncio", "uvloop"):
            for n in (100, 1000):
                targets.append(Target("fanout", sqlite, n, "deliveries_per_s", 1.0, "redis"))
    for backend in ("asyncio", "uvloop", "selectors"):  # TLS costs: the event-loop backends
        for n in (100, 1000):
            targets.append(
                Target("fanout", server_label(backend, "tls"), n, "deliveries_per_s", 0.7, backend)
            )
    for backend in backends:
        sqlite = server_label(backend, "sqlite")
        targets.append(Target("store", sqlite, None, "history_p99_ms", 5.0, None, at_least=False))
        targets.append(Target("store", sqlite, None, "search_p99_ms", 50.0, None, at_least=False))
        targets.append(Target("store", sqlite, None, "start_s", 2.0, None, at_least=False))
    measured = {server_label(b, store) for b in backends for store in stores}
    return [
        t
        for t in targets
        if (
            t.backend in measured
            or (t.scenario == "store" and split_label(t.backend)[0] in backends)
        )
        and (t.clients is None or t.scenario in ("idle", "flood") or t.clients in clients)
    ]


def check_targets(targets: list[Target], summaries: list[Summary]) -> list[TargetResult]:
    out = []
    for t in targets:
        s = find(summaries, t.scenario, t.backend, t.clients)
        if s is None or s.status not in ("ok", "invalid") or t.metric not in s.metrics:
            why = "not run" if s is None else (s.error or s.status)
            out.append(TargetResult(t, "not measured", None, why))
            continue
        value = s.metrics[t.metric]
        if t.versus is None:
            measured = value
            met = value <= t.factor if not t.at_least else value >= t.factor
            detail = f"{value:.2f}x" if t.metric in RATIOS else _number(value)
        else:
            r = ratio(summaries, s, t.metric, t.versus)
            if r is None:
                out.append(TargetResult(t, "not measured", None, f"{t.versus}: not measured"))
                continue
            measured = r
            met = r >= t.factor if t.at_least else r <= t.factor
            detail = f"{r:.2f}x"
        verdict = "met" if met else "missed"
        base = find(summaries, t.scenario, t.versus, t.clients) if t.versus else None
        bound = s.status == "invalid" or (base is not None and base.status == "invalid")
        if bound and not met:
            verdict = "inconclusive"
            detail += " (load generator was the bottleneck)"
        elif not met and s.metrics.get("alone_server_wait", 0.0) > DISTURBED:
            verdict = "inconclusive"
            detail += " (other work on the server's CPU disturbed the run)"
        out.append(TargetResult(t, verdict, measured, detail))
    return out


def _number(value: float) -> str:
    return f"{value:,.1f}" if abs(value) >= 10 or value == int(value) else f"{value:.2f}"
