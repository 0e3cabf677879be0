"""`--stores`: each backend with each store, labelled apart, compared in one run's tables."""

from __future__ import annotations

import os

import pytest
from rich.console import Console

from chat_bench import cli, report
from chat_bench.results import RunResult, check_targets, issue_targets, summarise
from chat_bench.runner import ServerProc, server_label, split_label


def test_labels_name_the_store_beside_the_backend() -> None:
    assert server_label("asyncio") == server_label("asyncio", "memory") == "asyncio"
    assert server_label("asyncio", "sqlite") == "asyncio+sqlite"
    for label in ("asyncio", "asyncio+sqlite", "naive"):
        assert server_label(*split_label(label)) == label
    assert split_label("uvloop+sqlite") == ("uvloop", "sqlite")


def test_each_backend_runs_with_each_store_and_the_baselines_once() -> None:
    assert cli.servers_of(["asyncio", "selectors"], ["memory", "sqlite"], ["naive", "redis"]) == [
        "asyncio",
        "asyncio+sqlite",
        "selectors",
        "selectors+sqlite",
        "naive",
        "redis",
    ]
    args = cli.build_parser().parse_args(
        ["--backends", "asyncio", "--stores", "memory,sqlite", "--scenario", "fanout"]
    )
    args.clients = [10]
    todo = cli.plan(args, cli.servers_of(args.backends, args.stores, ["naive"]))
    assert todo == [
        ("fanout", "asyncio", 10, 0),
        ("fanout", "asyncio+sqlite", 10, 0),
        ("fanout", "naive", 10, 0),
    ]


def test_the_store_scenario_is_sqlites_whatever_the_stores() -> None:
    args = cli.build_parser().parse_args(
        ["--backends", "asyncio,uvloop", "--scenario", "store", "--store-messages", "500"]
    )
    assert args.stores == ["memory"]
    todo = cli.plan(args, cli.servers_of(args.backends, args.stores, ["naive"]))
    assert todo == [("store", "asyncio+sqlite", 500, 0), ("store", "uvloop+sqlite", 500, 0)]


@pytest.mark.parametrize("value", ["disk", "memory,disk", ","])
def test_unknown_stores_are_refused(value: str) -> None:
    with pytest.raises(SystemExit):
        cli.build_parser().parse_args(["--stores", value])


def _db_flags(cmd: list[str]) -> list[str]:
    i = cmd.index("--db")
    return cmd[i : i + 4] if "--durability" in cmd else cmd[i : i + 2]


def test_servers_get_a_db_per_store_and_a_fresh_file_is_removed() -> None:
    memory = ServerProc("asyncio")
    assert _db_flags(memory.command()) == ["--db", ":memory:"]
    assert memory.label == "asyncio"
    sqlite = ServerProc("asyncio", store="sqlite")
    flags = _db_flags(sqlite.command())
    assert flags[0] == "--db" and flags[2:] == ["--durability", "normal"]
    assert sqlite.label == "asyncio+sqlite"
    directory = os.path.dirname(flags[1])
    assert os.path.isdir(directory) and not os.listdir(directory)  # fresh: nothing in it yet
    assert _db_flags(sqlite.command()) == flags  # the same file for the server's life
    sqlite.stop()
    assert not os.path.exists(directory)
    given = ServerProc("asyncio", store="sqlite", db="/some/where.db")
    assert _db_flags(given.command())[:2] == ["--db", "/some/where.db"]
    for baseline in ("naive", "redis"):
        assert "--db" not in ServerProc(baseline).command()


def _fanout(label: str, n: int, per_s: float) -> RunResult:
    return RunResult("fanout", label, n, metrics={"deliveries_per_s": per_s})


def test_sqlite_is_judged_against_memory_of_the_same_run() -> None:
    runs = [
        _fanout("asyncio", 100, 100_000),
        _fanout("asyncio+sqlite", 100, 90_000),
        _fanout("asyncio", 1000, 100_000),
        _fanout("asyncio+sqlite", 1000, 80_000),
        _fanout("redis", 1000, 70_000),
        RunResult("latency", "asyncio", 100, metrics={"p99_ms": 2.0}),
        RunResult("latency", "asyncio+sqlite", 100, metrics={"p99_ms": 2.2}),
    ]
    summaries = summarise(runs)
    targets = issue_targets(["asyncio"], [100, 1000], 1000, stores=["memory", "sqlite"])
    verdicts = {
        t.target.describe(): (t.verdict, t.detail) for t in check_targets(targets, summaries)
    }
    assert verdicts["fanout N=100 asyncio+sqlite: deliveries/s >= 0.85x asyncio"] == (
        "met",
        "0.90x",
    )
    assert verdicts["fanout N=1000 asyncio+sqlite: deliveries/s >= 0.85x asyncio"][0] == "missed"
    assert verdicts["fanout N=1000 asyncio+sqlite: deliveries/s >= 1x redis"] == ("met", "1.14x")
    assert verdicts["latency N=100 asyncio+sqlite: p99 ms <= 1.2x asyncio"] == ("met", "1.10x")
    assert verdicts["store asyncio+sqlite: start s <= 2"][0] == "not measured"
    # Without the memory store in the run there is nothing to compare with...
    alone = issue_targets(["asyncio"], [100, 1000], 1000, stores=["sqlite"])
    assert not any(t.versus == "asyncio" or t.backend == "asyncio" for t in alone)
    # ...and without sqlite, only the store scenario's targets name it.
    memory = issue_targets(["asyncio"], [100, 1000], 1000)
    assert {t.scenario for t in memory if t.backend == "asyncio+sqlite"} == {"store"}

    console = Console(width=250, record=True)
    console.print(report.scenario_table("fanout", summaries))
    text = console.export_text()
    assert "x memory" in text and "asyncio+sqlite" in text
    sqlite_row = next(
        line for line in text.splitlines() if "asyncio+sqlite" in line and " 100 " in line
    )
    assert "0.90x" in sqlite_row
