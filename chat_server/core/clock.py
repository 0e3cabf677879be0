"""The core's clock: monotonic seconds for timers, and the wall-clock stamp put on messages."""

from __future__ import annotations

import time
from datetime import UTC, datetime

_last_stamp: tuple[int, str] = (-1, "")


def utc_now() -> str:
    """ISO 8601 UTC with milliseconds, e.g. 2026-11-27T21:24:03.123Z (formatted once per ms)."""
    global _last_stamp
    ms = time.time_ns() // 1_000_000
    if _last_stamp[0] == ms:
        return _last_stamp[1]
    when = datetime.fromtimestamp(ms // 1000, UTC).replace(microsecond=ms % 1000 * 1000)
    stamp = when.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    _last_stamp = (ms, stamp)
    return stamp


class SystemClock:
    """`monotonic()` for every timer and limit, `stamp()` for the `ts` of what is sent.

    Both are the underlying functions themselves, not methods wrapping them: they run for
    every message, and a Python frame per call is measurable there."""

    __slots__ = ("monotonic", "stamp")

    def __init__(self) -> None:
        self.monotonic = time.monotonic
        self.stamp = utc_now
