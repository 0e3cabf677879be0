"""SIGHUP reloads the settings: `reload()` against a Hub in process, then one real server per
backend (a settings file changed under it, SIGHUP, a new connection sees the change)."""

from __future__ import annotations

import logging
import os
import pathlib
import signal

import pytest

from chat_server.core import Hub
from chat_server.reload import is_live, reload
from chat_server.settings import Loaded, core_config, load
from tests.helpers import ServerProcess, WireClient


@pytest.fixture(autouse=True)
def clean(monkeypatch: pytest.MonkeyPatch, tmp_path: pathlib.Path) -> None:
    for name in list(os.environ):
        if name.upper().startswith("WIRECHAT_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))


def started(path: pathlib.Path, text: str, **flags: object) -> tuple[Hub, Loaded]:
    path.write_text(text)
    loaded = load(flags, path)
    return Hub(core_config(loaded.settings)), loaded


def lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.getMessage().startswith("reload: ")]


def test_live_settings_change_and_the_others_wait_for_a_restart(
    tmp_path: pathlib.Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "w.toml"
    hub, loaded = started(path, 'motd = "a"\nmax_clients = 10\nport = 1\n')
    path.write_text(
        'motd = "b"\nmax_clients = 20\nport = 2\nhistory = 3\nadmin = ["Alice"]\n'
        "exempt = []\nmax_per_address = 2\nmax_outbuf = 4096\noutbuf_hard = 8192\n"
    )
    with caplog.at_level(logging.INFO, logger="chat_server"):
        now = reload(hub, loaded)
    config = hub.config
    assert (config.motd, config.max_clients, config.history) == ("b", 20, 100)
    assert hub.admins == {"alice"}
    assert hub.guard.exempt == () and hub.guard.limits.connections == 2
    assert (hub.outbox.soft, hub.outbox.hard) == (4096, 8192)
    assert (now.settings.port, now.settings.history, now.settings.motd) == (1, 100, "b")
    assert str(now.origins["history"]) == "default"  # the value kept, and where it came from
    assert lines(caplog) == [
        f"reload: reading {path}",
        "reload: port: 1 -> 2 needs a restart; keeping 1",
        "reload: motd: 'a' -> 'b'",
        "reload: admin: [] -> ['Alice']",
        "reload: exempt: ['127.0.0.1/32', '::1/128'] -> []",
        "reload: history: 100 -> 3 needs a restart; keeping 100",
        "reload: max_clients: 10 -> 20",
        "reload: max_outbuf: 1048576 -> 4096",
        "reload: outbuf_hard: 8388608 -> 8192",
        "reload: max_per_address: 16 -> 2",
    ]


def test_the_flags_given_at_start_still_win(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "w.toml"
    hub, loaded = started(path, 'motd = "a"\n', motd="from the flag")
    path.write_text('motd = "b"\nmax_rooms = 3\n')
    now = reload(hub, loaded)
    assert (hub.config.motd, hub.rooms.max_rooms) == ("from the flag", 3)
    assert str(now.origins["motd"]) == "--motd"


def test_a_bad_file_changes_nothing(
    tmp_path: pathlib.Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "w.toml"
    hub, loaded = started(path, 'motd = "a"\n')
    before = hub.config
    path.write_text('motd = "b"\nmax_clients = -3\nbogus = 1\n')
    with caplog.at_level(logging.INFO, logger="chat_server"):
        assert reload(hub, loaded) is loaded
    assert hub.config is before
    assert lines(caplog)[1:] == [
        f"reload: max_clients = -3 (from {path}): must be positive",
        f"reload: unknown setting 'bogus' in {path}",
        "reload: the settings are unchanged",
    ]


def test_only_what_truly_changes_live_is_called_live() -> None:
    live = {"motd", "admin", "exempt", "max_clients", "flood_burst", "max_per_address"}
    assert all(is_live(name) for name in live | {"log_level", "idle_timeout", "max_outbuf"})
    restart = {"backend", "host", "port", "db", "durability", "http", "udp", "workers"}
    restart |= {"selector", "password", "history", "history_bytes", "room_history_bytes"}
    assert not any(is_live(name) for name in restart)


# ---------------------------------------------------------------------- a real server, per backend


async def test_sighup_reloads_a_running_server(backend: str, tmp_path: pathlib.Path) -> None:
    path = tmp_path / "wirechat.toml"
    path.write_text('motd = "before"\nmax_rooms_per_client = 5\n')
    server = ServerProcess(backend, "--config", str(path)).start()
    clients: list[WireClient] = []
    try:
        first = await WireClient.connect(server)
        clients.append(first)
        welcome = await first.hello(f"early{backend}")
        assert welcome["motd"] == "before"
        path.write_text('motd = "after"\nmax_rooms_per_client = 6\ndurability = "full"\n')
        server.signal(signal.SIGHUP)
        assert await server.logged("reload: motd: 'before' -> 'after'")
        assert await server.logged("reload: max_rooms_per_client: 5 -> 6")
        assert await server.logged("reload: durability: 'normal' -> 'full' needs a restart")
        second = await WireClient.connect(server)
        clients.append(second)
        assert (await second.hello(f"late{backend}"))["motd"] == "after"
        path.write_text("motd = 3\n")  # a bad file changes nothing
        server.signal(signal.SIGHUP)
        assert await server.logged("reload: the settings are unchanged")
        third = await WireClient.connect(server)
        clients.append(third)
        assert (await third.hello(f"last{backend}"))["motd"] == "after"
        await first.send("ping", token="still")
        await first.expect("pong", token="still")  # the first connection stayed open
    finally:
        for client in clients:
            await client.close()
        assert server.stop() == 0
