"""What the core counts for metrics: plain integers bumped on the core's thread, read by a
scrape on another thread (a read of an int is atomic), so counting costs the hot path an
attribute increment and no lock."""

from __future__ import annotations

import bisect

#: Upper bounds (seconds) of the tick-lag histogram's buckets; the last one is +Inf.
LAG_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
#: Error codes that mean a limit refused something (`limit_refusals_total` by kind).
LIMIT_CODES = frozenset(
    {"rate_limited", "too_many_connections", "server_full", "limit_reached", "room_full"}
)


class Counts:
    __slots__ = (
        "bytes_out",
        "deliveries",
        "errors",
        "flood_delays",
        "flood_disconnects",
        "lag_buckets",
        "lag_count",
        "lag_sum",
        "messages",
        "registered",
        "requests",
        "slow_consumers",
    )

    def __init__(self) -> None:
        self.requests = 0  # requests handled (every type)
        self.messages = 0  # room messages accepted (`say`)
        self.deliveries = 0  # frames queued for connections
        self.bytes_out = 0  # bytes of those frames
        self.errors: dict[str, int] = {}  # `error` frames sent, by code
        self.slow_consumers = 0  # connections cut for not reading
        self.flood_delays = 0  # requests flood control held back
        self.flood_disconnects = 0  # connections closed with `flood`
        self.registered = 0  # connections past `hello`, now
        # How late the core's 50 ms tick ran: a histogram (non-cumulative counts per bucket,
        # the last for anything above LAG_BUCKETS[-1]).
        self.lag_buckets = [0] * (len(LAG_BUCKETS) + 1)
        self.lag_sum = 0.0
        self.lag_count = 0

    def error(self, code: str) -> None:
        self.errors[code] = self.errors.get(code, 0) + 1

    def lag(self, seconds: float) -> None:
        self.lag_buckets[bisect.bisect_left(LAG_BUCKETS, seconds)] += 1
        self.lag_sum += seconds
        self.lag_count += 1
