"""A small real run of chat-bench, so the tool cannot rot: correctness only, never timing."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from chat_bench.scenarios import Settings, run


@pytest.mark.timeout(180)
def test_quick_run_of_every_scenario_loses_nothing(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    chart = tmp_path / "bench.svg"
    cmd = [sys.executable, "-m", "chat_bench", "--backends", "asyncio", "--scenario", "all"]
    cmd += ["--clients", "10", "--duration", "1", "--json", str(out), "--plot", str(chart)]
    cmd += ["--store-messages", "2000"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=170)
    assert done.returncode == 0, done.stdout + done.stderr
    doc = json.loads(out.read_text())
    runs = doc["runs"]
    seen = {(r["scenario"], r["backend"]) for r in runs}
    for scenario in ("fanout", "latency", "idle", "churn"):
        for server in ("asyncio", "naive"):
            assert (scenario, server) in seen
    # flood is measured for the backends only, store on SQLite only
    assert ("flood", "asyncio") in seen and ("flood", "naive") not in seen
    assert ("store", "asyncio+sqlite") in seen and ("store", "naive") not in seen
    for r in runs:
        assert r["status"] in ("ok", "invalid"), r
        metrics = r["metrics"]
        if r["scenario"] in ("fanout", "latency"):
            assert metrics["lost"] == 0
            assert metrics["deliveries"] == metrics["messages"] * r["clients"] > 0
        if r["scenario"] == "idle":
            assert metrics["connections"] == r["clients"]
        if r["scenario"] == "churn":
            assert metrics["sessions"] > 0
            assert metrics["leaked_fds"] == 0
        if r["scenario"] == "flood":
            assert metrics["messages"] == metrics["alone_messages"] > 0
            assert metrics["flooder_cut"] == 0
        if r["scenario"] == "store":
            # 2000 messages: the member pages back to the first one, then searches.
            assert metrics["history_pages"] * 50 + metrics["replayed"] >= 2000
            assert metrics["searches"] == 100
    assert "fanout" in done.stdout and "flood" in done.stdout and "targets" in done.stdout
    assert "store" in done.stdout
    assert chart.read_text().startswith("<svg")


def test_a_backend_that_cannot_start_is_reported_not_raised() -> None:
    result = run("fanout", "no-such-backend", 10, 0, Settings(duration=0.1, pin=False))
    assert result.status == "unavailable"
    assert result.error and "did not start" in result.error
