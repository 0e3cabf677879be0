"""The limits a server may lower but never raise: the longest text of `say` and `dm`
(--max-text), topic (--max-topic) and away message (--max-away), and the password checks at
once, server-wide (--password-checks).

The rules are tested in process, against a Hub (tests/core/harness.py); then the settings:
their defaults are the protocol's (and the server's) own limits, a value out of bounds is one
clear message from whichever source gave it, --print-config shows them, and a reload applies
them at once.
"""

from __future__ import annotations

import logging
import os
import pathlib
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from argon2 import PasswordHasher

from chat_server import cli
from chat_server.core import CoreConfig, Hub
from chat_server.core.accounts import Passwords
from chat_server.core.config import MAX_PASSWORD_CHECKS
from chat_server.reload import is_live, reload
from chat_server.settings import Settings, SettingsError, core_config, load
from protocol.names import MAX_NICK_LENGTH, MAX_ROOM_LENGTH, MAX_TEXT_LENGTH, MAX_TOPIC_LENGTH
from protocol.presence import MAX_AWAY_LENGTH
from tests.core.harness import Clock, FakeIO, connect, make_hub, send
from tests.store.harness import settled

PASSWORD = "correct horse"


@pytest.fixture(autouse=True)
def clean(monkeypatch: pytest.MonkeyPatch, tmp_path: pathlib.Path) -> None:
    """No WIRECHAT_* variable from the test's environment, and no settings file of ours."""
    for name in list(os.environ):
        if name.upper().startswith("WIRECHAT_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))


def member(hub: Hub, nick: str, room: str | None = "r") -> tuple[Any, FakeIO]:
    conn, io = connect(hub, nick)
    if room is not None:
        send(hub, conn, {"type": "join", "room": room})
    io.drain()
    return conn, io


def answer(io: FakeIO, type_: str) -> dict[str, Any]:
    """The one message of `type_` among what `io` has not drained yet."""
    found = [m for m in io.drain() if m["type"] == type_]
    assert len(found) == 1, found
    return found[0]


def refused(io: FakeIO, conn: Any) -> dict[str, Any]:
    """The one error waiting for `io`: `invalid_text`, not fatal, the connection still open."""
    error = answer(io, "error")
    assert (error["code"], error["fatal"]) == ("invalid_text", False), error
    assert not conn.closed
    return error


# ---------------------------------------------------------------------- the defaults


def test_the_defaults_are_the_protocols_own_limits() -> None:
    config = CoreConfig()
    assert (config.max_text, config.max_topic, config.max_away) == (8000, 512, 300)
    assert (MAX_TEXT_LENGTH, MAX_TOPIC_LENGTH, MAX_AWAY_LENGTH) == (8000, 512, 300)
    assert config.max_password_checks == MAX_PASSWORD_CHECKS == 32
    settings = Settings()
    assert (settings.max_text, settings.max_topic, settings.max_away) == (8000, 512, 300)
    assert settings.password_checks == 32


def test_nick_and_room_name_lengths_have_no_setting() -> None:
    # Fixed by the protocol: names are compared by skeleton across servers.
    assert (MAX_NICK_LENGTH, MAX_ROOM_LENGTH) == (32, 64)
    fixed = {"max_nick", "max_room", "max_room_name", "max_reason", "max_ref", "max_token"}
    assert not fixed & set(Settings.model_fields)


# ---------------------------------------------------------------------- text, topic, away


@pytest.mark.parametrize("limit", [1, 50, MAX_TEXT_LENGTH])
@pytest.mark.parametrize("action", [False, True])
def test_say_text_up_to_max_text_is_delivered_and_longer_is_invalid_text(
    limit: int, action: bool
) -> None:
    hub, _ = make_hub(max_text=limit)
    a, a_io = member(hub, "a")
    _, b_io = member(hub, "b")
    a_io.drain()
    send(hub, a, {"type": "say", "room": "r", "text": "x" * limit, "action": action, "ref": "1"})
    assert answer(b_io, "message")["text"] == "x" * limit
    assert answer(a_io, "message")["ref"] == "1"
    text = "y" * (limit + 1)
    send(hub, a, {"type": "say", "room": "r", "text": text, "action": action, "ref": "2"})
    error = refused(a_io, a)
    assert error["ref"] == "2" and f"at most {limit} characters" in error["message"]
    assert b_io.drain() == []  # nothing reached the room


@pytest.mark.parametrize("limit", [1, 50, MAX_TEXT_LENGTH])
def test_dm_text_up_to_max_text_is_delivered_and_longer_is_invalid_text(limit: int) -> None:
    hub, _ = make_hub(max_text=limit)
    a, a_io = member(hub, "a", None)
    _, b_io = member(hub, "b", None)
    send(hub, a, {"type": "dm", "to": "b", "text": "x" * limit, "ref": "1"})
    assert answer(b_io, "dm")["text"] == "x" * limit
    assert answer(a_io, "dm")["ref"] == "1"
    send(hub, a, {"type": "dm", "to": "b", "text": "y" * (limit + 1), "action": True, "ref": "2"})
    assert refused(a_io, a)["ref"] == "2"
    assert b_io.drain() == []


def test_max_text_counts_characters_not_bytes() -> None:
    hub, _ = make_hub(max_text=4)
    a, a_io = member(hub, "a")
    send(hub, a, {"type": "say", "room": "r", "text": "\U0001f600" * 4})  # 16 bytes of UTF-8
    assert answer(a_io, "message")["text"] == "\U0001f600" * 4
    send(hub, a, {"type": "say", "room": "r", "text": "\U0001f600" * 5})
    refused(a_io, a)


@pytest.mark.parametrize("limit", [1, 20, MAX_TOPIC_LENGTH])
def test_a_topic_up_to_max_topic_is_set_and_longer_is_invalid_text(limit: int) -> None:
    hub, _ = make_hub(max_topic=limit)
    a, a_io = member(hub, "a")
    # Counted once trimmed, as the protocol counts it.
    send(hub, a, {"type": "topic", "room": "r", "topic": "  " + "t" * limit + "  "})
    assert answer(a_io, "topic")["topic"] == "t" * limit
    send(hub, a, {"type": "topic", "room": "r", "topic": "u" * (limit + 1)})
    assert f"at most {limit} characters" in refused(a_io, a)["message"]
    assert hub.rooms.find("r").topic == "t" * limit  # type: ignore[union-attr]


@pytest.mark.parametrize("limit", [1, 20, MAX_AWAY_LENGTH])
def test_an_away_message_up_to_max_away_is_set_and_longer_is_invalid_text(limit: int) -> None:
    hub, _ = make_hub(max_away=limit)
    a, a_io = member(hub, "a")
    send(hub, a, {"type": "away", "message": " " + "w" * limit + " "})
    assert answer(a_io, "away_changed")["message"] == "w" * limit
    send(hub, a, {"type": "away", "message": "v" * (limit + 1)})
    assert f"at most {limit} characters" in refused(a_io, a)["message"]
    assert a.away == "w" * limit


def test_the_protocols_limits_hold_by_default() -> None:
    hub, _ = make_hub()
    a, a_io = member(hub, "a")
    send(hub, a, {"type": "say", "room": "r", "text": "x" * (MAX_TEXT_LENGTH + 1)})
    refused(a_io, a)
    send(hub, a, {"type": "topic", "room": "r", "topic": "x" * (MAX_TOPIC_LENGTH + 1)})
    refused(a_io, a)
    send(hub, a, {"type": "away", "message": "x" * (MAX_AWAY_LENGTH + 1)})
    refused(a_io, a)


def test_lowering_max_text_leaves_topics_and_away_messages_alone() -> None:
    hub, _ = make_hub(max_text=5)
    a, a_io = member(hub, "a")
    send(hub, a, {"type": "topic", "room": "r", "topic": "a longer topic"})
    assert answer(a_io, "topic")["topic"] == "a longer topic"
    send(hub, a, {"type": "away", "message": "out for lunch"})
    assert answer(a_io, "away_changed")["message"] == "out for lunch"


# ---------------------------------------------------------------------- password checks


class GatedHasher(PasswordHasher):
    """argon2id at its cheapest, whose hashes wait until the gate opens: checks stay in
    flight as long as the test wants."""

    def __init__(self, gate: threading.Event) -> None:
        super().__init__(time_cost=1, memory_cost=8, parallelism=1)
        self.gate = gate

    def hash(self, password: str | bytes, *, salt: bytes | None = None) -> str:
        assert self.gate.wait(10), "the gate never opened"
        return super().hash(password, salt=salt)


@pytest.fixture
def gate() -> Iterator[threading.Event]:
    opened = threading.Event()
    yield opened
    opened.set()  # never leave a hasher thread waiting


def gated_hub(gate: threading.Event, limit: int) -> Hub:
    return Hub(
        CoreConfig(max_password_checks=limit),
        backend="test",
        clock=Clock(),
        passwords=Passwords(GatedHasher(gate)),
    )


@pytest.mark.parametrize("limit", [1, 3])
def test_password_checks_up_to_the_limit_run_and_one_more_is_rate_limited(
    gate: threading.Event, limit: int
) -> None:
    hub = gated_hub(gate, limit)
    try:
        clients = [member(hub, f"user{i}", None) for i in range(limit + 1)]
        for conn, io in clients[:limit]:
            send(hub, conn, {"type": "register", "password": PASSWORD})
            assert io.drain() == []  # accepted: hashing, its answer to come
        late, late_io = clients[limit]
        send(hub, late, {"type": "register", "password": PASSWORD})
        error = answer(late_io, "error")
        assert (error["code"], error["fatal"], error["retry_after"]) == ("rate_limited", False, 1)
        gate.set()
        settled(hub)
        for _, io in clients[:limit]:
            assert answer(io, "registered")["type"] == "registered"
        send(hub, late, {"type": "register", "password": PASSWORD})  # room again
        settled(hub)
        assert answer(late_io, "registered")["account"] == f"user{limit}"
    finally:
        gate.set()
        hub.shutdown()


def test_the_password_check_limit_also_holds_for_room_keys(gate: threading.Event) -> None:
    hub = gated_hub(gate, 1)
    try:
        a, _ = member(hub, "a", None)
        b, b_io = member(hub, "b")
        send(hub, a, {"type": "register", "password": PASSWORD})  # the one check allowed
        send(hub, b, {"type": "mode", "room": "r", "key": "sesame"})
        assert answer(b_io, "error")["code"] == "rate_limited"
    finally:
        gate.set()
        hub.shutdown()


# ---------------------------------------------------------------------- the settings

BOUNDED = [
    ("max_text", "--max-text", "WIRECHAT_MAX_TEXT", MAX_TEXT_LENGTH, "the protocol's"),
    ("max_topic", "--max-topic", "WIRECHAT_MAX_TOPIC", MAX_TOPIC_LENGTH, "the protocol's"),
    ("max_away", "--max-away", "WIRECHAT_MAX_AWAY", MAX_AWAY_LENGTH, "the protocol's"),
    (
        "password_checks",
        "--password-checks",
        "WIRECHAT_PASSWORD_CHECKS",
        MAX_PASSWORD_CHECKS,
        "the server's",
    ),
]
CORE = {
    "max_text": "max_text",
    "max_topic": "max_topic",
    "max_away": "max_away",
    "password_checks": "max_password_checks",
}


def problems(flags: dict[str, object], config: pathlib.Path | None = None) -> list[str]:
    with pytest.raises(SettingsError) as caught:
        load(flags, config)
    return caught.value.problems


@pytest.mark.parametrize(("name", "flag", "env", "most", "whose"), BOUNDED)
@pytest.mark.parametrize("bad", ["0", "-1", "above"])
def test_a_value_out_of_bounds_is_one_clear_message(
    name: str, flag: str, env: str, most: int, whose: str, bad: str
) -> None:
    value = str(most + 1) if bad == "above" else bad
    assert problems({name: value}) == [
        f"{name} = {value} (from {flag}): must be between 1 and {most} "
        f"({whose} limit, which this setting can only lower)"
    ]


@pytest.mark.parametrize(("name", "flag", "env", "most", "whose"), BOUNDED)
def test_each_source_is_bounded_and_named(
    name: str,
    flag: str,
    env: str,
    most: int,
    whose: str,
    tmp_path: pathlib.Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    path = tmp_path / "w.toml"
    path.write_text(f"{name} = {most + 1}\n")
    (found,) = problems({}, path)
    assert found.startswith(f"{name} = {most + 1} (from {path}): must be between 1 and {most}")
    monkeypatch.setenv(env, "0")
    (found,) = problems({}, path)
    assert found.startswith(f"{name} = 0 (from {env}): must be between 1 and {most}")
    (found,) = problems({name: "many"}, path)
    assert found == f"{name} = many (from {flag}): must be an integer"
    # The winner alone is checked: a good flag beats the bad variable and file.
    assert getattr(load({name: "1"}, path).settings, name) == 1


@pytest.mark.parametrize(("name", "flag", "env", "most", "whose"), BOUNDED)
@pytest.mark.parametrize("bound", ["lowest", "highest"])
def test_the_bounds_themselves_are_accepted_and_reach_the_core(
    name: str, flag: str, env: str, most: int, whose: str, bound: str
) -> None:
    value = 1 if bound == "lowest" else most
    settings = load({name: str(value)}).settings
    assert getattr(settings, name) == value
    assert getattr(core_config(settings), CORE[name]) == value


def test_parse_args_stops_at_a_value_above_the_protocols(
    capsys: pytest.CaptureFixture[str],
) -> None:
    args = cli.build_parser().parse_args(["--max-text", "100", "--password-checks", "4"])
    config = cli.config_from(args)
    assert (config.max_text, config.max_password_checks) == (100, 4)
    with pytest.raises(SystemExit) as caught:
        cli.build_parser().parse_args(["--max-topic", "513"])
    assert caught.value.code == 2
    assert capsys.readouterr().err == (
        "chat-server: max_topic = 513 (from --max-topic): must be between 1 and 512 "
        "(the protocol's limit, which this setting can only lower)\n"
    )


def test_print_config_shows_each_and_where_it_came_from(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("WIRECHAT_MAX_AWAY", "100")
    assert cli.main(["--print-config", "--max-text", "2000"]) == 0
    lines = {
        line.split(" = ")[0]: line
        for line in capsys.readouterr().out.splitlines()
        if " = " in line and not line.startswith("#")
    }
    assert lines["max_text"].split() == ["max_text", "=", "2000", "#", "--max-text"]
    assert lines["max_away"].split() == ["max_away", "=", "100", "#", "WIRECHAT_MAX_AWAY"]
    assert lines["max_topic"].split() == ["max_topic", "=", "512", "#", "default"]
    assert lines["password_checks"].split() == ["password_checks", "=", "32", "#", "default"]


def test_check_config_refuses_a_raised_limit(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--check-config", "--max-away", "301"]) == 2
    assert "max_away = 301 (from --max-away): must be between 1 and 300" in (
        capsys.readouterr().err
    )


# ---------------------------------------------------------------------- reload


def test_they_reload_live(tmp_path: pathlib.Path, caplog: pytest.LogCaptureFixture) -> None:
    assert all(is_live(name) for name in CORE)
    path = tmp_path / "w.toml"
    path.write_text("max_text = 100\n")
    loaded = load({}, path)
    hub = Hub(core_config(loaded.settings))
    a, a_io = member(hub, "a")
    send(hub, a, {"type": "say", "room": "r", "text": "x" * 60})
    assert answer(a_io, "message")["text"] == "x" * 60
    path.write_text("max_text = 50\nmax_topic = 10\nmax_away = 5\npassword_checks = 2\n")
    with caplog.at_level(logging.INFO, logger="chat_server"):
        loaded = reload(hub, loaded)
    config = hub.config
    assert (config.max_text, config.max_topic, config.max_away) == (50, 10, 5)
    assert config.max_password_checks == 2
    assert "reload: max_text: 100 -> 50" in caplog.messages
    assert "reload: password_checks: 32 -> 2" in caplog.messages
    send(hub, a, {"type": "say", "room": "r", "text": "x" * 60})
    refused(a_io, a)
    # A value above the protocol's changes nothing: the old settings stay.
    path.write_text("max_text = 9000\n")
    with caplog.at_level(logging.INFO, logger="chat_server"):
        reload(hub, loaded)
    assert hub.config.max_text == 50
    assert any(
        message.startswith("reload: max_text = 9000") and "between 1 and 8000" in message
        for message in caplog.messages
    )
