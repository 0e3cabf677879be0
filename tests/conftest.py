"""Fixtures shared by every suite: servers per backend, connected clients, unique names."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator

import pytest
from hypothesis import settings

from chat_server.backends import BACKENDS
from tests.helpers import ServerProcess, WireClient

_counter = itertools.count()

# No per-example deadline: how long an example takes depends on how busy the machine is (CI
# runs suites side by side), and a time limit is not what these properties are about.
settings.register_profile("wirechat", deadline=None)
settings.load_profile("wirechat")


@pytest.fixture(scope="session", params=sorted(BACKENDS))
def backend(request: pytest.FixtureRequest) -> str:
    """Every backend name: tests that use it run once per backend, with the name in the id."""
    return str(request.param)


@pytest.fixture(scope="session")
def server(backend: str) -> Iterator[ServerProcess]:
    """One shared server per backend; tests use unique nicks and rooms (see `unique`)."""
    proc = ServerProcess(backend).start()
    yield proc
    proc.stop()


@pytest.fixture
def unique() -> Callable[[str], str]:
    """Names no other test uses, so tests can share one server."""

    def make(prefix: str) -> str:
        return f"{prefix}{next(_counter)}"

    return make


ConnectFactory = Callable[..., Awaitable[WireClient]]


@pytest.fixture
async def connect(
    server: ServerProcess, unique: Callable[[str], str]
) -> AsyncIterator[ConnectFactory]:
    """`await connect("alice")`: a registered client (nick made unique); closed at teardown."""
    clients: list[WireClient] = []

    async def make(
        nick: str | None = "user", room: str | None = None, target: ServerProcess | None = None
    ) -> WireClient:
        client = await WireClient.connect(target or server)
        clients.append(client)
        if nick is not None:
            await client.hello(unique(nick))
            if room is not None:
                await client.join(room)
        return client

    yield make
    for client in clients:
        await client.close()
