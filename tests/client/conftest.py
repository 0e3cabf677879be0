"""Fixtures for the client tests: a fresh wirechat server per test, restartable on its port."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.helpers import ServerProcess

HOST = "127.0.0.1"


@pytest.fixture
def server() -> Iterator[ServerProcess]:
    srv = ServerProcess("asyncio").start()
    try:
        yield srv
    finally:
        srv.stop()
