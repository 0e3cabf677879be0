"""The human report: one rich table per scenario with ratios to the baselines, then the targets."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

from chat_bench.results import (
    HIGHER_IS_BETTER,
    LABELS,
    METRICS,
    PRIMARY,
    RATIOS,
    Summary,
    TargetResult,
    ratio,
)
from chat_bench.runner import split_label

_STATUS_STYLE = {
    "ok": "green",
    "invalid": "yellow",
    "failed": "bold red",
    "unavailable": "red",
    "skipped": "dim",
}
_WITH_RATIO = ("p50_ms", "p999_ms", "max_ms", "server_us_per_delivery", "probe_p50_ms")
_VERDICT_STYLE = {"met": "green", "missed": "bold red", "inconclusive": "yellow"}


def fmt(value: float) -> str:
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def scenario_table(scenario: str, summaries: list[Summary]) -> Table:
    rows = [s for s in summaries if s.scenario == scenario]
    metrics = METRICS[scenario]
    primary = PRIMARY[scenario]
    better = "higher" if primary in HIGHER_IS_BETTER else "lower"
    table = Table(title=f"{scenario} ({LABELS[primary]}: {better} is better)")
    table.add_column("N", justify="right")
    _server_column(table, rows)
    for metric in metrics:
        table.add_column(LABELS[metric], justify="right")
        if _has_ratio(metric, primary):
            table.add_column("x naive", justify="right")
    table.add_column(f"{LABELS[primary]} x redis", justify="right")
    # Servers on another store than memory, beside the same backend on memory (one run).
    stores = any(split_label(s.backend)[1] != "memory" for s in rows)
    if stores:
        table.add_column(f"{LABELS[primary]} x memory", justify="right")
    table.add_column("srv CPU used/wanted", justify="right")
    table.add_column("gen CPU used/wanted", justify="right")
    table.add_column("status")
    for s in rows:
        cells = [str(s.clients), s.backend]
        for metric in metrics:
            value = s.metrics.get(metric)
            cells.append(fmt(value) if value is not None else "-")
            if _has_ratio(metric, primary):
                r = ratio(summaries, s, metric, "naive")
                cells.append(f"{r:.2f}x" if r is not None else "-")
        r = ratio(summaries, s, primary, "redis")
        cells.append(f"{r:.2f}x" if r is not None else "-")
        if stores:
            backend, store = split_label(s.backend)
            r = ratio(summaries, s, primary, backend) if store != "memory" else None
            cells.append(f"{r:.2f}x" if r is not None else "-")
        cells.append(_share(s.server_cpu, s.server_demand))
        cells.append(_share(s.gen_cpu, s.gen_demand))
        style = _STATUS_STYLE.get(s.status, "")
        status = s.status if s.error is None else f"{s.status}: {s.error}"
        cells.append(f"[{style}]{_short(status)}[/]" if style else _short(status))
        table.add_row(*cells)
    return table


def flood_table(summaries: list[Summary]) -> Table:
    """Observers' latency alone and beside a flooder, and what the server let the flooder do."""
    table = Table(
        title="flood (observers' round trips alone and with a flooder; p99 ratio = with / alone: "
        "lower is better)"
    )
    table.add_column("N", justify="right")
    _server_column(table, [s for s in summaries if s.scenario == "flood"])
    # Two short lines per header, so the table fits 160 columns without cropping names.
    headers = {
        "alone_p50_ms": "alone\np50 ms",
        "alone_p99_ms": "alone\np99 ms",
        "p50_ms": "with\np50 ms",
        "p99_ms": "with\np99 ms",
        "p99_ratio": "p99\nratio",
        "flooder_accepted_per_s": "flooder\nmsg/s",
        "flooder_steady_per_s": "after 1 s\nmsg/s",
        "flooder_written": "flooder\nsent",
    }
    for metric in METRICS["flood"]:
        table.add_column(headers.get(metric, LABELS[metric]), justify="right")
    table.add_column("flooder\ncut")
    table.add_column("gen lag\nms", justify="right")
    table.add_column("srv CPU\nalone/with", justify="right")
    table.add_column("srv wait\nalone/with", justify="right")
    table.add_column("status")
    for s in (s for s in summaries if s.scenario == "flood"):
        cells = [str(s.clients), s.backend]
        for metric in METRICS["flood"]:
            value = s.metrics.get(metric)
            if value is None:
                cells.append("-")
            elif metric in RATIOS:
                cells.append(f"{value:.2f}x")
            elif metric == "flooder_written":
                cells.append(f"{value:,.0f}")
            else:
                cells.append(fmt(value))
        cells.append(_cut(s))
        lag = [s.metrics[k] for k in ("alone_send_lag_ms", "send_lag_ms") if k in s.metrics]
        cells.append(fmt(max(lag)) if lag else "-")
        for name in ("server_cpu", "server_wait"):
            pair = [s.metrics.get("alone_" + name), s.metrics.get(name)]
            cells.append(f"{pair[0]:.0%}/{pair[1]:.0%}" if None not in pair else "-")
        style = _STATUS_STYLE.get(s.status, "")
        status = s.status if s.error is None else f"{s.status}: {s.error}"
        cells.append(f"[{style}]{_short(status)}[/]" if style else _short(status))
        table.add_row(*cells)
    return table


def store_table(summaries: list[Summary]) -> Table:
    """Each backend on a SQLite database of N messages: start, paging, search, size."""
    table = Table(
        title="store (a backend on a SQLite database of N messages in one room: lower is better)"
    )
    table.add_column("N", justify="right")
    _server_column(table, [s for s in summaries if s.scenario == "store"])
    headers = {
        "start_s": "start s",
        "start_memory_s": "start s\n:memory:",
        "join_ms": "join\nms",
        "history_p50_ms": "history\np50 ms",
        "history_p99_ms": "history\np99 ms",
        "search_p50_ms": "search\np50 ms",
        "search_p99_ms": "search\np99 ms",
        "search_results": "results/\nsearch",
        "bytes_per_message": "bytes/\nmessage",
        "build_s": "build s",
    }
    for metric in METRICS["store"]:
        table.add_column(headers.get(metric, LABELS[metric]), justify="right")
    table.add_column("pages/\nsearches", justify="right")
    table.add_column("status")
    for s in (s for s in summaries if s.scenario == "store"):
        cells = [f"{s.clients:,}", s.backend]
        for metric in METRICS["store"]:
            value = s.metrics.get(metric)
            cells.append(fmt(value) if value is not None else "-")
        counts = [s.metrics.get(k) for k in ("history_pages", "searches")]
        cells.append("/".join(f"{c:.0f}" for c in counts) if None not in counts else "-")
        style = _STATUS_STYLE.get(s.status, "")
        status = s.status if s.error is None else f"{s.status}: {s.error}"
        cells.append(f"[{style}]{_short(status)}[/]" if style else _short(status))
        table.add_row(*cells)
    return table


def _cut(s: Summary) -> str:
    """How many flooder connections were disconnected, of how many, and the earliest when."""
    usable = [r for r in s.runs if "flooder_cut" in r.metrics]
    if not usable:
        return "-"
    cut = sum(int(r.metrics["flooder_cut"]) for r in usable)
    if not cut:
        return "no"
    slices = sum(int(r.metrics.get("rounds", 1)) for r in usable)
    times = [r.metrics["flooder_cut_after_s"] for r in usable if "flooder_cut_after_s" in r.metrics]
    when = f", {min(times):.1f}s" if times else ""
    return f"{cut}/{slices}{when}"


def _server_column(table: Table, rows: list[Summary]) -> None:
    """The server's label, never shortened (`asyncio+sqlite` must not read as `asyncio`)."""
    table.add_column(
        "server", no_wrap=True, min_width=max((len(s.backend) for s in rows), default=6)
    )


def _has_ratio(metric: str, primary: str) -> bool:
    return metric == primary or metric in _WITH_RATIO


def _share(used: float | None, wanted: float | None) -> str:
    if used is None:
        return "-"
    return f"{used:.0%}/{wanted:.0%}" if wanted is not None else f"{used:.0%}"


def _short(text: str, limit: int = 120) -> str:
    text = text.replace("[", "(").replace("]", ")")
    return text if len(text) <= limit else text[: limit - 3] + "..."


def targets_table(targets: list[TargetResult]) -> Table:
    table = Table(title="targets")
    table.add_column("target")
    table.add_column("measured", justify="right")
    table.add_column("verdict")
    for t in targets:
        style = _VERDICT_STYLE.get(t.verdict, "dim")
        table.add_row(t.target.describe(), _short(t.detail, 80), f"[{style}]{t.verdict}[/]")
    return table


def print_report(
    console: Console,
    summaries: list[Summary],
    targets: list[TargetResult],
    notes: list[str],
    machine: dict[str, Any],
    elapsed: float,
) -> None:
    for scenario in ("fanout", "latency", "idle", "churn"):
        if any(s.scenario == scenario for s in summaries):
            console.print(scenario_table(scenario, summaries))
    if any(s.scenario == "flood" for s in summaries):
        console.print(flood_table(summaries))
    if any(s.scenario == "store" for s in summaries):
        console.print(store_table(summaries))
    if targets:
        console.print(targets_table(targets))
    for s in summaries:
        for run in s.runs:
            for note in run.notes:
                console.print(f"[yellow]note[/] {s.scenario} {s.backend} N={s.clients}: {note}")
    for note in notes:
        console.print(f"[yellow]note[/] {note}")
    console.print(
        f"{machine['cpus']} CPUs ({machine['cpu']}), Python {machine['python']}, "
        f"{'pinned' if machine['pinned'] else 'not pinned'}; took {elapsed:.0f}s"
    )
