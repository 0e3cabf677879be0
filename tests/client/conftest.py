"""Fixtures for the client tests: a fresh wirechat server per test, restartable on its port.

The server runs in this process, on a thread of its own (see inprocess.py): no interpreter to
start per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.client.inprocess import InProcessServer

HOST = "127.0.0.1"


@pytest.fixture(autouse=True)
def own_config_dir(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An empty config directory per test: no one's client.toml (settings) or known_servers is
    read, and what a test saves stays in it."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path_factory.mktemp("config")))


@pytest.fixture(autouse=True)
def own_data_dir(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """An empty data directory per test: a client that logs conversations (the command line's
    default) writes them there, never in the user's own."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path_factory.mktemp("data")))


@pytest.fixture
def server() -> Iterator[InProcessServer]:
    srv = InProcessServer("asyncio").start()
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture
def db_server(tmp_path: Path) -> Iterator[InProcessServer]:
    """The real server with a SQLite database of its own in tmp_path."""
    srv = InProcessServer("asyncio", "--db", str(tmp_path / "wirechat.db")).start()
    try:
        yield srv
    finally:
        srv.stop()
