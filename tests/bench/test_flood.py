"""The flood scenario on one backend, briefly: it runs, checks its observers, and measures."""

from __future__ import annotations

import pytest

from chat_bench.runner import can_pin
from chat_bench.scenarios import Settings, run


@pytest.mark.timeout(60)
def test_flood_measures_observers_alone_and_beside_a_throttled_flooder() -> None:
    settings = Settings(duration=1.0, observer_rate=20.0, pin=can_pin())
    result = run("flood", "asyncio", 4, 0, settings)
    assert result.status == "ok", (result.error, result.notes)
    m = result.metrics
    # Two rounds of a slice alone and a slice with a flooder; every observed message came
    # back (the run fails otherwise).
    assert m["rounds"] == settings.flood_rounds == 2
    assert m["alone_messages"] == m["messages"] == 2 * 4 * 20
    assert 0 < m["alone_p50_ms"] <= m["alone_p99_ms"]
    assert 0 < m["p50_ms"] <= m["p99_ms"]
    assert m["p99_ratio"] == pytest.approx(m["p99_ms"] / m["alone_p99_ms"])
    # The flooder (from 127.0.0.2, not exempt) pushed far more than the server took, and was
    # not disconnected within its slice.
    assert m["flooder_cut"] == 0
    assert 0 < m["flooder_accepted"] < m["flooder_written"] / 10


def test_flood_is_not_defined_for_the_baselines() -> None:
    result = run("flood", "naive", 4, 0, Settings(duration=0.1, pin=False))
    assert result.status == "failed"
    assert result.error and "chat backends only" in result.error
