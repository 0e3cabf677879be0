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
    Summary,
    TargetResult,
    ratio,
)

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
    table.add_column("server")
    for metric in metrics:
        table.add_column(LABELS[metric], justify="right")
        if _has_ratio(metric, primary):
            table.add_column("x naive", justify="right")
    table.add_column(f"{LABELS[primary]} x redis", justify="right")
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
        cells.append(_share(s.server_cpu, s.server_demand))
        cells.append(_share(s.gen_cpu, s.gen_demand))
        style = _STATUS_STYLE.get(s.status, "")
        status = s.status if s.error is None else f"{s.status}: {s.error}"
        cells.append(f"[{style}]{_short(status)}[/]" if style else _short(status))
        table.add_row(*cells)
    return table


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
    table = Table(title="issue 5 targets")
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
