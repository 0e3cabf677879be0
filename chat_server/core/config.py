"""The core's settings: limits and identity, with the defaults the CLI and docs/protocol.md give."""

from __future__ import annotations

from dataclasses import dataclass, field

from protocol import DEFAULT_MAX_FRAME
from protocol.names import MAX_TEXT_LENGTH, MAX_TOPIC_LENGTH
from protocol.presence import MAX_AWAY_LENGTH

#: Password checks (argon2id: register, logins, passwd, room keys) running or queued at once,
#: server-wide, at most: beyond `max_password_checks` they are refused for a moment
#: (`rate_limited`). The setting may lower it, never raise it.
MAX_PASSWORD_CHECKS = 32

#: Largest `history`, `room_list` and `members` reply, in bytes of JSON body.
REPLY_BUDGET = 256 * 1024
#: Addresses exempt from the per-address caps and flood control unless configured otherwise.
DEFAULT_EXEMPT = ("127.0.0.1/32", "::1/128")


@dataclass(frozen=True, slots=True)
class FloodLimits:
    """Per-connection token buckets (ergo's fakelag): over budget, the server stops reading."""

    burst: int = 16  # requests taken at once
    rate: float = 4.0  # requests per second after the burst
    byte_burst: int = 256 * 1024
    byte_rate: float = 64 * 1024.0  # bytes per second after the burst
    ping_burst: int = 8  # `ping` has its own small budget
    ping_rate: float = 2.0
    max_waiting: int = 64  # requests read but held back...
    max_waiting_seconds: float = 10.0  # ...for longer than this: fatal `flood`


@dataclass(frozen=True, slots=True)
class AddressLimits:
    """Caps per source address (IPv4 /32, IPv6 /64), skipped for exempt networks."""

    connections: int = 16  # concurrent connections
    connects: int = 10  # new connections...
    connects_window: float = 10.0  # ...per this many seconds
    rooms_created: int = 20  # new rooms...
    rooms_window: float = 60.0  # ...per this many seconds
    bad_passwords: int = 5  # failed `hello` passwords...
    bad_passwords_window: float = 60.0  # ...per this many seconds (never exempt)


@dataclass(frozen=True, slots=True)
class CoreConfig:
    max_frame: int = DEFAULT_MAX_FRAME
    history: int = 100  # messages replayed on join, at most
    max_clients: int = 20_000
    max_rooms_per_client: int = 100
    max_rooms: int = 10_000  # rooms in existence at once: `limit_reached` beyond
    # Output caps, as Redis applies them to its clients: beyond `max_outbuf` (the soft limit)
    # for `outbuf_soft_seconds`, or beyond `outbuf_hard` at any moment, the connection is cut
    # as a slow consumer. Both count what the core holds plus what the backend has not sent. The hard cap is never below the soft one (a larger --max-outbuf raises it).
    max_outbuf: int = 1 << 20
    outbuf_hard: int = 8 << 20
    outbuf_soft_seconds: float = 10.0
    # Memory held as room history (encoded bytes): per room and across the server.
    room_history_bytes: int = 1 << 20
    history_bytes: int = 256 << 20
    idle_timeout: float = 300.0  # seconds without any frame from a client before it is dropped
    hello_timeout: float = 10.0  # seconds a new connection has to register with `hello`
    max_combining: int = 4  # combining marks on one base character in text
    # Longest text of `say` and `dm`, topic and away message, in characters: at most the
    # protocol's own limits (protocol.names, protocol.presence), which the settings only lower.
    max_text: int = MAX_TEXT_LENGTH
    max_topic: int = MAX_TOPIC_LENGTH
    max_away: int = MAX_AWAY_LENGTH
    # Failed account logins per account (from any address) within the window: beyond it,
    # logins to that account get `rate_limited` until the window slides.
    account_bad_logins: int = 10
    account_bad_logins_window: float = 600.0
    max_password_checks: int = MAX_PASSWORD_CHECKS  # at once, server-wide: `rate_limited` beyond
    max_offline_dms: int = 500  # stored DMs per offline account; the oldest go first
    room_ttl_days: float = 30.0  # an empty room with no message for this long is forgotten
    flood: FloodLimits = field(default_factory=FloodLimits)
    per_address: AddressLimits = field(default_factory=AddressLimits)
    exempt: tuple[str, ...] = DEFAULT_EXEMPT  # CIDR networks
    password: str | None = None
    admins: tuple[str, ...] = ()  # account names that act as owner everywhere (--admin)
    # On the Unix socket the nick is the login name (`exact`), or it or `NAME-anything`
    # (`prefix`, the default: alice, alice-laptop).
    local_nicks: str = "prefix"
    motd: str | None = None
    server_name: str = "wirechat"
