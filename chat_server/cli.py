"""`chat-server`: read the settings, build the core, and hand it to the chosen backend.

The settings themselves (their names, sources, checks) are chat_server.settings; every
setting has a flag here, generated from the model, plus --config, --print-config and
--check-config. SIGHUP reloads them (chat_server.reload).
"""

from __future__ import annotations

import argparse
import logging
import pathlib
import sqlite3
import ssl
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

import platformdirs

from chat_server import __version__, selfsigned
from chat_server.backends import BackendUnavailable, load_backend
from chat_server.backends.base import ServeOptions
from chat_server.backends.lifecycle import clients_allowed, raise_nofile_limit
from chat_server.backends.tls import Certificate
from chat_server.core import CoreConfig, Hub
from chat_server.core.interfaces import Store
from chat_server.listeners import Listener, ListenError, open_listener, parse_listen
from chat_server.ops.http import OpsServer
from chat_server.probe import StatusProbe
from chat_server.reload import reload
from chat_server.settings import (
    KINDS,
    Loaded,
    Settings,
    SettingsError,
    about,
    core_config,
    default_config_path,
    default_db_path,
    default_text,
    describe,
    flag_of,
    flags_given,
    frame_fits,
    help_of,
    load,
)
from chat_server.store.memory import MemoryStore
from chat_server.store.sqlite import SqliteStore, StoreError
from protocol import PROTOCOL_VERSION

log = logging.getLogger("chat_server")


class _Parser(argparse.ArgumentParser):
    """chat-server's flags, two ways. `given()`, which `main` uses, keeps each setting's flag
    as its text (None when not given), for chat_server.settings to check together with the
    file and the environment. `parse_args` is for callers that build a server from flags
    alone (tests, embedders): it checks them over the defaults, with no file and no
    environment, and returns each setting's value, typed, plus `settings` (a Settings)."""

    def given(self, argv: Sequence[str] | None = None) -> argparse.Namespace:
        """The flags as given: each setting's text (a list for a repeatable one), or None."""
        args, extras = super().parse_known_args(argv)
        if extras:
            self.error(f"unrecognized arguments: {' '.join(extras)}")
        return args

    def parse_known_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: Any = None
    ) -> tuple[argparse.Namespace, list[str]]:
        parsed, extras = super().parse_known_args(args, namespace)
        try:
            settings = load(flags_given(parsed), use_file=False, use_env=False).settings
        except SettingsError as exc:
            self.exit(2, "".join(f"{self.prog}: {problem}\n" for problem in exc.problems))
        for name in Settings.model_fields:
            setattr(parsed, name, getattr(settings, name))
        parsed.settings = settings
        return parsed, extras


def build_parser() -> _Parser:
    parser = _Parser(
        prog="chat-server",
        description="wirechat server: chat rooms over length-prefixed JSON on TCP. Settings "
        "also come from a TOML file and WIRECHAT_* variables (docs/operations.md, "
        "'Configuration'); a flag beats both.",
    )
    parser.add_argument(
        "--config",
        type=pathlib.Path,
        default=None,
        metavar="FILE",
        help=f"the settings file (default: {default_config_path()}, if it exists)",
    )
    parser.add_argument(
        "--print-config",
        action="store_true",
        help="print the settings in effect, each with where it came from, and exit",
    )
    parser.add_argument(
        "--check-config",
        action="store_true",
        help="check the settings and exit: 0 if they are fine, 2 otherwise",
    )
    groups = {
        "store": parser.add_argument_group("store", "what the server remembers (docs/store.md)"),
        "limits": parser.add_argument_group(
            "limits", "what one client or one address may do (docs/protocol.md, 'Limits')"
        ),
    }
    for name in Settings.model_fields:
        _add_flag(groups.get(about(name).get("group", ""), parser), name)
    return parser


def _add_flag(group: argparse._ActionsContainer, name: str) -> None:
    """The flag of setting `name`: its text is kept, for chat_server.settings to check."""
    info = about(name)
    kind = KINDS[name][0]
    help = help_of(name)
    if "(default:" not in help and kind != "boolean":  # a switch: off unless given
        help += f" (default: {default_text(name)})"
    if kind == "boolean":
        group.add_argument(flag_of(name), dest=name, action="store_true", default=None, help=help)
        return
    metavar = info.get("metavar")
    if "choices" in info:
        metavar = "{" + ",".join(info["choices"]) + "}"
    elif metavar is None and info.get("group") == "limits":
        metavar = "SECONDS" if name.endswith(("_window", "_seconds", "_timeout")) else "N"
    group.add_argument(
        flag_of(name),
        dest=name,
        action="append" if kind == "list" else "store",
        default=None,
        metavar=metavar,
        help=help,
    )


def config_from(args: argparse.Namespace) -> CoreConfig:
    """The CoreConfig of flags parsed by `build_parser().parse_args` (the flags alone)."""
    settings: Settings = args.settings
    return core_config(settings)


def check_config(config: CoreConfig) -> str | None:
    """A problem no single flag shows, or None."""
    if not frame_fits(config.max_frame, config.flood.byte_burst):
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


def store_from(settings: Settings | argparse.Namespace) -> Store:
    """The store that `db`, `durability` and `db_max_mb` describe."""
    if settings.db == ":memory:":
        return MemoryStore()
    path = pathlib.Path(settings.db) if settings.db is not None else default_db_path()
    max_bytes = None if settings.db_max_mb is None else settings.db_max_mb << 20
    return SqliteStore(path, durability=settings.durability, max_bytes=max_bytes)


def open_all(settings: Settings) -> tuple[list[Listener], Certificate | None]:
    """Every --listen listener, bound (the default: tcp:// on --host and --port), and the
    TLS context when one is tls://."""
    urls = settings.listen or [f"tcp://{_bracketed(settings.host)}:{settings.port}"]
    specs = [parse_listen(url) for url in urls]
    tls = None
    if any(spec.kind == "tls" for spec in specs):
        cert, key = settings.tls_cert, settings.tls_key
        if (cert is None or key is None) and settings.tls_self_signed:
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
        tls = Certificate(cert, key)
    opened: list[Listener] = []
    try:
        for spec in specs:
            opened.append(open_listener(spec, mode=settings.unix_mode, group=settings.unix_group))
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


def main(argv: list[str] | None = None) -> int:
    args = build_parser().given(argv)
    try:
        loaded = load(flags_given(args), args.config)
    except SettingsError as exc:
        for problem in exc.problems:
            print(f"chat-server: {problem}", file=sys.stderr)
        return 2
    if args.print_config:
        print("\n".join(describe(loaded)))
        return 0
    if args.check_config:
        where = f"file: {loaded.file}" if loaded.file is not None else "no settings file"
        print(f"chat-server: the settings are valid ({where})")
        return 0
    return run(loaded)


def run(loaded: Loaded) -> int:
    """Build the core, the store and the listeners the settings describe, and serve until
    SIGINT or SIGTERM (SIGHUP reloads the settings)."""
    settings = loaded.settings
    logging.basicConfig(
        level=settings.log_level.upper(),
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(message)s",
    )
    if loaded.file is not None:
        log.info("settings from %s", loaded.file)
    backend = settings.backend
    try:
        serve_with = load_backend(backend)
    except BackendUnavailable as exc:
        print(f"chat-server: {exc}", file=sys.stderr)
        return 1
    config = core_config(settings)
    try:
        hub = Hub(fit_descriptors(config, backend), backend=backend, store=store_from(settings))
    except (StoreError, OSError, sqlite3.Error) as exc:
        print(f"chat-server: cannot open the database: {exc}", file=sys.stderr)
        return 1

    listening = threading.Event()
    listeners: list[str] = []
    try:
        opened, tls = open_all(settings)
    except (ListenError, OSError, ValueError, ssl.SSLError) as exc:
        print(f"chat-server: cannot listen: {exc}", file=sys.stderr)
        hub.store.close()
        return 1

    def ready(host: str, port: int) -> None:
        log.info("listening on %s:%d backend=%s", host, port, backend)

    def served(urls: list[str]) -> None:
        log.info("serving %s", " ".join(urls))
        listeners.extend(urls)
        listening.set()

    current = loaded

    def fit(config: CoreConfig) -> CoreConfig:
        if config.max_clients == current.settings.max_clients:  # fitted once is enough
            return replace(config, max_clients=hub.config.max_clients)
        return fit_descriptors(config, backend)

    def reload_settings() -> None:  # on SIGHUP, on the core's thread
        nonlocal current
        current = reload(hub, current, fit)
        if tls is not None:  # the same files again: a renewed certificate, for new connections
            problem = tls.reload()
            if problem is None:
                log.info("reload: TLS certificate %s loaded again for new connections", tls.cert)
            else:
                log.error(
                    "reload: TLS certificate %s not loaded (%s); keeping the old one",
                    tls.cert,
                    problem,
                )

    probe = None
    if settings.udp is not None:
        udp_host, udp_port = settings.udp
        probe = StatusProbe(udp_host, udp_port, status_of(hub, listeners))
        try:
            probe.start()
        except OSError as exc:
            print(
                f"chat-server: cannot answer probes on UDP {udp_host}:{udp_port}: {exc}",
                file=sys.stderr,
            )
            hub.store.close()
            return 1
        log.info("answering status probes on udp %s:%d", *probe.address[:2])

    ops = None
    if settings.http is not None:
        http_host, http_port = settings.http
        try:
            ops = OpsServer(http_host, http_port, hub, listening.is_set, probe)
        except OSError as exc:
            print(
                f"chat-server: cannot serve HTTP on {http_host}:{http_port}: {exc}", file=sys.stderr
            )
            hub.store.close()
            return 1
        ops.start()
        log.info("metrics and health on %s (/metrics, /healthz, /readyz)", ops.url)

    try:
        options = ServeOptions(
            host=settings.host,
            port=settings.port,
            ready=ready,
            selector=settings.selector,
            workers=settings.workers,
            listeners=opened,
            listening=served,
            tls=None if tls is None else tls.context,
            reload=reload_settings,
        )
        serve_with(hub, options)
    except BackendUnavailable as exc:
        print(f"chat-server: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(
            f"chat-server: cannot listen on {settings.host}:{settings.port}: {exc}",
            file=sys.stderr,
        )
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
