"""The server's metrics in the Prometheus text format (prometheus-client), read at scrape time
from the core's counters (core.counts) and the store's, so the chat pays nothing per scrape
and no lock per message."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, PlatformCollector, ProcessCollector
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector

from chat_server.core.counts import LAG_BUCKETS, LIMIT_CODES

if TYPE_CHECKING:
    from chat_server.core import Hub
    from chat_server.probe import StatusProbe

PREFIX = "wirechat"


class HubCollector(Collector):
    """Every wirechat metric, from one Hub (see docs/operations.md for their meaning)."""

    def __init__(self, hub: Hub, listener: str = "tcp") -> None:
        self.hub = hub
        self.listener = listener  # the kind of the listener its connections came through

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily | HistogramMetricFamily]:
        hub = self.hub
        counts = hub.counts
        connections = GaugeMetricFamily(
            f"{PREFIX}_connections", "Open client connections", labels=["listener"]
        )
        connections.add_metric([self.listener], len(hub.connections))
        yield connections
        yield GaugeMetricFamily(
            f"{PREFIX}_users", "Connections registered with hello", value=counts.registered
        )
        yield GaugeMetricFamily(f"{PREFIX}_rooms", "Rooms in existence", value=len(hub.rooms))
        yield CounterMetricFamily(
            f"{PREFIX}_requests", "Requests handled, every type", value=counts.requests
        )
        yield CounterMetricFamily(
            f"{PREFIX}_messages", "Room messages accepted (say)", value=counts.messages
        )
        yield CounterMetricFamily(
            f"{PREFIX}_deliveries", "Frames queued for clients", value=counts.deliveries
        )
        yield CounterMetricFamily(
            f"{PREFIX}_sent_bytes", "Bytes of the frames queued for clients", value=counts.bytes_out
        )
        errors = CounterMetricFamily(
            f"{PREFIX}_errors", "Error frames sent, by code", labels=["code"]
        )
        refusals = CounterMetricFamily(
            f"{PREFIX}_limit_refusals", "Requests or connections a limit refused", labels=["kind"]
        )
        for code, count in sorted(dict(counts.errors).items()):
            errors.add_metric([code], count)
            if code in LIMIT_CODES:
                refusals.add_metric([code], count)
        yield errors
        yield refusals
        yield CounterMetricFamily(
            f"{PREFIX}_slow_consumer_cuts",
            "Connections cut for not reading their output",
            value=counts.slow_consumers,
        )
        yield CounterMetricFamily(
            f"{PREFIX}_flood_delays",
            "Times flood control began holding a connection's requests back",
            value=counts.flood_delays,
        )
        yield CounterMetricFamily(
            f"{PREFIX}_flood_disconnects",
            "Connections closed for flooding",
            value=counts.flood_disconnects,
        )
        buckets: list[tuple[str, float]] = []
        total = 0
        for bound, count in zip((*LAG_BUCKETS, float("inf")), counts.lag_buckets, strict=True):
            total += count
            buckets.append(("+Inf" if bound == float("inf") else repr(bound), total))
        yield HistogramMetricFamily(
            f"{PREFIX}_tick_lag_seconds",
            "How late the core's 50 ms timer ran: event-loop lag on the event-loop backends, "
            "the ticker thread's on the thread backends",
            buckets=buckets,
            sum_value=counts.lag_sum,
        )
        healthy = hub.store.health() is None
        yield GaugeMetricFamily(
            f"{PREFIX}_store_healthy", "1 while the store takes writes", value=int(healthy)
        )
        stats = getattr(hub.store, "stats", None)
        if stats is not None:
            commits, writes, _cpu, seconds = stats
            yield CounterMetricFamily(
                f"{PREFIX}_store_commits",
                "Transactions the store's writer committed",
                value=commits,
            )
            yield CounterMetricFamily(
                f"{PREFIX}_store_writes", "Writes in those transactions", value=writes
            )
            yield CounterMetricFamily(
                f"{PREFIX}_store_commit_seconds",
                "Wall time the writer spent committing (divide by commits for the latency, "
                "writes by commits for the batch size)",
                value=seconds,
            )


class ProbeCollector(Collector):
    """The UDP status probe's answers and refusals."""

    def __init__(self, probe: StatusProbe) -> None:
        self.probe = probe

    def collect(self) -> Iterator[CounterMetricFamily]:
        stats = self.probe.stats()
        yield CounterMetricFamily(
            f"{PREFIX}_probe_answers", "UDP status probes answered", value=stats["answered"]
        )
        ignored = CounterMetricFamily(
            f"{PREFIX}_probe_ignored", "UDP datagrams not answered, by why", labels=["reason"]
        )
        for reason in ("malformed", "rate_limited_source", "rate_limited_global", "unfit"):
            ignored.add_metric([reason], stats[reason])
        yield ignored


def registry_for(hub: Hub, probe: StatusProbe | None = None) -> CollectorRegistry:
    """A registry of this hub's metrics (and the probe's) plus the process's own (CPU, memory,
    descriptors)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(HubCollector(hub))
    if probe is not None:
        registry.register(ProbeCollector(probe))
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    return registry
