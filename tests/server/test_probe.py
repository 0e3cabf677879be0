"""The UDP status probe: its wire format, its limits, and a real socket on loopback."""

from __future__ import annotations

import json
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from chat_server.probe import (
    MAX_REQUEST,
    MIN_REQUEST,
    ProbeError,
    ProbeLimiter,
    ProbeTimeout,
    Refusal,
    StatusProbe,
    encode_reply,
    parse_request,
    probe,
    status_request,
)

WAIT = 2.0  # the bound on a reply that must come
SILENCE = 0.3  # how long to listen to be sure that none comes

STATUS: dict[str, object] = {
    "name": "test server",
    "version": "0.1.0",
    "backend": "asyncio",
    "protocol": 1,
    "users": 3,
    "rooms": 2,
    "uptime": 42,
    "listeners": ["tcp://127.0.0.1:8089", "ws://127.0.0.1:8090"],
}

LONG_LISTENERS = [f"wss://listener-{i:03}.chat.example.org:{8000 + i}/ws" for i in range(60)]


def _has_ipv6() -> bool:
    if not socket.has_ipv6:
        return False
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as sock:
            sock.bind(("::1", 0))
    except OSError:
        return False
    return True


def eventually(check: Callable[[], bool]) -> bool:
    """Whether `check()` holds within WAIT seconds (the probe counts a reply after sending it)."""
    deadline = time.monotonic() + WAIT
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


class FakeClock:
    """A clock that moves only when told."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Asker:
    """A client UDP socket, bound to `source`, that sends datagrams and counts replies."""

    def __init__(self, target: tuple[str, int], source: str = "127.0.0.1") -> None:
        family = socket.AF_INET6 if ":" in target[0] else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_DGRAM)
        self.sock.bind((source, 0))
        self.target = target

    def send(self, data: bytes) -> None:
        self.sock.sendto(data, self.target)

    def replies(self, first: float = WAIT, rest: float = SILENCE) -> list[bytes]:
        """Every reply: waits up to `first` seconds for one, then until `rest` of silence."""
        got: list[bytes] = []
        self.sock.settimeout(first)
        while True:
            try:
                data, _ = self.sock.recvfrom(65536)
            except TimeoutError:
                return got
            got.append(data)
            self.sock.settimeout(rest)

    def silent(self) -> bool:
        return self.replies(first=SILENCE) == []

    def ask(self, data: bytes) -> dict[str, object]:
        self.send(data)
        self.sock.settimeout(WAIT)
        reply, _ = self.sock.recvfrom(65536)
        assert len(reply) <= len(data)
        decoded = json.loads(reply)
        assert isinstance(decoded, dict)
        return decoded

    def close(self) -> None:
        self.sock.close()


ProbeFactory = Callable[..., StatusProbe]


@pytest.fixture
def make_probe() -> Iterator[ProbeFactory]:
    """`make_probe(status=..., host=..., **options)`: a started probe, stopped at teardown."""
    probes: list[StatusProbe] = []

    def make(
        status: Callable[[], dict[str, object]] = lambda: dict(STATUS),
        host: str = "127.0.0.1",
        **options: object,
    ) -> StatusProbe:
        server = StatusProbe(host, 0, status, **options)  # type: ignore[arg-type]
        server.start()
        probes.append(server)
        return server

    yield make
    for server in probes:
        server.stop()


@pytest.fixture
def asker() -> Iterator[Callable[..., Asker]]:
    askers: list[Asker] = []

    def make(target: tuple[str, int], source: str = "127.0.0.1") -> Asker:
        try:
            client = Asker(target, source)
        except OSError as exc:
            pytest.skip(f"cannot bind a client to {source}: {exc}")
        askers.append(client)
        return client

    yield make
    for client in askers:
        client.close()


# ---------------------------------------------------------------------------- the wire format


def test_status_request_is_a_valid_request_of_the_size_asked() -> None:
    for size in (MIN_REQUEST, 700, MAX_REQUEST):
        data = status_request(size)
        assert len(data) == size
        assert parse_request(data)
    with pytest.raises(ValueError):
        status_request(MIN_REQUEST - 1)
    with pytest.raises(ValueError):
        status_request(MAX_REQUEST + 1)


def test_padding_may_be_whitespace_or_a_pad_field() -> None:
    assert parse_request(b'{"type":"status"}'.ljust(MIN_REQUEST))
    assert parse_request(b'{"type": "status"}' + b"\n\t\r " * 200)
    assert parse_request(b" " * 300 + b'{"type":"status"}' + b" " * 300)
    assert parse_request(b'{"type":"status","pad":"' + b"." * 600 + b'"}')
    assert parse_request(b'{"type":"status","pad":"x","later":1}'.ljust(MIN_REQUEST))


@pytest.mark.parametrize(
    "data",
    [
        b'{"type":"status"}',  # too small
        b'{"type":"status"}'.ljust(MIN_REQUEST - 1),
        b'{"type":"status"}'.ljust(MAX_REQUEST + 1),  # too large
        b'{"type":"hello"}'.ljust(MIN_REQUEST),
        b'{"type":"STATUS"}'.ljust(MIN_REQUEST),
        b'{"kind":"status"}'.ljust(MIN_REQUEST),
        b'{"type":"status","pad":5}'.ljust(MIN_REQUEST),
        b'["status"]'.ljust(MIN_REQUEST),
        b'"status"'.ljust(MIN_REQUEST),
        b'{"type":"status"'.ljust(MIN_REQUEST),  # bad JSON
        b'{"type":"status"}'.ljust(MIN_REQUEST, b"\0"),  # padding that is not whitespace
        b'{"type":"status"}{"type":"status"}'.ljust(MIN_REQUEST),
        b'{"type":"status","pad":"\xff\xfe"}'.ljust(MIN_REQUEST),  # not UTF-8
        b"[" * MAX_REQUEST,  # nesting deeper than the recursion limit
        bytes(range(256)) * 2,  # binary garbage
    ],
)
def test_anything_else_is_not_a_request(data: bytes) -> None:
    assert not parse_request(data)


def test_a_reply_that_fits_is_sent_whole() -> None:
    data = encode_reply(STATUS, 512)
    assert data is not None
    assert json.loads(data) == {"type": "status", **STATUS}
    assert data.startswith(b'{"type":"status",')
    assert b" " not in data.replace(b"test server", b"")  # compact


def test_status_cannot_change_the_type() -> None:
    data = encode_reply({**STATUS, "type": "other"}, 512)
    assert data is not None
    assert json.loads(data)["type"] == "status"


@pytest.mark.parametrize("limit", [MIN_REQUEST, 600, 1000, 1200, MAX_REQUEST])
def test_listeners_go_from_the_end_to_fit(limit: int) -> None:
    status = {**STATUS, "listeners": LONG_LISTENERS}
    data = encode_reply(status, limit)
    assert data is not None
    assert len(data) <= limit
    reply = json.loads(data)
    kept = reply["listeners"]
    assert kept == LONG_LISTENERS[: len(kept)]
    assert 0 < len(kept) < len(LONG_LISTENERS)
    # As many as fit: one more would not have.
    bigger = {**reply, "listeners": LONG_LISTENERS[: len(kept) + 1]}
    assert len(json.dumps(bigger, separators=(",", ":")).encode()) > limit
    assert {k: v for k, v in reply.items() if k != "listeners"} == {
        "type": "status",
        **{k: v for k, v in STATUS.items() if k != "listeners"},
    }


def test_trimming_order_extras_then_listeners_then_optional_fields() -> None:
    status = {**STATUS, "motd": "m" * 400, "listeners": ["tcp://x:1"]}
    reply = json.loads(encode_reply(status, 300) or b"null")
    assert "motd" not in reply and reply["listeners"] == ["tcp://x:1"]

    status = {**STATUS, "name": "n" * 150}
    sizes = {}
    for limit in range(400, 150, -1):
        data = encode_reply(status, limit)
        if data is None:
            break
        assert len(data) <= limit
        sizes[limit] = set(json.loads(data))
    dropped_in_order: list[str] = []
    previous = set(["type", *STATUS])
    for limit in sorted(sizes, reverse=True):
        for key in sorted(previous - sizes[limit]):
            dropped_in_order.append(key)
        previous = sizes[limit]
    assert dropped_in_order == ["listeners", "uptime", "rooms", "users", "backend"]
    assert previous == {"type", "name", "version", "protocol"}


def test_no_reply_when_even_the_minimum_does_not_fit() -> None:
    assert encode_reply(STATUS, 20) is None
    assert encode_reply({**STATUS, "name": "n" * 2000}, MAX_REQUEST) is None


def test_unencodable_status_raises() -> None:
    with pytest.raises((TypeError, ValueError)):
        encode_reply({"name": object()}, 512)
    with pytest.raises(ValueError):
        encode_reply({"uptime": float("nan")}, 512)


# ---------------------------------------------------------------------------- the limiter


def test_per_source_burst_then_rate() -> None:
    limiter = ProbeLimiter(10, 1000, now=0.0)
    assert [limiter.allow("192.0.2.1", 0.0) for _ in range(12)] == [None] * 10 + [
        Refusal.SOURCE
    ] * 2
    assert limiter.allow("192.0.2.2", 0.0) is None  # another source has its own bucket
    assert limiter.allow("192.0.2.1", 0.05) is Refusal.SOURCE  # half a token back
    assert limiter.allow("192.0.2.1", 0.1) is None
    assert limiter.allow("192.0.2.1", 0.1) is Refusal.SOURCE
    assert [limiter.allow("192.0.2.1", 10.0) for _ in range(11)].count(None) == 10  # capped


def test_ipv6_counts_per_64_and_mapped_ipv4_as_ipv4() -> None:
    limiter = ProbeLimiter(2, 1000, per_source_burst=2, now=0.0)
    assert limiter.allow("2001:db8:1:2::1", 0.0) is None
    assert limiter.allow("2001:db8:1:2:ffff::9", 0.0) is None
    assert limiter.allow("2001:db8:1:2:abcd::1", 0.0) is Refusal.SOURCE
    assert limiter.allow("2001:db8:1:3::1", 0.0) is None  # the next /64
    assert limiter.allow("198.51.100.7", 0.0) is None
    assert limiter.allow("::ffff:198.51.100.7", 0.0) is None
    assert limiter.allow("198.51.100.7", 0.0) is Refusal.SOURCE


def test_global_cap_and_refusals_charge_nothing() -> None:
    limiter = ProbeLimiter(10, 5, now=0.0)
    results = [limiter.allow(f"192.0.2.{i}", 0.0) for i in range(1, 9)]
    assert results == [None] * 5 + [Refusal.GLOBAL] * 3
    # A source refused by the global cap was not charged for it.
    assert limiter.sources["192.0.2.8"].tokens == 10


def test_the_source_table_stays_bounded() -> None:
    limiter = ProbeLimiter(10, 1e9, max_sources=100, now=0.0)
    for i in range(20_000):
        limiter.allow(f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}", i * 1e-6)
    for i in range(5_000):
        limiter.allow(f"2001:db8:{i:x}::1", 1.0)
    assert len(limiter.sources) == 100
    assert limiter.evicted == 25_000 - 100
    # The most recent sources are the ones kept.
    assert "2001:db8:1387::/64" in limiter.sources


def test_limiter_rejects_nonsense_settings() -> None:
    with pytest.raises(ValueError):
        ProbeLimiter(0, 10)
    with pytest.raises(ValueError):
        ProbeLimiter(10, 10, max_sources=0)


# ---------------------------------------------------------------------------- over UDP


def test_answered_with_the_fields(make_probe: ProbeFactory) -> None:
    server = make_probe()
    host, port = server.address
    assert host == "127.0.0.1" and port > 0
    reply, rtt = probe(host, port, timeout=WAIT)
    assert reply == {"type": "status", **STATUS}
    assert 0 < rtt < WAIT
    assert eventually(lambda: server.stats()["answered"] == 1)


@pytest.mark.skipif(not _has_ipv6(), reason="no IPv6 loopback")
def test_answered_over_ipv6(make_probe: ProbeFactory) -> None:
    server = make_probe(host="::1")
    host, port = server.address
    assert host == "::1"
    reply, _ = probe("[::1]", port, timeout=WAIT)
    assert reply["name"] == "test server"


def test_sizes_around_the_limits(make_probe: ProbeFactory, asker: Callable[..., Asker]) -> None:
    server = make_probe()
    client = asker(server.address)
    client.send(b'{"type":"status"}'.ljust(MIN_REQUEST - 1))
    client.send(b'{"type":"status"}'.ljust(MAX_REQUEST + 1))
    client.send(b'{"type":"status"}'.ljust(8000))
    assert client.silent()
    assert client.ask(b'{"type":"status"}'.ljust(MIN_REQUEST))["type"] == "status"
    assert client.ask(status_request(MAX_REQUEST))["type"] == "status"
    assert server.stats()["malformed"] == 3


def test_a_reply_is_never_larger_than_its_request(
    make_probe: ProbeFactory, asker: Callable[..., Asker]
) -> None:
    server = make_probe(lambda: {**STATUS, "listeners": LONG_LISTENERS})
    client = asker(server.address)
    for size in (MIN_REQUEST, 513, 800, 1200, MAX_REQUEST):
        reply = client.ask(status_request(size))  # asserts the size
        assert reply["name"] == "test server"
        kept = reply["listeners"]
        assert isinstance(kept, list) and kept == LONG_LISTENERS[: len(kept)]


def test_a_status_too_big_for_the_request_gets_nothing(
    make_probe: ProbeFactory, asker: Callable[..., Asker]
) -> None:
    server = make_probe(lambda: {**STATUS, "name": "n" * 600})
    client = asker(server.address)
    client.send(status_request(MIN_REQUEST))
    assert client.silent()
    assert server.stats()["unfit"] == 1
    assert len(client.ask(status_request(1000))["name"]) == 600  # type: ignore[arg-type]


def test_garbage_gets_nothing_and_the_probe_keeps_serving(
    make_probe: ProbeFactory, asker: Callable[..., Asker]
) -> None:
    server = make_probe()
    client = asker(server.address)
    garbage = [
        b'{"type":"hello","nick":"x"}'.ljust(MIN_REQUEST),
        b'{"type":"say"}'.ljust(MIN_REQUEST),
        b'{"type": status}'.ljust(MIN_REQUEST),
        b"\xff" * 600,
        bytes(range(256)) * 3,
        b"[" * 1500,
        b"",
    ]
    for data in garbage:
        client.send(data)
    client.send(status_request())  # processed after all of the above
    replies = client.replies()
    assert len(replies) == 1
    assert json.loads(replies[0])["type"] == "status"
    assert server.stats()["malformed"] == len(garbage)
    assert server.stats()["answered"] == 1


def test_per_source_rate_with_a_still_clock(
    make_probe: ProbeFactory, asker: Callable[..., Asker]
) -> None:
    clock = FakeClock()
    server = make_probe(clock=clock)
    client = asker(server.address)
    for _ in range(30):
        client.send(status_request(MIN_REQUEST))
    assert len(client.replies()) == 10  # the burst
    assert server.stats()["rate_limited_source"] == 20
    other = asker(server.address, "127.0.0.2")
    assert other.ask(status_request(MIN_REQUEST))["type"] == "status"
    clock.now += 0.5  # five tokens back
    for _ in range(10):
        client.send(status_request(MIN_REQUEST))
    assert len(client.replies()) == 5


def test_per_source_rate_in_real_time(
    make_probe: ProbeFactory, asker: Callable[..., Asker]
) -> None:
    server = make_probe(per_source=10)
    client = asker(server.address)
    started = time.monotonic()
    for _ in range(30):
        client.send(status_request(MIN_REQUEST))
    answers = client.replies()
    elapsed = time.monotonic() - started
    assert 10 <= len(answers) <= 10 + 10 * elapsed + 1
    assert server.stats()["rate_limited_source"] == 30 - len(answers)
    other = asker(server.address, "127.0.0.2")
    assert other.ask(status_request(MIN_REQUEST))["type"] == "status"


def test_global_cap(make_probe: ProbeFactory, asker: Callable[..., Asker]) -> None:
    server = make_probe(per_source=100, global_rate=5, clock=FakeClock())
    clients = [asker(server.address, f"127.0.0.{i}") for i in (1, 2, 3)]
    for client in clients:
        for _ in range(4):
            client.send(status_request(MIN_REQUEST))
    time.sleep(0.1)
    assert sum(len(client.replies(first=SILENCE)) for client in clients) == 5
    stats = server.stats()
    assert stats["answered"] == 5 and stats["rate_limited_global"] == 7
    assert stats["sources"] == 3


def test_a_failing_status_gives_no_answer_and_no_crash(
    make_probe: ProbeFactory, asker: Callable[..., Asker]
) -> None:
    broken = [True]

    def status() -> dict[str, object]:
        if broken[0]:
            raise RuntimeError("boom")
        return dict(STATUS)

    server = make_probe(status)
    client = asker(server.address)
    client.send(status_request())
    client.send(status_request())
    assert client.silent()
    assert server.stats()["errors"] == 2
    broken[0] = False
    assert client.ask(status_request())["type"] == "status"


def test_status_runs_on_a_thread_that_blocks_stop_signals(
    make_probe: ProbeFactory,
) -> None:
    seen: list[tuple[str, set[int | signal.Signals]]] = []

    def status() -> dict[str, object]:
        mask = signal.pthread_sigmask(signal.SIG_BLOCK, [])
        seen.append((threading.current_thread().name, set(mask)))
        return dict(STATUS)

    server = make_probe(status)
    host, port = server.address
    probe(host, port, timeout=WAIT)
    name, mask = seen[0]
    assert name == "status-probe"
    assert {signal.SIGINT, signal.SIGTERM} <= mask
    assert threading.current_thread().name != name


def test_stop_is_quick_idempotent_and_frees_the_port() -> None:
    server = StatusProbe("127.0.0.1", 0, lambda: dict(STATUS))
    server.stop()  # before start: nothing to do
    server.start()
    host, port = server.address
    with pytest.raises(RuntimeError):
        server.start()
    started = time.monotonic()
    server.stop()
    assert time.monotonic() - started < 1.0
    server.stop()
    assert not any(t.name == "status-probe" for t in threading.enumerate())
    with pytest.raises(RuntimeError):
        _ = server.address
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((host, port))


# ---------------------------------------------------------------------------- the client


def test_probe_times_out_on_a_silent_port() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
        silent.bind(("127.0.0.1", 0))
        started = time.monotonic()
        with pytest.raises(ProbeTimeout, match="no answer"):
            probe("127.0.0.1", silent.getsockname()[1], timeout=SILENCE)
        assert time.monotonic() - started < SILENCE + 1.0


def test_probe_of_a_closed_port_fails_clearly() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(ProbeError):  # refused on Linux, or at least a timeout
        probe("127.0.0.1", port, timeout=SILENCE)


@pytest.mark.parametrize(
    "answer", [b"not json", b'{"type":"error"}', b"[1,2]", b"\xff\xfe", b'"status"']
)
def test_probe_rejects_a_bad_answer(answer: bytes) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as fake:
        fake.bind(("127.0.0.1", 0))
        fake.settimeout(WAIT)

        def reply() -> None:
            _, source = fake.recvfrom(MAX_REQUEST + 1)
            fake.sendto(answer, source)

        thread = threading.Thread(target=reply, daemon=True)
        thread.start()
        with pytest.raises(ProbeError, match="answered"):
            probe("127.0.0.1", fake.getsockname()[1], timeout=WAIT)
        thread.join(WAIT)


def test_probe_of_an_unknown_host_fails_clearly() -> None:
    with pytest.raises(ProbeError, match="cannot resolve"):
        probe("no-such-host.invalid", 8089, timeout=SILENCE)
