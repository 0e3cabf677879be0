"""Where settings come from and how each is validated (chat_server.settings), in process.

Precedence: flags over WIRECHAT_* variables over the settings file over the defaults; every
bad value is one message naming its source. The CLI's --print-config and --check-config
are at the end.
"""

from __future__ import annotations

import os
import pathlib
import re

import pytest

from chat_server import cli
from chat_server.core import CoreConfig
from chat_server.core.config import DEFAULT_EXEMPT
from chat_server.settings import (
    DEFAULT,
    Settings,
    SettingsError,
    core_config,
    default_config_path,
    default_db_path,
    load,
)


@pytest.fixture(autouse=True)
def clean(monkeypatch: pytest.MonkeyPatch, tmp_path: pathlib.Path) -> pathlib.Path:
    """No WIRECHAT_* variable from the test's environment, and a config directory of our
    own (empty): returns where the default settings file goes."""
    for name in list(os.environ):
        if name.upper().startswith("WIRECHAT_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    return tmp_path / "config" / "wirechat" / "wirechat.toml"


def write(path: pathlib.Path, text: str) -> pathlib.Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def problems(
    flags: dict[str, object] | None = None, config: pathlib.Path | None = None
) -> list[str]:
    with pytest.raises(SettingsError) as caught:
        load(flags or {}, config)
    return caught.value.problems


# ---------------------------------------------------------------------- sources and precedence


def test_the_defaults_are_the_cores(clean: pathlib.Path) -> None:
    loaded = load({})
    assert loaded.settings == Settings()
    assert loaded.file is None
    assert set(loaded.origins.values()) == {DEFAULT}
    assert core_config(loaded.settings) == CoreConfig()
    assert default_config_path() == clean


def test_flags_beat_the_environment_which_beats_the_file(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(
        tmp_path / "w.toml",
        'motd = "from the file"\nmax_clients = 100\nflood_burst = 3\nadmin = ["alice"]\n',
    )
    monkeypatch.setenv("WIRECHAT_MAX_CLIENTS", "200")
    monkeypatch.setenv("WIRECHAT_FLOOD_BURST", "4")
    loaded = load({"flood_burst": "5", "admin": ["bob", "carol"]}, path)
    settings = loaded.settings
    assert (settings.motd, settings.max_clients, settings.flood_burst) == ("from the file", 200, 5)
    assert settings.admin == ("bob", "carol")  # a list is replaced whole, never merged
    origins = {name: str(loaded.origins[name]) for name in ("motd", "max_clients", "flood_burst")}
    assert origins == {
        "motd": str(path),
        "max_clients": "WIRECHAT_MAX_CLIENTS",
        "flood_burst": "--flood-burst",
    }
    assert str(loaded.origins["port"]) == "default"
    config = core_config(settings)
    assert (config.motd, config.max_clients, config.flood.burst) == ("from the file", 200, 5)
    assert config.admins == ("bob", "carol")


def test_the_default_file_is_read_only_when_it_exists(clean: pathlib.Path) -> None:
    assert load({}).file is None
    write(clean, "max_rooms = 7\n")
    loaded = load({})
    assert (loaded.file, loaded.settings.max_rooms) == (clean, 7)
    assert loaded.origins["max_rooms"].kind == "file"


def test_a_named_file_must_exist(tmp_path: pathlib.Path) -> None:
    missing = tmp_path / "nope.toml"
    assert problems(config=missing) == [f"cannot read the settings file {missing}: no such file"]


def test_the_environment_gives_lists_comma_separated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WIRECHAT_ADMIN", "alice, bob")
    monkeypatch.setenv("WIRECHAT_EXEMPT", "10.1.2.3/16,::1")
    monkeypatch.setenv("WIRECHAT_HTTP", "[::1]:9089")
    monkeypatch.setenv("WIRECHAT_ACCOUNT_PASSWORD", "the client's; not a server setting")
    settings = load({}).settings
    assert settings.admin == ("alice", "bob")
    assert settings.exempt == ("10.1.0.0/16", "::1/128")
    assert settings.http == ("::1", 9089)
    monkeypatch.setenv("WIRECHAT_EXEMPT", "none")
    assert load({}).settings.exempt == ()


def test_exempt_none_and_the_default(tmp_path: pathlib.Path) -> None:
    assert load({}).settings.exempt == DEFAULT_EXEMPT
    assert load({"exempt": ["none"]}).settings.exempt == ()
    assert load({}, write(tmp_path / "w.toml", "exempt = []\n")).settings.exempt == ()


def test_a_file_with_every_kind_of_value(tmp_path: pathlib.Path) -> None:
    path = write(
        tmp_path / "w.toml",
        'backend = "selectors"\nhost = "0.0.0.0"\nport = 0\ndb = ":memory:"\n'
        'http = "127.0.0.1:9089"\nflood_rate = 2\nidle_timeout = 1.5\n'
        'exempt = ["10.0.0.0/8"]\nlog_level = "debug"\n',
    )
    settings = load({}, path).settings
    assert (settings.backend, settings.host, settings.port, settings.db) == (
        "selectors",
        "0.0.0.0",
        0,
        ":memory:",
    )
    assert settings.http == ("127.0.0.1", 9089)
    assert (settings.flood_rate, settings.idle_timeout) == (2.0, 1.5)  # an integer is a number
    assert (settings.exempt, settings.log_level) == (("10.0.0.0/8",), "debug")


# ---------------------------------------------------------------------- bad values, by source


def test_out_of_range_names_the_source(tmp_path: pathlib.Path, monkeypatch) -> None:
    path = write(tmp_path / "w.toml", "max_clients = -3\n")
    assert problems(config=path) == [f"max_clients = -3 (from {path}): must be positive"]
    monkeypatch.setenv("WIRECHAT_MAX_CLIENTS", "-3")
    assert problems(config=path) == [
        "max_clients = -3 (from WIRECHAT_MAX_CLIENTS): must be positive"
    ]
    assert problems({"max_clients": "-3"}, path) == [
        "max_clients = -3 (from --max-clients): must be positive"
    ]
    assert load({"max_clients": "3"}, path).settings.max_clients == 3  # the winner is checked


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ('max_clients = "10"', 'max_clients = "10" (from {}): must be an integer'),
        ("max_clients = 1.5", "max_clients = 1.5 (from {}): must be an integer"),
        ("max_clients = true", "max_clients = true (from {}): must be an integer"),
        ('flood_rate = "fast"', 'flood_rate = "fast" (from {}): must be a number'),
        ("motd = 5", "motd = 5 (from {}): must be a string"),
        (
            'admin = "alice"',
            'admin = "alice" (from {}): must be a list of strings, e.g. ["a", "b"]',
        ),
        ('admin = ["#ops"]', "admin = [\"#ops\"] (from {}): '#ops': nick must not start with '#'"),
        ('exempt = ["10.0.0.0/33"]', "exempt = [\"10.0.0.0/33\"] (from {}): '10.0.0.0/33': "),
        ('http = "localhost"', 'http = "localhost" (from {}): is not HOST:PORT'),
        ("port = 70000", "port = 70000 (from {}): must be between 0 and 65535"),
        ("max_frame = 100", "max_frame = 100 (from {}): must be between 256 and "),
        ("history = -1", "history = -1 (from {}): must not be negative"),
        ("idle_timeout = 0", "idle_timeout = 0 (from {}): must be a positive number"),
        ("idle_timeout = inf", "idle_timeout = inf (from {}): must be a positive number"),
        ('backend = "twisted"', 'backend = "twisted" (from {}): must be one of asyncio, '),
        ('durability = "some"', 'durability = "some" (from {}): must be one of full, normal'),
        ('db = ""', 'db = "" (from {}): must not be empty'),
    ],
)
def test_each_bad_value_in_the_file(tmp_path: pathlib.Path, line: str, problem: str) -> None:
    path = write(tmp_path / "w.toml", line + "\n")
    (found,) = problems(config=path)
    assert found.startswith(problem.format(path)), found


@pytest.mark.parametrize(
    ("flags", "problem"),
    [
        ({"port": "http"}, "port = http (from --port): must be an integer"),
        ({"flood_rate": "x"}, "flood_rate = x (from --flood-rate): must be a number"),
        ({"workers": "0"}, "workers = 0 (from --workers): must be positive"),
        ({"selector": "kqueue"}, "selector = kqueue (from --selector): must be one of default"),
        ({"admin": ["ok", "!bad"]}, "admin = ['ok', '!bad'] (from --admin): '!bad': nick must"),
        ({"udp": "1.2.3.4"}, "udp = 1.2.3.4 (from --udp): is not HOST:PORT"),
    ],
)
def test_each_bad_flag(flags: dict[str, object], problem: str) -> None:
    (found,) = problems(flags)
    assert found.startswith(problem), found


def test_every_bad_value_is_reported_at_once(tmp_path: pathlib.Path, monkeypatch) -> None:
    path = write(tmp_path / "w.toml", "max_rooms = 0\nmotd = 1\n")
    monkeypatch.setenv("WIRECHAT_PORT", "-1")
    found = problems({"workers": "none"}, path)
    assert [re.sub(r" \(from .*", "", line) for line in found] == [
        "port = -1",
        "workers = none",
        "motd = 1",
        "max_rooms = 0",
    ]


def test_unknown_keys_in_the_file_are_errors(tmp_path: pathlib.Path) -> None:
    path = write(tmp_path / "w.toml", "max_client = 10\ncolour = 1\n[flood]\nburst = 2\n")
    assert problems(config=path) == [
        f"unknown setting 'max_client' in {path} (did you mean 'max_clients'?)",
        f"unknown setting 'colour' in {path}",
        f"unknown setting 'flood' in {path} (the file has no tables: every setting is a key "
        "at the top)",
    ]


def test_a_file_that_is_not_toml(tmp_path: pathlib.Path) -> None:
    path = write(tmp_path / "w.toml", "motd = 'unterminated\n")
    (found,) = problems(config=path)
    assert found.startswith(f"{path} is not valid TOML: ")


def test_a_frame_must_fit_the_flood_byte_budget(tmp_path: pathlib.Path) -> None:
    path = write(tmp_path / "w.toml", "flood_bytes_burst = 1000\n")
    assert problems(config=path) == [
        f"flood_bytes_burst = 1000 (from {path}): must hold at least one frame, "
        "max_frame = 65536 (from default) plus 4 bytes"
    ]
    assert load({"max_frame": "996"}, path).settings.max_frame == 996


def test_switches_and_octal_modes(tmp_path: pathlib.Path, monkeypatch) -> None:
    path = write(tmp_path / "w.toml", 'unix_mode = "640"\ntls_self_signed = true\n')
    settings = load({}, path).settings
    assert (settings.unix_mode, settings.tls_self_signed) == (0o640, True)
    monkeypatch.setenv("WIRECHAT_TLS_SELF_SIGNED", "no")
    monkeypatch.setenv("WIRECHAT_UNIX_MODE", "600")
    settings = load({}, path).settings
    assert (settings.unix_mode, settings.tls_self_signed) == (0o600, False)
    assert load({"tls_self_signed": True}, path).settings.tls_self_signed
    bad = write(tmp_path / "bad.toml", 'unix_mode = 640\ntls_self_signed = "yes"\n')
    monkeypatch.delenv("WIRECHAT_UNIX_MODE")
    monkeypatch.delenv("WIRECHAT_TLS_SELF_SIGNED")
    assert problems(config=bad) == [
        f'tls_self_signed = "yes" (from {bad}): must be true or false',
        f'unix_mode = 640 (from {bad}): must be octal digits as a string, e.g. "660"',
    ]


def test_listen_urls_are_checked(tmp_path: pathlib.Path) -> None:
    assert load({"listen": ["tcp://127.0.0.1:0", "unix:///tmp/w.sock"]}).settings.listen == (
        "tcp://127.0.0.1:0",
        "unix:///tmp/w.sock",
    )
    (found,) = problems({"listen": ["udp://x:1"]})
    assert found.startswith("listen = ['udp://x:1'] (from --listen): 'udp://x:1': use tcp://")


# ---------------------------------------------------------------------- the CLI


def test_parse_args_gives_the_flags_alone_typed(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("WIRECHAT_MOTD", "not read by parse_args")
    args = cli.build_parser().parse_args(["--port", "0", "--exempt", "none", "--admin", "Ann"])
    assert (args.port, args.exempt, args.admin, args.motd) == (0, (), ("Ann",), None)
    assert (args.durability, args.db) == ("normal", None)
    assert cli.config_from(args).admins == ("Ann",)
    with pytest.raises(SystemExit) as caught:
        cli.build_parser().parse_args(["--max-clients", "-3"])
    assert caught.value.code == 2
    assert capsys.readouterr().err == (
        "chat-server: max_clients = -3 (from --max-clients): must be positive\n"
    )


def printed(capsys: pytest.CaptureFixture[str], *argv: str) -> dict[str, tuple[str, str]]:
    """--print-config's lines: setting (or comment) -> (value, where it came from)."""
    assert cli.main(["--print-config", *argv]) == 0
    found = {}
    for line in capsys.readouterr().out.splitlines()[1:]:
        body, origin = line.rsplit(" # ", 1)
        name, _, value = body.rstrip().partition(" = ")
        found[name] = (value, origin)
    return found


def test_print_config_says_where_each_setting_came_from(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path / "w.toml", 'motd = "hi"\nmax_clients = 100\nflood_rate = 2\n')
    monkeypatch.setenv("WIRECHAT_MAX_CLIENTS", "200")
    found = printed(capsys, "--config", str(path), "--flood-burst", "5", "--password", "sekrit")
    assert found["motd"] == ('"hi"', str(path))
    assert found["max_clients"] == ("200", "WIRECHAT_MAX_CLIENTS")
    assert found["flood_burst"] == ("5", "--flood-burst")
    assert found["flood_rate"] == ("2.0", str(path))
    assert found["port"] == ("8089", "default")
    assert found["# password: set, not shown"] == ("", "--password")
    assert found["exempt"] == ('["127.0.0.1/32", "::1/128"]', "default")
    assert {name.split(":")[0].lstrip("# ") for name in found} == set(Settings.model_fields)


def test_print_config_prints_a_settings_file(
    tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["--motd", "hi", "--admin", "ann", "--http", "[::1]:9089", "--unix-mode", "600"]
    assert cli.main(["--print-config", *argv]) == 0
    copy = write(tmp_path / "copy.toml", capsys.readouterr().out)
    copied = load({}, copy).settings
    assert copied.db == str(default_db_path())  # the default, written out
    expected = load(cli.flags_given(cli.build_parser().given(argv))).settings
    assert copied.model_copy(update={"db": None}) == expected


def test_check_config(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path / "w.toml", "max_clients = 100\n")
    assert cli.main(["--check-config", "--config", str(path)]) == 0
    assert capsys.readouterr().out == f"chat-server: the settings are valid (file: {path})\n"
    write(path, "max_clients = -3\nmax_client = 1\n")
    monkeypatch.setenv("WIRECHAT_PORT", "http")
    assert cli.main(["--check-config", "--config", str(path), "--workers", "0"]) == 2
    assert capsys.readouterr().err.splitlines() == [
        "chat-server: port = http (from WIRECHAT_PORT): must be an integer",
        "chat-server: workers = 0 (from --workers): must be positive",
        f"chat-server: max_clients = -3 (from {path}): must be positive",
        f"chat-server: unknown setting 'max_client' in {path} (did you mean 'max_clients'?)",
    ]


def test_a_bad_setting_stops_the_server_with_status_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--port", "0", "--flood-bytes-burst", "1000"]) == 2
    assert capsys.readouterr().err == (
        "chat-server: flood_bytes_burst = 1000 (from --flood-bytes-burst): must hold at least "
        "one frame, max_frame = 65536 (from default) plus 4 bytes\n"
    )


def test_the_example_file_names_every_setting_and_is_valid(tmp_path: pathlib.Path) -> None:
    example = pathlib.Path(__file__).parents[2] / "docs" / "wirechat.toml"
    lines = example.read_text().splitlines()
    settings = [line[1:] for line in lines if re.match(r"#\w+ = ", line)]
    assert [line.split(" = ")[0] for line in settings] == list(Settings.model_fields)
    loaded = load({}, write(tmp_path / "all.toml", "\n".join(settings) + "\n"))
    for name, field in Settings.model_fields.items():
        if field.default not in (None, ()):  # the others show an example
            assert getattr(loaded.settings, name) == field.default, name
