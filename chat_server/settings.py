"""Where the server's settings come from, and how each one is validated.

Four sources, each beating the one before: the defaults, a TOML file (`--config FILE`, else
`wirechat.toml` in the user's config directory when it exists), `WIRECHAT_<SETTING>`
environment variables, and the flags. A setting is named as its flag without the dashes,
with underscores: `--max-clients` is `max_clients` in the file and `WIRECHAT_MAX_CLIENTS`
in the environment. A list (`admin`, `exempt`) from a higher source replaces the lower one's
whole; lists are never merged. The environment gives lists comma-separated.

The sources are merged first, then `Settings` validates every value once, knowing where it
came from: text (the environment, the flags) is parsed, while a TOML value must already have
the right type (`max_clients = "10"` is an error). Each bad value gives one message naming
its source, collected in `SettingsError.problems`; so does a key the file should not have.
docs/operations.md ("Configuration") is the operator's side of this.
"""

from __future__ import annotations

import difflib
import ipaddress
import json
import math
import pathlib
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, replace
from types import UnionType
from typing import Annotated, Any, Literal, Union, cast, get_args, get_origin

import platformdirs
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from pydantic_settings import BaseSettings, EnvSettingsSource, NoDecode, TomlConfigSettingsSource

from chat_server.backends import BACKENDS, DEFAULT_BACKEND
from chat_server.backends.base import DEFAULT_WORKERS, SELECTORS
from chat_server.core.config import (
    DEFAULT_EXEMPT,
    MAX_PASSWORD_CHECKS,
    AddressLimits,
    CoreConfig,
    FloodLimits,
)
from chat_server.listeners import ListenError, parse_listen
from chat_server.store.sqlite import DURABILITY
from protocol.framing import MAX_FRAME_LIMIT
from protocol.names import MAX_TEXT_LENGTH, MAX_TOPIC_LENGTH, normalize_nick
from protocol.presence import MAX_AWAY_LENGTH

#: The prefix of the environment variables: `WIRECHAT_MAX_CLIENTS` sets `max_clients`.
ENV_PREFIX = "WIRECHAT_"
LOG_LEVELS = ("debug", "info", "warning", "error")
_CORE = CoreConfig()


def default_config_path() -> pathlib.Path:
    """`wirechat.toml` in the user's config directory (platformdirs: ~/.config/wirechat)."""
    return pathlib.Path(platformdirs.user_config_dir("wirechat")) / "wirechat.toml"


def default_db_path() -> pathlib.Path:
    """`wirechat.db` in the user's data directory (platformdirs: ~/.local/share/wirechat)."""
    return pathlib.Path(platformdirs.user_data_dir("wirechat")) / "wirechat.db"


# ---------------------------------------------------------------------- checks of one value


def _positive(number: int) -> int:
    if number <= 0:
        raise ValueError("must be positive")
    return number


def _not_negative(number: int) -> int:
    if number < 0:
        raise ValueError("must not be negative")
    return number


def _positive_number(number: float) -> float:
    if not (number > 0 and math.isfinite(number)):
        raise ValueError("must be a positive number")
    return number


def _frame_size(number: int) -> int:
    if not 256 <= number <= MAX_FRAME_LIMIT:
        raise ValueError(f"must be between 256 and {MAX_FRAME_LIMIT}")
    return number


def _lowering(most: int, whose: str) -> Any:
    """A limit that may be lowered from `most` (whose limit it is), never raised above it."""

    def check(number: int) -> int:
        if not 1 <= number <= most:
            raise ValueError(
                f"must be between 1 and {most} ({whose} limit, which this setting can only lower)"
            )
        return number

    return AfterValidator(check)


def _port(number: int) -> int:
    if not 0 <= number <= 65535:
        raise ValueError("must be between 0 and 65535 (0: any free port)")
    return number


def _not_empty(text: str) -> str:
    if not text:
        raise ValueError("must not be empty")
    return text


def _host_port(text: object) -> object:
    """`HOST:PORT` or `[IPV6]:PORT` as (host, port)."""
    if not isinstance(text, str):
        return text
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not host.strip("[]") or int(port) > 65535:
        raise ValueError("is not HOST:PORT (e.g. 127.0.0.1:9089)")
    return host.strip("[]"), int(port)


def _names(names: tuple[str, ...]) -> tuple[str, ...]:
    checked = []
    for name in names:
        try:
            checked.append(normalize_nick(name))
        except ValueError as exc:
            raise ValueError(f"{name!r}: {exc}") from None
    return tuple(checked)


def _networks(networks: tuple[str, ...]) -> tuple[str, ...]:
    checked = []
    for network in networks:
        if network == "none":  # `--exempt none`: no exemption at all
            continue
        try:
            checked.append(str(ipaddress.ip_network(network, strict=False)))
        except ValueError as exc:
            raise ValueError(f"{network!r}: {exc}") from None
    return tuple(checked)


def _urls(urls: tuple[str, ...]) -> tuple[str, ...]:
    for url in urls:
        try:
            parse_listen(url)
        except ListenError as exc:
            raise ValueError(str(exc)) from None
    return urls


def _mode(mode: int) -> int:
    if not 0 <= mode <= 0o7777:
        raise ValueError("must be a file mode, 0 to 7777 in octal")
    return mode


Positive = Annotated[int, AfterValidator(_positive)]
NotNegative = Annotated[int, AfterValidator(_not_negative)]
Seconds = Annotated[float, AfterValidator(_positive_number)]
FrameSize = Annotated[int, AfterValidator(_frame_size)]
Port = Annotated[int, AfterValidator(_port)]
FilePath = Annotated[str, AfterValidator(_not_empty)]
# NoDecode: the environment gives these as text (`a,b`, `HOST:PORT`), never as JSON.
HostPort = Annotated[tuple[str, int], NoDecode, BeforeValidator(_host_port)]
Names = Annotated[tuple[str, ...], NoDecode, AfterValidator(_names)]
Networks = Annotated[tuple[str, ...], NoDecode, AfterValidator(_networks)]
URLs = Annotated[tuple[str, ...], NoDecode, AfterValidator(_urls)]
Mode = Annotated[int, AfterValidator(_mode)]  # written in octal, as text: "660"
# Lengths the protocol caps (docs/protocol.md, "Names and text"): a server may be stricter.
TextLength = Annotated[int, _lowering(MAX_TEXT_LENGTH, "the protocol's")]
TopicLength = Annotated[int, _lowering(MAX_TOPIC_LENGTH, "the protocol's")]
AwayLength = Annotated[int, _lowering(MAX_AWAY_LENGTH, "the protocol's")]
PasswordChecks = Annotated[int, _lowering(MAX_PASSWORD_CHECKS, "the server's")]


def _setting(default: object, help: str, **about: Any) -> Any:
    """A field of Settings: its default, its help text, and what the CLI and reload need to
    know about it (`about`): `core`, where it goes in CoreConfig (`flood.burst`); `group`,
    its section of --help; `choices`; `metavar`; `unset`, what no value means; `kind`,
    "octal" for a number written in octal."""
    return Field(default, description=help, json_schema_extra=about or None)


def _limit(target: str, help: str, **about: Any) -> Any:
    """A limit of the core: its default is CoreConfig's, at `target` (`section.field`)."""
    value: object = _CORE
    for part in target.split("."):
        value = getattr(value, part)
    return _setting(value, help, core=target, group="limits", **about)


class Settings(BaseModel):
    """Every setting of the server, validated. Build it with `load`, not directly."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    backend: str = _setting(DEFAULT_BACKEND, "IO backend", choices=sorted(BACKENDS))
    host: str = _setting("127.0.0.1", "address to bind")
    port: Port = _setting(8089, "port to bind, 0 for any")
    selector: str = _setting(
        "default",
        "selectors backend only: the system call that waits for sockets "
        "(default: the best one here, epoll on Linux)",
        choices=list(SELECTORS),
    )
    workers: Positive = _setting(
        DEFAULT_WORKERS,
        "threadpool backend only: pool size, which is also the most clients served at once",
    )
    db: FilePath | None = _setting(
        None,
        "the SQLite database, created on first start, or :memory: to remember nothing",
        group="store",
        metavar="PATH",
    )
    durability: str = _setting(
        "normal",
        "normal: an echoed message survives a crash of the server (WAL, synchronous=NORMAL);"
        " full: also a power loss (synchronous=FULL, an fsync per commit)",
        group="store",
        choices=sorted(DURABILITY),
    )
    db_max_mb: Positive | None = _setting(
        None,
        "largest the database may grow, in MiB; beyond it history is not kept, and the "
        "server says so",
        group="store",
        metavar="MB",
        unset="no limit but the disk",
    )
    password: str | None = _setting(
        None, "require this password in hello", core="password", unset="no password"
    )
    motd: str | None = _setting(
        None, "message of the day sent in welcome", core="motd", unset="no message"
    )
    http: HostPort | None = _setting(
        None,
        "serve /metrics (Prometheus), /healthz and /readyz on this address, e.g. "
        "127.0.0.1:9089 (never the chat's port)",
        metavar="HOST:PORT",
        unset="off",
    )
    listen: URLs = _setting(
        (),
        "where to listen (repeatable): tcp://HOST:PORT, tls://HOST:PORT or unix:///PATH",
        metavar="URL",
        unset="tcp://HOST:PORT from --host and --port",
    )
    tls_cert: FilePath | None = _setting(None, "for tls:// listeners", metavar="PEM", unset="none")
    tls_key: FilePath | None = _setting(None, "for tls:// listeners", metavar="PEM", unset="none")
    tls_self_signed: bool = _setting(
        False,
        "without --tls-cert/--tls-key: a key and self-signed certificate made once in the "
        "data directory (clients pin its SHA-256 fingerprint, printed at start)",
    )
    unix_mode: Mode = _setting(
        0o660, "permissions of unix:// sockets", metavar="OCTAL", kind="octal"
    )
    unix_group: str | None = _setting(
        None, "group of unix:// sockets", metavar="GROUP", unset="the server's own"
    )
    local_nicks: str = _setting(
        "prefix",
        "on unix:// sockets the nick is the login name (exact) or it or NAME-anything (prefix)",
        core="local_nicks",
        choices=["prefix", "exact"],
    )
    udp: HostPort | None = _setting(
        None,
        "answer UDP status probes (chat-client --probe) on this address, e.g. "
        "0.0.0.0:8089 (see docs/operations.md)",
        metavar="HOST:PORT",
        unset="off",
    )
    admin: Names = _setting(
        (),
        "an account that is owner in every room and may kill, server-ban and wall "
        "(repeatable; the account must be registered and logged in to act)",
        core="admins",
        metavar="NAME",
        unset="none",
    )
    log_level: str = _setting("info", "log verbosity on stderr", choices=list(LOG_LEVELS))
    exempt: Networks = _setting(
        DEFAULT_EXEMPT,
        "networks that skip the per-address caps, the connect throttle and flood control "
        "(repeatable; 'none' for no exemption)",
        core="exempt",
        group="limits",
        metavar="CIDR",
        unset="none",
    )
    # Every limit the core enforces (docs/protocol.md lists each with its error code).
    max_frame: FrameSize = _limit("max_frame", "largest frame body accepted, in bytes")
    history: NotNegative = _limit("history", "messages replayed on join, at most")
    max_clients: Positive = _limit("max_clients", "connections accepted at once")
    max_rooms: Positive = _limit("max_rooms", "rooms in existence at once")
    max_rooms_per_client: Positive = _limit("max_rooms_per_client", "rooms one connection joins")
    max_outbuf: Positive = _limit(
        "max_outbuf",
        "soft output cap: bytes waiting for one client for longer than --outbuf-soft-seconds "
        "cut it as a slow consumer",
    )
    outbuf_hard: Positive = _limit("outbuf_hard", "hard output cap: cut at once beyond it")
    outbuf_soft_seconds: Seconds = _limit(
        "outbuf_soft_seconds", "how long a client may stay over --max-outbuf"
    )
    room_history_bytes: Positive = _limit("room_history_bytes", "history held per room, bytes")
    history_bytes: Positive = _limit("history_bytes", "history held in all, bytes")
    idle_timeout: Seconds = _limit(
        "idle_timeout", "seconds without a frame before a client is dropped"
    )
    hello_timeout: Seconds = _limit("hello_timeout", "seconds a new connection has to send hello")
    max_combining: Positive = _limit("max_combining", "combining marks on one character in text")
    max_text: TextLength = _limit(
        "max_text",
        f"longest text of say and dm, in characters (lowers the protocol's {MAX_TEXT_LENGTH})",
    )
    max_topic: TopicLength = _limit(
        "max_topic", f"longest topic, in characters (lowers the protocol's {MAX_TOPIC_LENGTH})"
    )
    max_away: AwayLength = _limit(
        "max_away",
        f"longest away message, in characters (lowers the protocol's {MAX_AWAY_LENGTH})",
    )
    flood_burst: Positive = _limit("flood.burst", "requests a connection sends at once")
    flood_rate: Seconds = _limit("flood.rate", "requests per second after the burst")
    flood_bytes_burst: Positive = _limit("flood.byte_burst", "bytes sent at once")
    flood_bytes_rate: Seconds = _limit("flood.byte_rate", "bytes per second after it")
    ping_burst: Positive = _limit("flood.ping_burst", "pings sent at once")
    ping_rate: Seconds = _limit("flood.ping_rate", "pings per second after it")
    flood_max_waiting: Positive = _limit(
        "flood.max_waiting", "requests held back by flood control..."
    )
    flood_max_seconds: Seconds = _limit(
        "flood.max_waiting_seconds", "...for longer than this: disconnected with `flood`"
    )
    max_per_address: Positive = _limit("per_address.connections", "connections per address")
    connects_per_address: Positive = _limit(
        "per_address.connects", "new connections per address per --connect-window"
    )
    connect_window: Seconds = _limit(
        "per_address.connects_window", "the window of --connects-per-address, in seconds"
    )
    rooms_per_address: Positive = _limit(
        "per_address.rooms_created", "rooms created per address per --rooms-window"
    )
    rooms_window: Seconds = _limit(
        "per_address.rooms_window", "the window of --rooms-per-address, in seconds"
    )
    bad_passwords: Positive = _limit(
        "per_address.bad_passwords",
        "failed passwords per address per --bad-password-window (never exempt)",
    )
    bad_password_window: Seconds = _limit(
        "per_address.bad_passwords_window", "the window of --bad-passwords, in seconds"
    )
    account_bad_logins: Positive = _limit(
        "account_bad_logins",
        "failed logins to one account, from anywhere, per --account-bad-login-window",
    )
    account_bad_login_window: Seconds = _limit(
        "account_bad_logins_window", "the window of --account-bad-logins, in seconds"
    )
    password_checks: PasswordChecks = _limit(
        "max_password_checks",
        "password checks (argon2) running or queued at once, server-wide "
        f"({MAX_PASSWORD_CHECKS} at most)",
    )
    offline_dms: Positive = _limit("max_offline_dms", "DMs stored for one offline account")
    room_ttl: Seconds = _limit(
        "room_ttl_days", "days an empty room with no message is remembered", metavar="DAYS"
    )

    @field_validator("*", mode="before")
    @classmethod
    def _from_source(cls, value: object, info: ValidationInfo) -> object:
        """Text from the environment or a flag is parsed; a TOML value must have the type."""
        context = info.context if isinstance(info.context, dict) else {}
        origin = context.get("origins", {}).get(info.field_name)
        if not isinstance(origin, Origin) or origin.kind == "default":
            return value
        kind, optional = KINDS[cast(str, info.field_name)]
        if origin.kind == "file":
            return _from_toml(kind, value)
        return _from_text(kind, optional, value)

    @field_validator("backend", "selector", "durability", "log_level", "local_nicks")
    @classmethod
    def _one_of(cls, value: str, info: ValidationInfo) -> str:
        choices = about(cast(str, info.field_name))["choices"]
        if value not in choices:
            raise ValueError("must be one of " + ", ".join(choices))
        return value


def about(name: str) -> dict[str, Any]:
    """What the model says about setting `name` beyond its type (see `_setting`)."""
    extra = Settings.model_fields[name].json_schema_extra
    return dict(extra) if isinstance(extra, dict) else {}


def help_of(name: str) -> str:
    return Settings.model_fields[name].description or ""


def flag_of(name: str) -> str:
    return "--" + name.replace("_", "-")


def env_of(name: str) -> str:
    return ENV_PREFIX + name.upper()


Kind = Literal["integer", "number", "boolean", "string", "list", "address", "octal"]


def _kind(name: str, annotation: object) -> tuple[Kind, bool]:
    """What type a field's value has (as the sources must give it), and whether it may be
    unset (None)."""
    if about(name).get("kind") == "octal":
        return "octal", False
    args: tuple[object, ...] = (annotation,)
    if get_origin(annotation) in (Union, UnionType):
        args = get_args(annotation)
    optional = type(None) in args
    (base,) = [arg for arg in args if arg is not type(None)]
    while get_origin(base) is Annotated:
        base = get_args(base)[0]
    if get_origin(base) is tuple:
        return ("list" if get_args(base)[1:] == (Ellipsis,) else "address"), optional
    kinds: dict[object, Kind] = {int: "integer", float: "number", bool: "boolean", str: "string"}
    return kinds[base], optional


#: Each setting's kind of value, and whether it may be unset.
KINDS = {name: _kind(name, info.annotation) for name, info in Settings.model_fields.items()}
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


def _from_text(kind: Kind, optional: bool, value: object) -> object:
    if isinstance(value, list):  # a repeatable flag: one item per use, never split
        return tuple(value)
    if not isinstance(value, str):
        return value
    text = value.strip()
    if optional and kind != "string" and not text:
        return None
    if kind == "integer":
        try:
            return int(text)
        except ValueError:
            raise ValueError("must be an integer") from None
    if kind == "number":
        try:
            return float(text)
        except ValueError:
            raise ValueError("must be a number") from None
    if kind == "boolean":
        if text.lower() in _TRUE + _FALSE:
            return text.lower() in _TRUE
        raise ValueError("must be true or false")
    if kind == "octal":
        return _octal(text)
    if kind == "list":
        return tuple(item.strip() for item in text.split(",") if item.strip())
    return value


def _octal(text: str) -> int:
    try:
        return int(text, 8)
    except ValueError:
        raise ValueError('must be octal digits, e.g. "660"') from None


def _from_toml(kind: Kind, value: object) -> object:
    if kind == "integer":
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise ValueError("must be an integer")
    if kind == "number":
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        raise ValueError("must be a number")
    if kind == "boolean":
        if isinstance(value, bool):
            return value
        raise ValueError("must be true or false")
    if kind == "list":
        if isinstance(value, list) and all(isinstance(item, str) for item in value):
            return tuple(value)
        raise ValueError('must be a list of strings, e.g. ["a", "b"]')
    if kind == "octal":
        if isinstance(value, str):
            return _octal(value)
        raise ValueError('must be octal digits as a string, e.g. "660"')
    if isinstance(value, str):
        return value
    raise ValueError("must be a string")


# ---------------------------------------------------------------------- the sources


@dataclass(frozen=True, slots=True)
class Origin:
    """Where a setting's value came from: the defaults, a file, a variable or a flag."""

    kind: Literal["default", "file", "env", "flag"]
    name: str  # "default", the file's path, `WIRECHAT_X` or `--x`

    def __str__(self) -> str:
        return self.name


DEFAULT = Origin("default", "default")


class SettingsError(ValueError):
    """The settings are not usable: `problems` says why, one line per bad value or key."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(frozen=True, slots=True)
class Loaded:
    """Valid settings, where each came from, and what is needed to read them again."""

    settings: Settings
    origins: Mapping[str, Origin]
    file: pathlib.Path | None  # the settings file read, if any
    flags: Mapping[str, object]  # the flags given, as text (they keep winning on reload)
    config: pathlib.Path | None  # --config as given; None: the default location
    use_file: bool = True
    use_env: bool = True

    def reloaded(self) -> Loaded:
        """The settings as the sources give them now (raises SettingsError)."""
        return load(self.flags, self.config, use_file=self.use_file, use_env=self.use_env)


def flags_given(args: object) -> dict[str, object]:
    """The settings among parsed flags (argparse's namespace, a flag not given being None)."""
    given = {name: getattr(args, name, None) for name in Settings.model_fields}
    return {name: value for name, value in given.items() if value is not None}


def load(
    flags: Mapping[str, object],
    config: pathlib.Path | None = None,
    *,
    use_file: bool = True,
    use_env: bool = True,
) -> Loaded:
    """Merge the sources (flags over the environment over the file over the defaults) and
    validate the result. `config` is --config; without it the default file is read if it
    exists. Raises SettingsError with every problem found."""
    path = config.expanduser().absolute() if config is not None else default_config_path()
    file_values: dict[str, object] = {}
    read = None
    unreadable: list[str] = []  # reported with the other sources' problems
    if use_file and (config is not None or path.exists()):
        try:
            file_values = _read_file(path)
            read = path
        except SettingsError as exc:
            unreadable = exc.problems
    merged: dict[str, object] = {}
    origins: dict[str, Origin] = dict.fromkeys(Settings.model_fields, DEFAULT)

    def take(values: Mapping[str, object], kind: Literal["file", "env", "flag"]) -> None:
        for name, value in values.items():
            merged[name] = value
            where = {"file": str(path), "env": env_of(name), "flag": flag_of(name)}[kind]
            origins[name] = Origin(kind, where)

    take(file_values, "file")
    if use_env:
        take(EnvSettingsSource(_as_source(), env_prefix=ENV_PREFIX, case_sensitive=False)(), "env")
    take(flags, "flag")
    try:
        settings = Settings.model_validate(merged, context={"origins": origins})
    except ValidationError as exc:
        raise SettingsError(unreadable + _problems(exc, merged, origins)) from None
    if unreadable:
        raise SettingsError(unreadable)
    problem = _frame_problem(settings, origins)
    if problem is not None:
        raise SettingsError([problem])
    return Loaded(settings, origins, read, dict(flags), config, use_file, use_env)


def _as_source() -> type[BaseSettings]:
    # The environment source reads only the model's fields and their annotations, which a
    # plain model has too: Settings itself is validated apart, once the sources are merged.
    return cast("type[BaseSettings]", Settings)


def _read_file(path: pathlib.Path) -> dict[str, object]:
    if not path.is_file():
        raise SettingsError([f"cannot read the settings file {path}: no such file"])
    try:
        values = TomlConfigSettingsSource(_as_source(), toml_file=path)()
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError([f"{path} is not valid TOML: {exc}"]) from None
    except OSError as exc:
        raise SettingsError([f"cannot read the settings file {path}: {exc.strerror}"]) from None
    return dict(values)


def _problems(
    exc: ValidationError, merged: Mapping[str, object], origins: Mapping[str, Origin]
) -> list[str]:
    problems: list[str] = []
    seen: set[str] = set()
    for error in exc.errors():
        name = str(error["loc"][0]) if error["loc"] else ""
        if name in seen:
            continue
        seen.add(name)
        if error["type"] == "extra_forbidden":
            close = difflib.get_close_matches(name, Settings.model_fields, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            if isinstance(merged.get(name), dict):
                hint = " (the file has no tables: every setting is a key at the top)"
            problems.append(f"unknown setting {name!r} in {origins[name]}{hint}")
            continue
        origin = origins.get(name, DEFAULT)
        reason = str(error["msg"]).removeprefix("Value error, ")
        given = _as_given(merged.get(name), origin)
        problems.append(f"{name} = {given} (from {origin}): {reason}")
    return problems


def _as_given(value: object, origin: Origin) -> str:
    """A value as its source wrote it: TOML for the file, the text itself for the others."""
    if origin.kind == "file":
        return _toml(value)
    if isinstance(value, list | tuple):
        return repr(list(value))
    return str(value)


def _frame_problem(settings: Settings, origins: Mapping[str, Origin]) -> str | None:
    """The one rule across settings: a frame must fit in the flood byte budget."""
    if frame_fits(settings.max_frame, settings.flood_bytes_burst):
        return None
    return (
        f"flood_bytes_burst = {settings.flood_bytes_burst} "
        f"(from {origins['flood_bytes_burst']}): must hold at least one frame, "
        f"max_frame = {settings.max_frame} (from {origins['max_frame']}) plus 4 bytes"
    )


def frame_fits(max_frame: int, byte_burst: int) -> bool:
    """Whether a whole frame of `max_frame` bytes (and its header) fits in the byte burst."""
    return byte_burst >= max_frame + 4


# ---------------------------------------------------------------------- uses of the settings


def core_config(settings: Settings) -> CoreConfig:
    """The CoreConfig the settings describe."""
    sections: dict[str, dict[str, object]] = {"": {}, "flood": {}, "per_address": {}}
    for name in Settings.model_fields:
        target = about(name).get("core")
        if target is not None:
            section, _, attr = target.rpartition(".")
            sections[section][attr] = getattr(settings, name)
    return replace(
        CoreConfig(),
        **sections[""],  # type: ignore[arg-type]
        flood=replace(FloodLimits(), **sections["flood"]),  # type: ignore[arg-type]
        per_address=replace(AddressLimits(), **sections["per_address"]),  # type: ignore[arg-type]
    )


def shown(name: str, value: object) -> str:
    """A value as the log and --print-config show it (a password never is)."""
    if name == "password" and value is not None:
        return "(hidden)"
    if KINDS[name][0] == "octal" and isinstance(value, int):
        return repr(format(value, "o"))
    if name in ("http", "udp") and isinstance(value, tuple):
        return repr(address_text(value))
    if isinstance(value, tuple):
        return repr(list(value))
    return repr(value)


def address_text(address: tuple[str, int]) -> str:
    """(host, port) as `HOST:PORT`, the way the settings take it."""
    host, port = address
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def default_text(name: str) -> str:
    """A setting's default, as --help says it."""
    if name == "db":
        return str(default_db_path())
    value = Settings.model_fields[name].default
    if value is None or value == ():
        return str(about(name).get("unset", "none"))
    if isinstance(value, tuple):
        return ", ".join(str(item) for item in value)
    if isinstance(value, float):
        return f"{value:g}"
    if KINDS[name][0] == "octal" and isinstance(value, int):
        return format(value, "o")
    return str(value)


def describe(loaded: Loaded) -> list[str]:
    """The effective settings as TOML lines, each with where its value came from."""
    if loaded.file is not None:
        head = f"# settings file: {loaded.file}"
    elif not loaded.use_file:
        head = "# no settings file"
    else:
        where = loaded.config or default_config_path()
        head = f"# no settings file ({where} does not exist)"
    lines = [head]
    settings = loaded.settings
    for name in Settings.model_fields:
        value = getattr(settings, name)
        if name == "db" and value is None:
            value = str(default_db_path())
        if value is None:
            text = f"# {name}: not set ({about(name).get('unset', 'none')})"
        elif name == "password":
            text = f"# {name}: set, not shown"
        elif name in ("http", "udp"):
            text = f"{name} = {_toml(address_text(value))}"
        elif KINDS[name][0] == "octal":
            text = f"{name} = {_toml(format(value, 'o'))}"
        else:
            text = f"{name} = {_toml(value)}"
        lines.append(f"{text:<48} # {loaded.origins[name]}")
    return lines


def _toml(value: object) -> str:
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml(item) for item in value) + "]"
    return repr(value)
