"""`--udp HOST:PORT`: one UDP datagram of status for one padded request, built not to amplify."""

# Why it looks like this. A UDP service answers whoever the source address says, and that
# address can be forged: an open status port is a reflector an attacker aims at a victim. So:
#
# Rule 1: no answer to a request under MIN_REQUEST bytes, and no reply larger than its request
#         (amplification factor at most 1: reflecting through us costs the attacker as much
#         bandwidth as it costs the victim). Requests over MAX_REQUEST bytes are ignored too.
# Rule 2: at most `per_source` answers a second per source (IPv4 address, IPv6 /64) and
#         `global_rate` in all, token buckets with a small burst; the table of sources is an
#         LRU of at most `max_sources` entries, so spoofed sources cannot grow it.
# Rule 3: nothing but `{"type": "status"}` is answered; anything else is dropped silently,
#         counted, and never raises out of the serving thread.
#
# The rules live in sans-IO pieces (`parse_request`, `encode_reply`, `ProbeLimiter`) that the
# tests drive directly; `StatusProbe` only moves datagrams between a socket and them.

from __future__ import annotations

import contextlib
import json
import logging
import selectors
import socket
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import asdict, dataclass
from enum import Enum

from chat_server.core.guards import TokenBucket, address_bucket
from chat_server.core.threads import ignore_stop_signals

__all__ = [
    "DEFAULT_PORT",
    "MAX_REQUEST",
    "MIN_REQUEST",
    "PROBE_SIZE",
    "ProbeCounts",
    "ProbeError",
    "ProbeLimiter",
    "ProbeTimeout",
    "Refusal",
    "StatusProbe",
    "encode_reply",
    "parse_request",
    "probe",
    "status_request",
]

log = logging.getLogger("chat_server.probe")

#: The smallest request answered, in bytes.
MIN_REQUEST = 512
#: The largest request read, in bytes: larger ones are ignored.
MAX_REQUEST = 2048
#: The size `probe()` pads its request to: room for a long list of listeners, and with the
#: IPv6 and UDP headers (48 bytes) still under IPv6's minimum MTU of 1280, so never fragmented.
PROBE_SIZE = 1200
#: The port `chat-client --probe HOST` tries when none is given: the chat's port number.
DEFAULT_PORT = 8089

#: The reply's fields in the order they are given up when the reply must shrink to fit its
#: request: first fields not listed here, then `listeners` (entries from the end, then the key),
#: then these from the end. `type`, `name`, `version` and `protocol` are never dropped: if
#: they do not fit, nothing is sent.
FIELDS = ("name", "version", "protocol", "backend", "users", "rooms", "uptime")
_KEPT = 3  # FIELDS[:_KEPT] are the minimum

_JOIN_TIMEOUT = 2.0


# ---------------------------------------------------------------------------- the wire format


def status_request(size: int = PROBE_SIZE) -> bytes:
    """A status request of exactly `size` bytes (MIN_REQUEST..MAX_REQUEST), padded with a
    `pad` string field. Raises ValueError for a size out of range."""
    if not MIN_REQUEST <= size <= MAX_REQUEST:
        raise ValueError(f"a status request is {MIN_REQUEST} to {MAX_REQUEST} bytes, not {size}")
    head = b'{"type":"status","pad":"'
    return head + b"x" * (size - len(head) - 2) + b'"}'


def parse_request(data: bytes) -> bool:
    """Whether `data` is a status request to answer: MIN_REQUEST..MAX_REQUEST bytes of UTF-8
    JSON holding one object whose `type` is `"status"`. Padding may be whitespace around the
    object, a `pad` field that is a string, or both; other fields are ignored (so a later
    client may add one). Never raises."""
    if not MIN_REQUEST <= len(data) <= MAX_REQUEST:
        return False
    try:
        request = json.loads(data.decode("utf-8"))
    except (ValueError, RecursionError):  # UnicodeDecodeError and JSONDecodeError included
        return False
    return (
        isinstance(request, dict)
        and request.get("type") == "status"
        and isinstance(request.get("pad", ""), str)
    )


def _encode(value: object) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode(
        "utf-8"
    )


def encode_reply(status: dict[str, object], limit: int) -> bytes | None:
    """`{"type": "status", **status}` as compact UTF-8 JSON of at most `limit` bytes, trimmed
    to fit (see FIELDS for what goes first), or None when even the minimum does not fit.
    Raises TypeError or ValueError when `status` is not JSON-serializable."""
    reply: dict[str, object] = {"type": "status"}
    reply.update((k, v) for k, v in status.items() if k != "type")
    data = _encode(reply)
    if len(data) <= limit:
        return data
    # Fields the server added beyond FIELDS go first, then the listeners, then FIELDS.
    for key in [k for k in reply if k not in FIELDS and k not in ("type", "listeners")]:
        del reply[key]
    listeners = reply.pop("listeners", None)
    if isinstance(listeners, list):
        reply["listeners"] = []
        size = len(_encode(reply))
        if size <= limit:
            kept = 0
            for url in listeners:
                size += len(_encode(url)) + (1 if kept else 0)  # and a comma after the first
                if size > limit:
                    break
                kept += 1
            reply["listeners"] = listeners[:kept]
            return _encode(reply)
        del reply["listeners"]
    for key in reversed(FIELDS[_KEPT:]):
        data = _encode(reply)
        if len(data) <= limit:
            return data
        reply.pop(key, None)
    data = _encode(reply)
    return data if len(data) <= limit else None


# ---------------------------------------------------------------------------- the limits


class Refusal(Enum):
    """Which bucket was short when an answer was refused."""

    SOURCE = "source"
    GLOBAL = "global"


class ProbeLimiter:
    """The token buckets: one per source key (see `address_bucket`), `per_source` answers a
    second with a burst of `per_source_burst`, and one global bucket of `global_rate` a second
    with a burst of `global_burst`. The per-source table keeps the `max_sources` most recently
    seen sources; the least recent is forgotten first (it has had the longest to refill, so
    forgetting it gives away the least), and the global bucket bounds the total regardless."""

    def __init__(
        self,
        per_source: float = 10,
        global_rate: float = 200,
        *,
        per_source_burst: float | None = None,
        global_burst: float | None = None,
        max_sources: int = 4096,
        now: float = 0.0,
    ) -> None:
        if per_source <= 0 or global_rate <= 0 or max_sources < 1:
            raise ValueError("rates must be positive and max_sources at least 1")
        self.per_source = per_source
        self.per_source_burst = max(
            1.0, per_source if per_source_burst is None else per_source_burst
        )
        self.max_sources = max_sources
        burst = max(1.0, global_rate if global_burst is None else global_burst)
        self.global_bucket = TokenBucket(burst, global_rate, now)
        self.sources: OrderedDict[str, TokenBucket] = OrderedDict()
        self.evicted = 0

    def allow(self, host: str, now: float) -> Refusal | None:
        """Charge one answer to `host` (an IP address as the socket gives it) and return None,
        or, when a bucket is short, charge nothing and return which one."""
        key = address_bucket(host) or host
        sources = self.sources
        bucket = sources.get(key)
        if bucket is None:
            if len(sources) >= self.max_sources:
                sources.popitem(last=False)
                self.evicted += 1
            bucket = sources[key] = TokenBucket(self.per_source_burst, self.per_source, now)
        else:
            sources.move_to_end(key)
        if bucket.refill(now) < 1:
            return Refusal.SOURCE
        if self.global_bucket.refill(now) < 1:
            return Refusal.GLOBAL
        bucket.tokens -= 1
        self.global_bucket.tokens -= 1
        return None


@dataclass(slots=True)
class ProbeCounts:
    """What the probe did with the datagrams it read (for metrics)."""

    answered: int = 0
    malformed: int = 0  # wrong size, not UTF-8 JSON, not an object, not a status request
    rate_limited_source: int = 0
    rate_limited_global: int = 0
    unfit: int = 0  # the smallest reply would have been larger than its request
    errors: int = 0  # status() failed or gave something unencodable, or sendto failed


# ---------------------------------------------------------------------------- the server


class StatusProbe:
    """Answers status requests on a UDP socket, on a daemon thread of its own.

    `status()` gives the reply's fields (`name`, `version`, `backend`, `protocol`, `users`,
    `rooms`, `uptime` in whole seconds, `listeners` as a list of URLs); `type` is added here.
    It is called on the probe's thread, once per answer (up to `global_rate` times a second),
    so it must be cheap and thread-safe: read a few counters, take no lock the chat holds
    long. If it raises, no answer is sent and `counts.errors` goes up.

    Callers: `start()` (binds, raises OSError if it cannot), `address`, `stats()`, `stop()`.
    """

    def __init__(
        self,
        host: str,
        port: int,
        status: Callable[[], dict[str, object]],
        *,
        per_source: float = 10,
        global_rate: float = 200,
        per_source_burst: float | None = None,
        global_burst: float | None = None,
        max_sources: int = 4096,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.host = host
        self.port = port
        self.status = status
        self.clock = clock
        self.limiter = ProbeLimiter(
            per_source,
            global_rate,
            per_source_burst=per_source_burst,
            global_burst=global_burst,
            max_sources=max_sources,
            now=clock(),
        )
        self.counts = ProbeCounts()
        self._sock: socket.socket | None = None
        self._wake_r: socket.socket | None = None
        self._wake_w: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._status_failed = False

    @property
    def address(self) -> tuple[str, int]:
        """The bound (host, port); only after `start()`."""
        if self._sock is None:
            raise RuntimeError("the status probe is not started")
        host, port = self._sock.getsockname()[:2]
        return str(host), int(port)

    def stats(self) -> dict[str, int]:
        """The counters of `counts`, and `sources` (the size of the per-source table) and
        `evicted` (sources forgotten to keep it bounded)."""
        return {
            **asdict(self.counts),
            "sources": len(self.limiter.sources),
            "evicted": self.limiter.evicted,
        }

    def start(self) -> None:
        """Bind `host:port` (IPv4 or IPv6 as the host says; port 0 picks one) and serve."""
        if self._sock is not None:
            raise RuntimeError("the status probe is already started")
        family, kind, proto, _, addr = socket.getaddrinfo(
            self.host or None, self.port, type=socket.SOCK_DGRAM, flags=socket.AI_PASSIVE
        )[0]
        sock = socket.socket(family, kind, proto)
        try:
            sock.bind(addr)
            sock.setblocking(False)
            self._wake_r, self._wake_w = socket.socketpair()
        except BaseException:
            sock.close()
            raise
        self._sock = sock
        self._thread = threading.Thread(target=self._serve, name="status-probe", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop serving and close the socket; waits for the thread at most a couple of
        seconds. Safe to call twice, or without `start()`."""
        self._stopping = True
        if self._wake_w is not None:
            with contextlib.suppress(OSError):
                self._wake_w.send(b"\0")
        if self._thread is not None:
            self._thread.join(_JOIN_TIMEOUT)
            self._thread = None
        for sock in (self._sock, self._wake_r, self._wake_w):
            if sock is not None:
                sock.close()
        self._sock = self._wake_r = self._wake_w = None

    def _serve(self) -> None:
        ignore_stop_signals()
        sock, wake = self._sock, self._wake_r
        assert sock is not None and wake is not None
        buffer = bytearray(MAX_REQUEST + 1)  # one byte more: a datagram that fills it is too big
        view = memoryview(buffer)
        with selectors.DefaultSelector() as selector:
            selector.register(sock, selectors.EVENT_READ)
            selector.register(wake, selectors.EVENT_READ)
            while not self._stopping:
                try:
                    selector.select()
                except (OSError, ValueError):  # the socket was closed under us
                    return
                while not self._stopping:
                    try:
                        size, source = sock.recvfrom_into(buffer)
                    except OSError:  # nothing more to read, or an ICMP error reported
                        break
                    try:
                        self._answer(bytes(view[:size]), source)
                    except Exception:  # a bug here must not stop the probe
                        self.counts.errors += 1
                        log.exception("status probe: request from %s failed", source[0])

    def _answer(self, data: bytes, source: tuple[object, ...]) -> None:
        counts = self.counts
        if not parse_request(data):
            counts.malformed += 1
            return
        refusal = self.limiter.allow(str(source[0]), self.clock())
        if refusal is Refusal.SOURCE:
            counts.rate_limited_source += 1
            return
        if refusal is Refusal.GLOBAL:
            counts.rate_limited_global += 1
            return
        try:
            reply = encode_reply(self.status(), len(data))
        except Exception:
            counts.errors += 1
            if not self._status_failed:  # logged once: it fails the same way every time
                self._status_failed = True
                log.exception("status probe: status() failed; no answers until it works")
            return
        if reply is None:
            counts.unfit += 1
            return
        assert self._sock is not None
        try:
            self._sock.sendto(reply, source)
        except OSError:
            counts.errors += 1
            return
        counts.answered += 1


# ---------------------------------------------------------------------------- the client


class ProbeError(Exception):
    """The probe got no usable status: the message says why, for the user."""


class ProbeTimeout(ProbeError, TimeoutError):
    """No answer in time: no probe listening there, the datagram was lost, or rate-limited."""


def probe(
    host: str, port: int, timeout: float = 2.0, *, size: int = PROBE_SIZE
) -> tuple[dict[str, object], float]:
    """Ask `host:port` for its status: the decoded reply and the round trip in seconds.

    Raises ProbeTimeout when nothing comes back within `timeout` seconds, ProbeError when the
    host does not resolve, the port is refused, or the answer is not a status object.
    `size` is the request's size, which caps the reply's (MIN_REQUEST..MAX_REQUEST)."""
    request = status_request(size)
    host = host.strip("[]")
    try:
        family, kind, proto, _, addr = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)[0]
    except OSError as exc:
        raise ProbeError(f"cannot resolve {host}: {exc}") from exc
    where = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    with socket.socket(family, kind, proto) as sock:
        try:
            sock.connect(addr)  # only the server's own address can answer
            sock.settimeout(timeout)
            sent = time.perf_counter()
            sock.send(request)
            data = sock.recv(MAX_REQUEST + 1)
            elapsed = time.perf_counter() - sent
        except TimeoutError as exc:
            raise ProbeTimeout(
                f"no answer from {where} within {timeout:g} s (no status probe there, "
                "the datagram was lost, or the server is rate-limiting this address)"
            ) from exc
        except ConnectionRefusedError as exc:
            raise ProbeError(
                f"{where} refused the probe: nothing listens on that UDP port"
            ) from exc
        except OSError as exc:
            raise ProbeError(f"cannot probe {where}: {exc}") from exc
    try:
        reply = json.loads(data.decode("utf-8"))
    except (ValueError, RecursionError) as exc:
        raise ProbeError(f"{where} answered something that is not JSON") from exc
    if not isinstance(reply, dict) or reply.get("type") != "status":
        raise ProbeError(f"{where} answered something that is not a status")
    return reply, elapsed
