"""Conversation logs: one file per room and DM under the user's data directory."""

from __future__ import annotations

import re
import stat
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from chat_client import cli
from chat_client.app import ChatApp
from chat_client.logfiles import (
    MAX_STEM_BYTES,
    LogWriter,
    conversation_file,
    log_dir,
    log_line,
    safe_name,
)
from protocol import ChatMessage, DirectMessage, Say, SendDm
from tests.client.apptest import HOST, enter, lines, peer, recv_until, started, wait_until
from tests.client.inprocess import InProcessServer

STAMP = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d"


def test_file_names_are_safe_whatever_the_name() -> None:
    assert safe_name("lobby") == safe_name("Lobby") == "lobby"
    assert safe_name("Zoé-2_x") == "zoé-2_x"
    for name in ("..", ".", "../../etc/passwd", "a/b", "a\\b", "\x1b[31m", "x\x00y", " ", "#x"):
        stem = safe_name(name)
        assert "/" not in stem and "\\" not in stem and "." not in stem, stem
        assert stem.isprintable() and stem.strip("%") and " " not in stem, stem
    assert safe_name("..") == "%2E%2E"
    assert safe_name("a/b") == "a%2Fb"
    assert safe_name("con") != "con"  # a device name on Windows
    long = safe_name("日本" * 200)
    assert len(long.encode()) <= MAX_STEM_BYTES and re.search(r"-[0-9a-f]{16}$", long)
    assert safe_name("x" * 300) != safe_name("x" * 301)  # the hash tells them apart
    # A room and a DM never share a file, even a room named like a DM.
    assert conversation_file("127.0.0.1:8089", "bob", dm=True) == Path(
        "127%2E0%2E0%2E1%3A8089/@bob.log"
    )
    assert conversation_file("127.0.0.1:8089", "@bob", dm=False).name == "%40bob.log"


def test_a_log_line_is_one_line_and_inert() -> None:
    at = datetime(2026, 12, 2, 9, 14, 3)
    assert log_line(at, "bob", "hi there") == "2026-12-02 09:14:03 <bob> hi there"
    assert log_line(at, "bob", "waves", action=True) == "2026-12-02 09:14:03 * bob waves"
    line = log_line(at, "e\x1bvil", "one\ntwo\x1b[2J\r")
    assert "\n" not in line and "\x1b" not in line and "\r" not in line
    assert line == "2026-12-02 09:14:03 <e\\x1bvil> one\\x0atwo\\x1b[2J\\x0d"


def test_the_writer_appends_lazily_on_its_own_thread(tmp_path: Path) -> None:
    root = tmp_path / "logs"
    writer = LogWriter(root)
    assert not root.exists()  # nothing opened before the first line
    writer.write(Path("srv/lobby.log"), "first")
    writer.write(Path("srv/@bob.log"), "to bob")
    writer.flush()
    path = root / "srv" / "lobby.log"
    assert path.read_text() == "first\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE((root / "srv").stat().st_mode) == 0o700
    writer.write(Path("srv/lobby.log"), "second")
    writer.close()
    writer.write(Path("srv/lobby.log"), "after close: dropped")
    assert path.read_text() == "first\nsecond\n"
    again = LogWriter(root)  # appended to, never truncated
    again.write(Path("srv/lobby.log"), "third")
    again.close()
    assert path.read_text() == "first\nsecond\nthird\n"
    assert (root / "srv" / "@bob.log").read_text() == "to bob\n"


def test_a_file_that_cannot_be_written_is_said_once(tmp_path: Path) -> None:
    (tmp_path / "logs").write_text("a file where the directory should be")
    errors: list[str] = []
    writer = LogWriter(tmp_path / "logs", on_error=errors.append)
    writer.write(Path("srv/lobby.log"), "one")
    writer.write(Path("srv/lobby.log"), "two")
    writer.close()
    assert len(errors) == 1 and "not logging to" in errors[0]


def test_the_log_dir_follows_xdg_data_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    assert log_dir() == tmp_path / "wirechat" / "logs"


async def test_the_app_logs_rooms_and_dms(
    server: InProcessServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    app = ChatApp(HOST, server.port, "alice", "lobby", cursor_blink=False, logs=True)
    async with app.run_test(size=(80, 24)) as pilot:
        await started(pilot)
        bob = await peer(server.port, "Bob")
        await enter(pilot, "hello bob")
        await recv_until(bob, lambda m: isinstance(m, ChatMessage) and m.text == "hello bob")
        await bob.send(Say(room="lobby", text="two\nlines"))
        await bob.send(Say(room="lobby", text="waves", action=True))
        await bob.send(SendDm(to="alice", text="psst"))
        await wait_until(pilot, lambda: any("psst" in line for line in lines(app, "@Bob")))
        await enter(pilot, "/msg bob back at you")
        await recv_until(bob, lambda m: isinstance(m, DirectMessage) and m.text == "back at you")
        await wait_until(pilot, lambda: any("back at you" in line for line in lines(app, "@Bob")))
        await bob.close()
    assert app.conversation_logs is not None
    server_dir = tmp_path / "wirechat" / "logs" / safe_name(f"127.0.0.1:{server.port}")
    room = (server_dir / "lobby.log").read_text().splitlines()
    assert [re.sub(STAMP, "TS", line) for line in room] == [
        "TS <alice> hello bob",
        "TS <Bob> two\\x0alines",
        "TS * Bob waves",
    ]
    dm = (server_dir / "@bob.log").read_text().splitlines()
    assert [re.sub(STAMP, "TS", line) for line in dm] == ["TS <Bob> psst", "TS <alice> back at you"]
    assert sorted(p.name for p in server_dir.iterdir()) == ["@bob.log", "lobby.log"]


async def test_nothing_is_logged_without_logs(
    server: InProcessServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    app = ChatApp(HOST, server.port, "alice", "lobby", cursor_blink=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await started(pilot)
        await enter(pilot, "not logged")
        await wait_until(pilot, lambda: any("not logged" in line for line in lines(app, "lobby")))
    assert app.conversation_logs is None
    assert not (tmp_path / "wirechat").exists()


def test_no_log_turns_logging_off(monkeypatch: pytest.MonkeyPatch) -> None:
    made: list[dict[str, Any]] = []

    class FakeApp:
        return_code = 0

        def __init__(self, *args: object, **kwargs: Any) -> None:
            made.append(kwargs)

        def run(self) -> None:
            pass

    monkeypatch.setattr("chat_client.app.ChatApp", FakeApp)
    assert cli.main(["--nick", "alice"]) == 0
    assert cli.main(["--nick", "alice", "--no-log"]) == 0
    assert [kwargs["logs"] for kwargs in made] == [True, False]
