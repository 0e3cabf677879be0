"""The limits a request or a connection must pass, as one layer the handlers consult.

- `FloodGuard`: per-connection token buckets over requests, bytes and pings. Over budget, a
  request is not refused: the Hub holds it and stops reading the connection until the bucket
  refills (backpressure), so a flooder slows down and the room does not.
- `AddressGuard`: caps per source address (concurrent connections, connects per window, rooms
  created per window, failed passwords per window), and failed logins per account. IPv4 counts per address, IPv6 per /64, so
  one host cannot escape the caps by walking its own prefix. Exempt networks skip everything
  but the password throttle.

Each refusal is a ProtocolError carrying its wire code and, where waiting helps, `retry_after`.
"""

from __future__ import annotations

import ipaddress
import math
from collections import deque
from collections.abc import Iterable

from chat_server.core.config import AddressLimits, FloodLimits
from protocol import ErrorCode, ProtocolError

#: Requests that take from the ping bucket instead of the request bucket. Every other request
#: (`quit` included: a refused one leaves the connection open) takes from the request bucket.
PING = "ping"


class TokenBucket:
    """`capacity` tokens, refilled at `rate` per second."""

    __slots__ = ("capacity", "last", "rate", "tokens")

    def __init__(self, capacity: float, rate: float, now: float) -> None:
        self.capacity = capacity
        self.rate = rate
        self.tokens = capacity
        self.last = now

    def refill(self, now: float) -> float:
        if now > self.last:
            self.tokens = min(self.capacity, self.tokens + (now - self.last) * self.rate)
            self.last = now
        return self.tokens

    def wait_for(self, cost: float, now: float) -> float:
        """Seconds until `cost` tokens are there (0.0: now)."""
        missing = min(cost, self.capacity) - self.refill(now)
        return 0.0 if missing <= 0 else missing / self.rate


class FloodGuard:
    """The buckets of one connection."""

    __slots__ = ("bytes", "pings", "requests")

    def __init__(self, limits: FloodLimits, now: float) -> None:
        self.requests = TokenBucket(limits.burst, limits.rate, now)
        self.bytes = TokenBucket(limits.byte_burst, limits.byte_rate, now)
        self.pings = TokenBucket(limits.ping_burst, limits.ping_rate, now)

    def take(self, kind: str, size: int, now: float) -> float:
        """Charge one request of type `kind` and `size` bytes; if the budget is short, charge
        nothing and return how many seconds to wait."""
        bucket = self.pings if kind == PING else self.requests
        wait = max(self.bytes.wait_for(size, now), bucket.wait_for(1, now))
        if wait > 0:
            return wait
        self.bytes.tokens -= min(size, self.bytes.capacity)
        bucket.tokens -= 1
        return 0.0


class _Window:
    """Event times of one address within a sliding window, at most `limit` of them."""

    __slots__ = ("times",)

    def __init__(self, limit: int) -> None:
        self.times: deque[float] = deque(maxlen=max(1, limit))

    def retry_after(self, limit: int, window: float, now: float) -> float:
        """0.0 if one more event fits in the window now, else seconds until it does."""
        times = self.times
        while times and times[0] <= now - window:
            times.popleft()
        if len(times) < limit:
            return 0.0
        return times[0] + window - now


def _count(
    table: dict[str, _Window],
    address: str,
    limit: int,
    span: float,
    now: float,
    code: ErrorCode,
    what: str,
) -> None:
    """Record one event for `address` in `table`, or refuse it with `code` and `retry_after`
    when `limit` of them already fall within the last `span` seconds."""
    window = table.setdefault(address, _Window(limit))
    wait = window.retry_after(limit, span, now)
    if wait:
        raise ProtocolError(
            code,
            f"more than {limit} {what} from your address in {span:g} seconds",
            retry_after=wait,
        )
    window.times.append(now)


def parse_address(host: str | None) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """A peer's IP address (an IPv4-mapped IPv6 one as IPv4, the zone of a link-local one
    dropped), or None when `host` is none (a local socket, an unusual name)."""
    if host is None:
        return None
    try:
        ip = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def address_bucket(host: str | None) -> str | None:
    """The key the per-address caps count under: the IPv4 address, or the IPv6 /64."""
    ip = parse_address(host)
    if ip is None:
        return host
    if isinstance(ip, ipaddress.IPv6Address):
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


class AddressGuard:
    """Per-address counters and windows, and the exempt networks."""

    def __init__(
        self,
        limits: AddressLimits,
        exempt: Iterable[str],
        account_logins: int = 10,
        account_logins_window: float = 600.0,
    ) -> None:
        self.limits = limits
        self.account_logins = account_logins
        self.account_logins_window = account_logins_window
        self._logins: dict[str, _Window] = {}
        self.exempt = tuple(ipaddress.ip_network(net, strict=False) for net in exempt)
        self.connections: dict[str, int] = {}
        self._connects: dict[str, _Window] = {}
        self._rooms: dict[str, _Window] = {}
        self._passwords: dict[str, _Window] = {}

    def is_exempt(self, host: str | None) -> bool:
        ip = parse_address(host)
        return ip is not None and any(ip in net for net in self.exempt)

    def admit(self, address: str, now: float) -> None:
        """A new connection from `address` (not exempt): count it, or refuse it."""
        limits = self.limits
        held = self.connections.get(address, 0)
        if held >= limits.connections:
            raise ProtocolError(
                ErrorCode.TOO_MANY_CONNECTIONS,
                f"your address already has {limits.connections} connections open",
            )
        _count(
            self._connects,
            address,
            limits.connects,
            limits.connects_window,
            now,
            ErrorCode.TOO_MANY_CONNECTIONS,
            "new connections",
        )
        self.connections[address] = held + 1

    def release(self, address: str) -> None:
        held = self.connections.get(address, 0) - 1
        if held > 0:
            self.connections[address] = held
        else:
            self.connections.pop(address, None)

    def create_room(self, address: str, now: float) -> None:
        """Count a room created from `address`, or raise `rate_limited`."""
        limits = self.limits
        _count(
            self._rooms,
            address,
            limits.rooms_created,
            limits.rooms_window,
            now,
            ErrorCode.RATE_LIMITED,
            "new rooms",
        )

    def password_throttled(self, address: str, now: float) -> float:
        """Seconds until `address` may try a password again (0.0: now)."""
        limits = self.limits
        window = self._passwords.get(address)
        if window is None:
            return 0.0
        return window.retry_after(limits.bad_passwords, limits.bad_passwords_window, now)

    def check_passwords(self, address: str, now: float, *, fatal: bool) -> None:
        """Raise `rate_limited` when `address` failed too many passwords lately (the server
        password and account passwords alike): the next one is then not even checked."""
        wait = self.password_throttled(address, now)
        if wait:
            limits = self.limits
            raise ProtocolError(
                ErrorCode.RATE_LIMITED,
                f"more than {limits.bad_passwords} wrong passwords from your address in "
                f"{limits.bad_passwords_window:g} seconds",
                fatal=fatal,
                retry_after=wait,
            )

    def password_failed(self, address: str, now: float) -> None:
        window = self._passwords.setdefault(address, _Window(self.limits.bad_passwords))
        window.times.append(now)

    def login_throttled(self, account: str, now: float) -> float:
        """Seconds until account `account` (its key) may be tried again (0.0: now): failed
        logins count per account too, whatever address they come from."""
        window = self._logins.get(account)
        if window is None:
            return 0.0
        return window.retry_after(self.account_logins, self.account_logins_window, now)

    def check_logins(self, account: str, name: str, now: float) -> None:
        """Raise `rate_limited` (not fatal) when account `account` (called `name`) failed too
        many logins lately, from anywhere."""
        wait = self.login_throttled(account, now)
        if wait:
            raise ProtocolError(
                ErrorCode.RATE_LIMITED,
                f"more than {self.account_logins} failed logins to {name} in "
                f"{self.account_logins_window:g} seconds",
                retry_after=wait,
            )

    def login_failed(self, account: str, now: float) -> None:
        window = self._logins.setdefault(account, _Window(self.account_logins))
        window.times.append(now)

    def prune(self, now: float) -> None:
        """Forget windows with no event left in them (call now and then)."""
        limits = self.limits
        for table, span in (
            (self._connects, limits.connects_window),
            (self._rooms, limits.rooms_window),
            (self._passwords, limits.bad_passwords_window),
            (self._logins, self.account_logins_window),
        ):
            stale = [a for a, w in table.items() if not w.times or w.times[-1] <= now - span]
            for address in stale:
                del table[address]


def retry_seconds(wait: float) -> int:
    """`retry_after` as sent: whole seconds, rounded up, at least 1."""
    return max(1, math.ceil(wait))
