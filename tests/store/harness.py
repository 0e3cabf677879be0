"""An in-process Hub over a store: cheap password hashing, and clients that wait for the core.

With accounts or a SQLite store some answers come back from other threads (the hasher, the
store's writer and readers) through `Hub.post`, and the core handles them at `Hub.settle()`,
which a backend calls when woken. Here `settled(hub)` plays that part: it settles until no
work is out on another thread and no output waits for the store, within a deadline.
"""

from __future__ import annotations

import contextlib
import os
import pathlib
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from argon2 import PasswordHasher

from chat_server.core import CoreConfig, Hub
from chat_server.core.accounts import Passwords
from chat_server.core.interfaces import StoredState, StoreReader
from chat_server.core.memory import MemoryHistory
from chat_server.store.sqlite import SqliteStore
from tests.core.harness import Clock, connect
from tests.core.peer import Peer
from tests.helpers import WAIT

T = TypeVar("T")


def cheap_passwords() -> Passwords:
    """argon2id at its cheapest: a test may hash many times and still take no time."""
    return Passwords(PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))


def settled(hub: Hub, timeout: float = WAIT) -> None:
    """Settle `hub` until nothing runs on another thread for it and nothing is withheld."""
    deadline = time.monotonic() + timeout
    while True:
        hub.settle()
        if hub.deferred == 0 and not hub.withheld:
            hub.settle()
            return
        if time.monotonic() > deadline:
            raise AssertionError(
                f"the core did not settle in {timeout}s: {hub.deferred} deferred, "
                f"{len(hub.withheld)} withheld"
            )
        time.sleep(0.002)


def make_hub(
    db: pathlib.Path | None = None, max_bytes: int | None = None, **config: Any
) -> tuple[Hub, Clock]:
    """A hub over the memory store, or over a SqliteStore on `db` (call `hub.shutdown()`)."""
    clock = Clock()
    store = None if db is None else SqliteStore(db, max_bytes=max_bytes)
    hub = Hub(
        CoreConfig(**config),
        backend="test",
        clock=clock,
        store=store,
        passwords=cheap_passwords(),
    )
    return hub, clock


class Client(Peer):
    """A Peer that lets the core settle before it looks at what it received."""

    def _pull(self) -> None:
        settled(self.hub)
        super()._pull()

    def login(self, nick: str, password: str) -> dict[str, Any]:
        """`hello` with `auth`; returns the first answer (`welcome` or an `error`)."""
        self.send("hello", nick=nick, protocol=1, auth={"password": password})
        answer = self.next_of("welcome", "error")
        if answer["type"] == "welcome":
            self.nick = answer["nick"]
        return answer


def client(
    hub: Hub,
    nick: str | None = "user",
    room: str | None = None,
    password: str | None = None,
    address: str = "127.0.0.1",
) -> Client:
    """A client of `hub`: registered as `nick` (logged in with `password` if given), in
    `room` if given, with its replies so far taken."""
    conn, io = connect(hub, address=address)
    peer = Client(hub, conn, io, None)
    if nick is not None:
        if password is None:
            peer.hello(nick)
        else:
            welcome = peer.login(nick, password)
            assert welcome["type"] == "welcome", welcome
        if room is not None:
            peer.join(room)
    peer.pending()
    return peer


class DrivenStore:
    """A SqliteStore driven as the core drives it, for tests of the store alone: what it
    posts runs at `pump()`, and the listener records what it was told."""

    def __init__(self, path: str | os.PathLike[str], **options: Any) -> None:
        self.store = SqliteStore(path, **options)
        self._posted: deque[Callable[[], None]] = deque()
        self._arrived = threading.Event()
        self.durable = 0
        self.failures: list[str] = []
        self.recoveries = 0
        self.state: StoredState | None = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)

    def start(self) -> StoredState:
        self.state = self.store.start(self._post, self, MemoryHistory(100, 1 << 20, 1 << 24))
        return self.state

    def _post(self, completion: Callable[[], None]) -> None:
        self._posted.append(completion)
        self._arrived.set()

    def pump(self) -> None:
        while self._posted:
            self._posted.popleft()()

    # StoreListener
    def committed(self, ticket: int) -> None:
        assert ticket >= self.durable, "tickets committed out of order"
        self.durable = ticket

    def store_failed(self, error: str) -> None:
        self.failures.append(error)

    def store_recovered(self) -> None:
        self.recoveries += 1

    def wait(self, ticket: int, timeout: float = WAIT) -> None:
        """Until write `ticket` (and all before it) is committed, or failed."""
        deadline = time.monotonic() + timeout
        while True:
            self.pump()
            if self.durable >= ticket:
                return
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"ticket {ticket} not committed in {timeout}s")
            self._arrived.wait(min(left, 0.05))
            self._arrived.clear()

    def read(self, work: Callable[[StoreReader], T]) -> T:
        """Run `work` with a reader on the store's read pool, as the core's reads run."""
        reads = self.store.reads
        assert reads is not None
        return reads.submit(lambda: work(self.store.reader())).result(WAIT)


@contextlib.contextmanager
def opened(path: str | os.PathLike[str], **options: Any) -> Iterator[DrivenStore]:
    """A started DrivenStore on `path`, closed (gracefully) at the end."""
    store = DrivenStore(path, **options)
    store.start()
    try:
        yield store
    finally:
        store.store.close()
        store.pump()
