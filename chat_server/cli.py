"""`chat-server`: parse options, build the core, and hand it to the chosen backend."""

from __future__ import annotations

import argparse
import ipaddress
import logging
import pathlib
import sqlite3
import ssl
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

import platformdirs

from chat_server import __version__, selfsigned
from chat_server.backends import BACKENDS, DEFAULT_BACKEND, BackendUnavailable, load_backend
from chat_server.backends.base import DEFAULT_WORKERS, SELECTORS, ServeOptions
from chat_server.backends.lifecycle import clients_allowed, raise_nofile_limit
from chat_server.backends.tls import server_context
from chat_server.core import AddressLimits, CoreConfig, FloodLimits, Hub
from chat_server.core.config import DEFAULT_EXEMPT
from chat_server.core.interfaces import Store
from chat_server.listeners import Listener, ListenError, open_listener, parse_listen
from chat_server.ops.http import OpsServer
from chat_server.probe import StatusProbe
from chat_server.store.memory import MemoryStore
from chat_server.store.sqlite import DURABILITY, SqliteStore, StoreError
from protocol import PROTOCOL_VERSION
from protocol.framing import MAX_FRAME_LIMIT
from protocol.names import normalize_nick

log = logging.getLogger("chat_server")


def _positive(value: str) -> int:
    number = int(value)
    if number <= 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {value}")
    return number


def _not_negative(value: str) -> int:
    number = int(value)
    if number < 0:
        raise argparse.ArgumentTypeError(f"must not be negative, got {value}")
    return number


def _positive_seconds(value: str) -> float:
    number = float(value)
    if not number > 0:
        raise argparse.ArgumentTypeError(f"must be a positive number, got {value}")
    return number


def _frame_size(value: str) -> int:
    number = _positive(value)
    if number < 256 or number > MAX_FRAME_LIMIT:
        raise argparse.ArgumentTypeError(f"must be between 256 and {MAX_FRAME_LIMIT}")
    return number


def _network(value: str) -> str:
    if value == "none":
        return value
    try:
        return str(ipaddress.ip_network(value, strict=False))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


@dataclass(frozen=True)
class _Limit:
    """One limit flag: where its value goes (`section.field` of CoreConfig) and what it means."""

    flag: str
    target: str
    kind: Callable[[str], object]
    help: str


# Every limit the core enforces, as flags; defaults come from CoreConfig (docs/protocol.md
# lists each with its error code).
LIMITS = (
    _Limit("--max-frame", "max_frame", _frame_size, "largest frame body accepted, in bytes"),
    _Limit("--history", "history", _not_negative, "messages replayed on join, at most"),
    _Limit("--max-clients", "max_clients", _positive, "connections accepted at once"),
    _Limit("--max-rooms", "max_rooms", _positive, "rooms in existence at once"),
    _Limit(
        "--max-rooms-per-client", "max_rooms_per_client", _positive, "rooms one connection joins"
    ),
    _Limit(
        "--max-outbuf",
        "max_outbuf",
        _positive,
        "soft output cap: bytes waiting for one client for longer than --outbuf-soft-seconds "
        "cut it as a slow consumer",
    ),
    _Limit("--outbuf-hard", "outbuf_hard", _positive, "hard output cap: cut at once beyond it"),
    _Limit(
        "--outbuf-soft-seconds",
        "outbuf_soft_seconds",
        _positive_seconds,
        "how long a client may stay over --max-outbuf",
    ),
    _Limit("--room-history-bytes", "room_history_bytes", _positive, "history held per room, bytes"),
    _Limit("--history-bytes", "history_bytes", _positive, "history held in all, bytes"),
    _Limit(
        "--idle-timeout",
        "idle_timeout",
        _positive_seconds,
        "seconds without a frame before a client is dropped",
    ),
    _Limit(
        "--hello-timeout",
        "hello_timeout",
        _positive_seconds,
        "seconds a new connection has to send hello",
    ),
    _Limit(
        "--max-combining", "max_combining", _positive, "combining marks on one character in text"
    ),
    _Limit("--flood-burst", "flood.burst", _positive, "requests a connection sends at once"),
    _Limit("--flood-rate", "flood.rate", _positive_seconds, "requests per second after the burst"),
    _Limit("--flood-bytes-burst", "flood.byte_burst", _positive, "bytes sent at once"),
    _Limit("--flood-bytes-rate", "flood.byte_rate", _positive_seconds, "bytes per second after it"),
    _Limit("--ping-burst", "flood.ping_burst", _positive, "pings sent at once"),
    _Limit("--ping-rate", "flood.ping_rate", _positive_seconds, "pings per second after it"),
    _Limit(
        "--flood-max-waiting",
        "flood.max_waiting",
        _positive,
        "requests held back by flood control...",
    ),
    _Limit(
        "--flood-max-seconds",
        "flood.max_waiting_seconds",
        _positive_seconds,
        "...for longer than this: disconnected with `flood`",
    ),
    _Limit("--max-per-address", "per_address.connections", _positive, "connections per address"),
    _Limit(
        "--connects-per-address",
        "per_address.connects",
        _positive,
        "new connections per address per --connect-window",
    ),
    _Limit("--connect-window", "per_address.connects_window", _positive_seconds, "seconds"),
    _Limit(
        "--rooms-per-address",
        "per_address.rooms_created",
        _positive,
        "rooms created per address per --rooms-window",
    ),
    _Limit("--rooms-window", "per_address.rooms_window", _positive_seconds, "seconds"),
    _Limit(
        "--bad-passwords",
        "per_address.bad_passwords",
        _positive,
        "failed passwords per address per --bad-password-window (never exempt)",
    ),
    _Limit(
        "--bad-password-window", "per_address.bad_passwords_window", _positive_seconds, "seconds"
    ),
    _Limit(
        "--account-bad-logins",
        "account_bad_logins",
        _positive,
        "failed logins to one account, from anywhere, per --account-bad-login-window",
    ),
    _Limit("--account-bad-login-window", "account_bad_logins_window", _positive_seconds, "seconds"),
    _Limit("--offline-dms", "max_offline_dms", _positive, "DMs stored for one offline account"),
    _Limit(
        "--room-ttl",
        "room_ttl_days",
        _positive_seconds,
        "days an empty room with no message is remembered",
    ),
)


def _default(defaults: CoreConfig, target: str) -> object:
    value: object = defaults
    for part in target.split("."):
        value = getattr(value, part)
    return value


def _dest(limit: _Limit) -> str:
    return limit.flag.lstrip("-").replace("-", "_")


def build_parser() -> argparse.ArgumentParser:
    defaults = CoreConfig()
    parser = argparse.ArgumentParser(
        prog="chat-server",
        description="wirechat server: chat rooms over length-prefixed JSON on TCP.",
    )
    parser.add_argument(
        "--backend",
        choices=sorted(BACKENDS),
        default=DEFAULT_BACKEND,
        help=f"IO backend (default: {DEFAULT_BACKEND})",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    parser.add_argument(
        "--port", type=int, default=8089, help="port to bind, 0 for any (default: 8089)"
    )
    parser.add_argument(
        "--selector",
        choices=list(SELECTORS),
        default="default",
        help="selectors backend only: the system call that waits for sockets "
        "(default: the best one here, epoll on Linux)",
    )
    parser.add_argument(
        "--workers",
        type=_positive,
        default=DEFAULT_WORKERS,
        help="threadpool backend only: pool size, which is also the most clients served at once "
        f"(default: {DEFAULT_WORKERS})",
    )
    store = parser.add_argument_group("store", "what the server remembers (docs/store.md)")
    store.add_argument(
        "--db",
        default=None,
        metavar="PATH",
        help="the SQLite database, created on first start, or :memory: to remember nothing "
        f"(default: {default_db_path()})",
    )
    store.add_argument(
        "--durability",
        choices=sorted(DURABILITY),
        default="normal",
        help="normal: an echoed message survives a crash of the server (WAL, synchronous=NORMAL);"
        " full: also a power loss (synchronous=FULL, an fsync per commit) (default: normal)",
    )
    store.add_argument(
        "--db-max-mb",
        type=_positive,
        default=None,
        metavar="MB",
        help="largest the database may grow, in MiB; beyond it history is not kept, and the "
        "server says so (default: no limit but the disk)",
    )
    parser.add_argument("--password", default=None, help="require this password in hello")
    parser.add_argument("--motd", default=None, help="message of the day sent in welcome")
    parser.add_argument(
        "--http",
        type=host_port,
        default=None,
        metavar="HOST:PORT",
        help="serve /metrics (Prometheus), /healthz and /readyz on this address, e.g. "
        "127.0.0.1:9089 (default: off; never the chat's port)",
    )
    parser.add_argument(
        "--listen",
        action="append",
        default=None,
        metavar="URL",
        help="where to listen (repeatable): tcp://HOST:PORT, tls://HOST:PORT or "
        "unix:///PATH (default: tcp://HOST:PORT from --host and --port)",
    )
    parser.add_argument("--tls-cert", default=None, metavar="PEM", help="for tls:// listeners")
    parser.add_argument("--tls-key", default=None, metavar="PEM", help="for tls:// listeners")
    parser.add_argument(
        "--tls-self-signed",
        action="store_true",
        help="without --tls-cert/--tls-key: a key and self-signed certificate made once in the "
        "data directory (clients pin its SHA-256 fingerprint, printed at start)",
    )
    parser.add_argument(
        "--unix-mode",
        type=lambda text: int(text, 8),
        default=0o660,
        metavar="OCTAL",
        help="permissions of unix:// sockets (default: 660)",
    )
    parser.add_argument(
        "--unix-group", default=None, metavar="GROUP", help="group of unix:// sockets"
    )
    parser.add_argument(
        "--local-nicks",
        choices=("prefix", "exact"),
        default="prefix",
        help="on unix:// sockets the nick is the login name (exact) or it or NAME-anything "
        "(prefix, the default)",
    )
    parser.add_argument(
        "--udp",
        type=host_port,
        default=None,
        metavar="HOST:PORT",
        help="answer UDP status probes (chat-client --probe) on this address, e.g. "
        "0.0.0.0:8089 (default: off; see docs/operations.md)",
    )
    parser.add_argument(
        "--admin",
        action="append",
        default=[],
        metavar="NAME",
        help="an account that is owner in every room and may kill, server-ban and wall "
        "(repeatable; the account must be registered and logged in to act)",
    )
    parser.add_argument(
        "--log-level",
        default="info",
        choices=["debug", "info", "warning", "error"],
        help="log verbosity on stderr (default: info)",
    )
    limits = parser.add_argument_group(
        "limits", "what one client or one address may do (docs/protocol.md, 'Limits')"
    )
    limits.add_argument(
        "--exempt",
        action="append",
        type=_network,
        metavar="CIDR",
        help="networks that skip the per-address caps, the connect throttle and flood control "
        "(repeatable; 'none' for no exemption; default: " + ", ".join(DEFAULT_EXEMPT) + ")",
    )
    for limit in LIMITS:
        default = _default(defaults, limit.target)
        shown = f"{default:g}" if isinstance(default, float) else str(default)
        limits.add_argument(
            limit.flag,
            dest=_dest(limit),
            type=limit.kind,
            default=default,
            metavar="SECONDS" if limit.flag.endswith(("-window", "-seconds", "-timeout")) else "N",
            help=f"{limit.help} (default: {shown})",
        )
    return parser


def open_all(args: argparse.Namespace) -> tuple[list[Listener], ssl.SSLContext | None]:
    """Every --listen listener, bound (the default: tcp:// on --host and --port), and the
    TLS context when one is tls://."""
    urls = args.listen or [f"tcp://{_bracketed(args.host)}:{args.port}"]
    specs = [parse_listen(url) for url in urls]
    tls = None
    if any(spec.kind == "tls" for spec in specs):
        cert, key = args.tls_cert, args.tls_key
        if (cert is None or key is None) and args.tls_self_signed:
            cert_path, key_path, made = selfsigned.ensure(default_data_dir())
            cert, key = str(cert_path), str(key_path)
            log.info(
                "%s self-signed certificate %s, SHA-256 fingerprint %s",
                "made a" if made else "using the",
                cert,
                selfsigned.fingerprint(cert_path),
            )
        if cert is None or key is None:
            raise ListenError(
                "a tls:// listener needs --tls-cert and --tls-key (or --tls-self-signed)"
            )
        tls = server_context(cert, key)
    opened: list[Listener] = []
    try:
        for spec in specs:
            opened.append(open_listener(spec, mode=args.unix_mode, group=args.unix_group))
    except BaseException:
        for listener in opened:
            listener.close()
        raise
    return opened, tls


def _bracketed(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def status_of(hub: Hub, listeners: list[str]) -> Callable[[], dict[str, object]]:
    """What a UDP status probe answers (read on the probe's thread: counters and lengths)."""
    started = time.monotonic()

    def status() -> dict[str, object]:
        return {
            "name": hub.config.server_name,
            "version": __version__,
            "backend": hub.backend,
            "protocol": PROTOCOL_VERSION,
            "users": hub.counts.registered,
            "rooms": len(hub.rooms),
            "uptime": int(time.monotonic() - started),
            "listeners": list(listeners),
        }

    return status


def host_port(text: str) -> tuple[str, int]:
    """`HOST:PORT` or `[IPV6]:PORT`."""
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not host or int(port) > 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not HOST:PORT")
    return host.strip("[]"), int(port)


def _admin_name(name: str) -> str:
    try:
        return normalize_nick(name)
    except ValueError as exc:
        raise SystemExit(f"chat-server: --admin {name!r}: {exc}") from None


def config_from(args: argparse.Namespace) -> CoreConfig:
    """The CoreConfig the parsed flags describe."""
    top: dict[str, object] = {}
    flood: dict[str, object] = {}
    per_address: dict[str, object] = {}
    for limit in LIMITS:
        section, _, name = limit.target.rpartition(".")
        {"": top, "flood": flood, "per_address": per_address}[section][name or section] = getattr(
            args, _dest(limit)
        )
    exempt = DEFAULT_EXEMPT if args.exempt is None else tuple(n for n in args.exempt if n != "none")
    return CoreConfig(
        **top,  # type: ignore[arg-type]
        flood=replace(FloodLimits(), **flood),  # type: ignore[arg-type]
        per_address=replace(AddressLimits(), **per_address),  # type: ignore[arg-type]
        exempt=exempt,
        password=args.password,
        admins=tuple(_admin_name(name) for name in args.admin),
        local_nicks=args.local_nicks,
        motd=args.motd,
    )


def check_config(config: CoreConfig) -> str | None:
    """A problem no single flag shows, or None."""
    if config.flood.byte_burst < config.max_frame + 4:
        return "--flood-bytes-burst must hold at least one frame of --max-frame bytes"
    return None


def fit_descriptors(config: CoreConfig, backend: str) -> CoreConfig:
    """Raise the open-files limit as far as allowed, and lower --max-clients to what fits."""
    nofile = raise_nofile_limit()
    allowed = clients_allowed(nofile)
    if config.max_clients > allowed:
        log.warning(
            "--max-clients %d is above what %d open files allow; serving at most %d clients "
            "(raise the hard limit, e.g. LimitNOFILE= in a systemd unit, for more)",
            config.max_clients,
            nofile,
            allowed,
        )
        return replace(config, max_clients=allowed)
    return config


def default_data_dir() -> pathlib.Path:
    """The user's data directory (platformdirs: ~/.local/share/wirechat)."""
    return pathlib.Path(platformdirs.user_data_dir("wirechat"))


def default_db_path() -> pathlib.Path:
    """`wirechat.db` in the user's data directory."""
    return default_data_dir() / "wirechat.db"


def store_from(args: argparse.Namespace) -> Store:
    if args.db == ":memory:":
        return MemoryStore()
    path = pathlib.Path(args.db) if args.db is not None else default_db_path()
    max_bytes = None if args.db_max_mb is None else args.db_max_mb << 20
    return SqliteStore(path, durability=args.durability, max_bytes=max_bytes)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(),
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(message)s",
    )
    try:
        serve = load_backend(args.backend)
    except BackendUnavailable as exc:
        print(f"chat-server: {exc}", file=sys.stderr)
        return 1
    config = config_from(args)
    problem = check_config(config)
    if problem is not None:
        print(f"chat-server: {problem}", file=sys.stderr)
        return 2
    try:
        hub = Hub(
            fit_descriptors(config, args.backend), backend=args.backend, store=store_from(args)
        )
    except (StoreError, OSError, sqlite3.Error) as exc:
        print(f"chat-server: cannot open the database: {exc}", file=sys.stderr)
        return 1

    listening = threading.Event()
    listeners: list[str] = []
    try:
        opened, tls = open_all(args)
    except (ListenError, OSError, ValueError, ssl.SSLError) as exc:
        print(f"chat-server: cannot listen: {exc}", file=sys.stderr)
        hub.store.close()
        return 1

    def ready(host: str, port: int) -> None:
        log.info("listening on %s:%d backend=%s", host, port, args.backend)

    def served(urls: list[str]) -> None:
        log.info("serving %s", " ".join(urls))
        listeners.extend(urls)
        listening.set()

    probe = None
    if args.udp is not None:
        udp_host, udp_port = args.udp
        probe = StatusProbe(udp_host, udp_port, status_of(hub, listeners))
        try:
            probe.start()
        except OSError as exc:
            print(
                f"chat-server: cannot answer probes on UDP {args.udp[0]}:{args.udp[1]}: {exc}",
                file=sys.stderr,
            )
            hub.store.close()
            return 1
        log.info("answering status probes on udp %s:%d", *probe.address[:2])

    ops = None
    if args.http is not None:
        try:
            http_host, http_port = args.http
            ops = OpsServer(http_host, http_port, hub, listening.is_set, probe)
        except OSError as exc:
            print(
                f"chat-server: cannot serve HTTP on {args.http[0]}:{args.http[1]}: {exc}",
                file=sys.stderr,
            )
            hub.store.close()
            return 1
        ops.start()
        log.info("metrics and health on %s (/metrics, /healthz, /readyz)", ops.url)

    try:
        options = ServeOptions(
            host=args.host,
            port=args.port,
            ready=ready,
            selector=args.selector,
            workers=args.workers,
            listeners=opened,
            listening=served,
            tls=tls,
            handshake_timeout=config.hello_timeout,
        )
        serve(hub, options)
    except BackendUnavailable as exc:
        print(f"chat-server: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"chat-server: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        pass
    finally:
        listening.clear()
        if ops is not None:
            ops.stop()
        if probe is not None:
            probe.stop()
        hub.store.close()  # if the backend never got to shut down: what is queued is kept
    log.info("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
