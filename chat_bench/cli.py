"""`chat-bench`: measure every backend against the baselines and print one comparison."""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import sys
import time
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from chat_bench import report
from chat_bench.results import RunResult, check_targets, issue_targets, summarise
from chat_bench.runner import (
    BASELINES,
    LOAD_CPU,
    STORES,
    can_pin,
    lower_own_priority,
    pin_self,
    raise_nofile,
    redis_available,
    registered_backends,
    server_label,
    split_label,
)
from chat_bench.scenarios import Settings, run
from chat_bench.store import Databases

SCENARIOS = ("fanout", "latency", "idle", "churn", "flood", "store")
DEFAULT_CLIENTS = [10, 100, 1000]
DEFAULT_IDLE = 10_000
DEFAULT_OBSERVERS = 10


def _int_list(value: str) -> list[int]:
    try:
        numbers = [int(v) for v in value.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a list of numbers: {value}") from None
    if not numbers or any(n < 2 for n in numbers):
        raise argparse.ArgumentTypeError("room sizes must be at least 2")
    return numbers


def _at_least_one(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {value}") from None
    if number < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return number


def _positive_rate(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {value}") from None
    if not number > 0:
        raise argparse.ArgumentTypeError("must be above 0")
    return number


def _name_list(value: str) -> list[str]:
    names = [v.strip() for v in value.split(",") if v.strip()]
    if not names:
        raise argparse.ArgumentTypeError("name at least one backend")
    return names


def _store_list(value: str) -> list[str]:
    names = list(dict.fromkeys(v.strip() for v in value.split(",") if v.strip()))
    unknown = [n for n in names if n not in STORES]
    if not names or unknown:
        raise argparse.ArgumentTypeError(
            f"name stores from {', '.join(STORES)}"
            + (f" (not {', '.join(unknown)})" if unknown else "")
        )
    return names


def _messages(value: str) -> int:
    number = _at_least_one(value)
    if number < 100:
        raise argparse.ArgumentTypeError("must be at least 100")
    return number


def build_parser() -> argparse.ArgumentParser:
    registered = registered_backends()
    parser = argparse.ArgumentParser(
        prog="chat-bench",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=(
            "Benchmark wirechat's IO backends against two baselines measured in the same run:\n"
            "'naive' (a minimal asyncio server, one write per recipient per message) and\n"
            "'redis' (Redis pub/sub, when redis-server is on PATH). Each server runs in its\n"
            f"own process on CPU 0; the load generator runs in separate processes on CPU {LOAD_CPU}.\n"
            "Every delivery is counted and checked: a lost, duplicated or reordered message\n"
            "fails the run and the exit status is 1."
        ),
        epilog=(
            "Time bound: every measured phase lasts --duration seconds and every wait has a\n"
            "timeout; the whole run stops starting new measurements after --max-time seconds\n"
            "(default 900) and reports the rest as skipped. With no arguments it runs every\n"
            "registered backend, the baselines and all scenarios (10,000 idle connections;\n"
            "flood runs for the backends only; store builds one SQLite database of\n"
            "--store-messages messages and starts each backend on it), which takes a few\n"
            "minutes on a 2-core machine."
        ),
    )
    parser.add_argument(
        "--backends",
        type=_name_list,
        default=registered,
        help=f"backends to measure (default: every registered one: {','.join(registered)})",
    )
    parser.add_argument(
        "--stores",
        type=_store_list,
        default=["memory"],
        help="stores each backend runs with, side by side: memory (--db :memory:), sqlite "
        "(a fresh database file per server, --durability normal) and tls (the memory store "
        "served and reached over TLS: the cost of encryption) and unix (the memory store on a "
        "Unix socket), reported as e.g. asyncio, asyncio+sqlite, asyncio+tls and asyncio+unix; "
        "the baselines run once (default: memory)",
    )
    parser.add_argument(
        "--scenario",
        choices=[*SCENARIOS, "all"],
        default="all",
        help="what to measure (default: all)",
    )
    parser.add_argument(
        "--clients",
        type=_int_list,
        default=None,
        help="room sizes N for fanout and latency (default: 10,100,1000)",
    )
    parser.add_argument(
        "--idle-clients",
        type=int,
        default=None,
        help=f"connections held by the idle scenario (default: {DEFAULT_IDLE}, or the largest "
        "--clients when that is given)",
    )
    parser.add_argument(
        "--duration", type=float, default=3.0, help="seconds per measured phase (default: 3)"
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="runs of each measurement; the median is reported (default: 1)",
    )
    parser.add_argument(
        "--rate",
        type=float,
        default=20_000.0,
        help="latency: offered deliveries per second (room messages/s = rate / N) (default: 20000)",
    )
    parser.add_argument(
        "--publishers", type=int, default=4, help="fanout: members that publish (default: 4)"
    )
    parser.add_argument(
        "--window",
        type=int,
        default=128,
        help="fanout: messages each publisher may have outstanding, i.e. sent but whose echo "
        "it has not yet received (default: 128)",
    )
    parser.add_argument(
        "--concurrency", type=int, default=32, help="churn: sessions in flight (default: 32)"
    )
    parser.add_argument(
        "--observers",
        type=_at_least_one,
        default=DEFAULT_OBSERVERS,
        help=f"flood: timed connections, spread over {Settings.observer_rooms} rooms "
        f"(default: {DEFAULT_OBSERVERS})",
    )
    parser.add_argument(
        "--observer-rate",
        type=_positive_rate,
        default=Settings.observer_rate,
        help="flood: messages per second each observer says and times "
        f"(default: {Settings.observer_rate:g})",
    )
    parser.add_argument(
        "--flood-rounds",
        type=_at_least_one,
        default=Settings.flood_rounds,
        help="flood: rounds of one --duration slice alone and one with a new flooder, "
        f"alternating (default: {Settings.flood_rounds})",
    )
    parser.add_argument(
        "--flooder-address",
        default=Settings.flooder_address,
        help="flood: local address the flooder connects from; the server exempts 127.0.0.1 "
        "from flood control, so 127.0.0.1 here measures a flood the server lets through "
        f"(default: {Settings.flooder_address})",
    )
    parser.add_argument(
        "--store-messages",
        type=_messages,
        default=Settings.store_messages,
        help="store: messages in the SQLite database the backends open "
        f"(default: {Settings.store_messages:,})",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help="load generator processes, all on the load CPU (default: 1)",
    )
    parser.add_argument(
        "--max-outbuf",
        type=int,
        default=None,
        help="pass --max-outbuf to the chat servers (default: the server's own default)",
    )
    parser.add_argument(
        "--no-baselines", action="store_true", help="skip the naive and redis baselines"
    )
    parser.add_argument(
        "--max-time", type=float, default=900.0, help="overall time bound in seconds (default: 900)"
    )
    parser.add_argument("--json", metavar="FILE", help="write every result as JSON")
    parser.add_argument(
        "--plot",
        metavar="FILE",
        help="draw throughput and p99 latency by backend and room size as an SVG chart "
        "(a .png name is written as .svg next to it)",
    )
    return parser


def servers_of(backends: list[str], stores: list[str], baselines: list[str]) -> list[str]:
    """The labels of the servers a run measures: each backend with each store, then the
    baselines once."""
    return [server_label(b, store) for b in backends for store in stores] + baselines


def plan(args: argparse.Namespace, servers: list[str]) -> list[tuple[str, str, int, int]]:
    scenarios = list(SCENARIOS) if args.scenario == "all" else [args.scenario]
    out = []
    for scenario in scenarios:
        if scenario == "store":
            # SQLite's own scenario: once per backend, whatever --stores says.
            backends = dict.fromkeys(split_label(s)[0] for s in servers if s not in BASELINES)
            for backend in backends:
                label = server_label(backend, "sqlite")
                out += [(scenario, label, args.store_messages, k) for k in range(args.repeat)]
            continue
        if scenario in ("fanout", "latency"):
            sizes = args.clients
        elif scenario == "idle":
            sizes = [args.idle_clients]
        elif scenario == "flood":
            sizes = [args.observers]
        else:
            sizes = [args.concurrency]
        for n in sizes:
            for server in servers:
                if server == "redis" and scenario in ("idle", "churn"):
                    continue
                if server in BASELINES and scenario == "flood":
                    continue  # the baselines have no flood control to measure
                for k in range(args.repeat):
                    out.append((scenario, server, n, k))
    return out


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.idle_clients is None:
        args.idle_clients = max(args.clients) if args.clients else DEFAULT_IDLE
    if args.clients is None:
        args.clients = DEFAULT_CLIENTS
    console = Console(width=None if sys.stdout.isatty() else 160)
    registered = registered_backends()
    unknown = [b for b in args.backends if b not in registered]
    pin = can_pin()
    if pin:
        pin_self(LOAD_CPU)
        lower_own_priority()
    nofile = raise_nofile()
    backends = [b for b in args.backends if b in registered]
    notes: list[str] = []
    baselines: list[str] = []
    if not args.no_baselines:
        baselines.append("naive")
        if redis_available():
            baselines.append("redis")
        else:
            notes.append("redis: not available (redis-server is not on PATH)")
    servers = servers_of(backends, args.stores, baselines)
    if not pin:
        notes.append("not pinned: this machine does not offer CPUs 0 and 1 to this process")
    if args.max_outbuf is not None:
        notes.append(f"chat servers run with --max-outbuf {args.max_outbuf}")
    if args.scenario in ("flood", "all") and not args.no_baselines:
        notes.append("flood: measured for the backends only (the baselines have no flood control)")
    settings = Settings(
        duration=args.duration,
        publishers=args.publishers,
        window=args.window,
        rate=args.rate,
        concurrency=args.concurrency,
        workers=args.workers,
        max_outbuf=args.max_outbuf,
        observer_rate=args.observer_rate,
        flood_rounds=args.flood_rounds,
        flooder_address=args.flooder_address,
        store_messages=args.store_messages,
        pin=pin,
    )
    runs: list[RunResult] = [
        RunResult("-", name, 0, status="unavailable", error="not a registered backend")
        for name in unknown
    ]
    todo = plan(args, servers)
    began = time.monotonic()
    with (
        Databases() as databases,
        Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            TextColumn("{task.completed}/{task.total}"),
            TimeElapsedColumn(),
            console=console,
            transient=True,
            refresh_per_second=2,
        ) as progress,
    ):
        task = progress.add_task("starting", total=len(todo))
        for scenario, server, n, k in todo:
            label = f"{scenario} {server} N={n}" + (f" #{k + 1}" if args.repeat > 1 else "")
            progress.update(task, description=label)
            if time.monotonic() - began > args.max_time:
                runs.append(
                    RunResult(scenario, server, n, k, status="skipped", error="--max-time reached")
                )
            else:
                runs.append(run(scenario, server, n, k, settings, databases))
            progress.advance(task)
    elapsed = time.monotonic() - began
    summaries = summarise([r for r in runs if r.scenario != "-"])
    targets = check_targets(
        issue_targets(args.backends, args.clients, args.idle_clients, args.observers, args.stores),
        summaries,
    )
    for run_result in runs:
        if run_result.scenario == "-":
            notes.append(f"{run_result.backend}: {run_result.error}")
    machine = machine_info(pin, nofile)
    report.print_report(console, summaries, targets, notes, machine, elapsed)
    if args.json:
        doc = {
            "command": "chat-bench " + shlex.join(sys.argv[1:] if argv is None else argv),
            "machine": machine,
            "settings": vars(settings),
            "elapsed_s": elapsed,
            "notes": notes,
            "runs": [r.as_dict() for r in runs],
            "targets": [t.as_dict() for t in targets],
        }
        with open(args.json, "w") as fh:
            json.dump(doc, fh, indent=2)
    if args.plot:
        from chat_bench import plot

        path = plot.write(args.plot, summaries)
        console.print(f"chart written to {path}")
    failed = [r for r in runs if r.status == "failed"]
    return 1 if failed else 0


def machine_info(pinned: bool, nofile: int) -> dict[str, Any]:
    model = ""
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {
        "cpu": model,
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "kernel": platform.release(),
        "pinned": pinned,
        "open_files_limit": nofile,
    }


if __name__ == "__main__":
    sys.exit(main())
