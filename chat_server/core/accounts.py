"""Accounts: who owns which nick, and their password hashes (argon2id, hashed off the loop).

Every account is held in memory (loaded from the store at start), indexed by both identity
keys of its name, so deciding whether a nick is owned never touches the disk. Hashing and
verifying run on a small thread pool: argon2id with argon2-cffi's defaults (RFC 9106's
low-memory profile: 64 MiB, 3 passes, 4 lanes) takes about a tenth of a second of CPU.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from typing import Any, TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from chat_server.core.interfaces import AccountRecord
from chat_server.core.threads import ignore_stop_signals
from protocol.names import MAX_NICK_LENGTH, name_keys, too_long

T = TypeVar("T")


class Passwords(Executor):
    """argon2id hashing on its own worker threads, counting what is in flight."""

    def __init__(self, hasher: PasswordHasher | None = None, workers: int = 2) -> None:
        self.hasher = hasher or PasswordHasher()
        self._pool = ThreadPoolExecutor(
            workers, thread_name_prefix="argon2", initializer=ignore_stop_signals
        )
        self._lock = threading.Lock()
        self._in_flight = 0

    def full(self, limit: int) -> bool:
        """`limit` checks (CoreConfig.max_password_checks) are running or queued: refuse more
        for now (`rate_limited`). Each one costs 64 MiB and ~0.1 s of a core while it runs."""
        return self._in_flight >= limit

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        with self._lock:
            self._in_flight += 1

        def counted() -> T:
            try:
                return fn(*args, **kwargs)
            finally:
                with self._lock:
                    self._in_flight -= 1

        return self._pool.submit(counted)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        self._pool.shutdown(wait=wait, cancel_futures=cancel_futures)

    def hash(self, password: str) -> str:
        return self.hasher.hash(password)

    def verify(self, password_hash: str, password: str) -> bool:
        try:
            return self.hasher.verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            return False

    def close(self) -> None:
        self.shutdown(wait=False, cancel_futures=True)


class Accounts:
    """Every account by identity key, with how many offline DMs wait for each."""

    def __init__(self) -> None:
        self.by_key: dict[str, AccountRecord] = {}
        self._by_visual: dict[str, AccountRecord] = {}
        self.offline: dict[str, int] = {}  # account key -> stored DMs waiting

    def load(self, records: list[AccountRecord], offline: dict[str, int]) -> None:
        for record in records:
            self.add(record)
        self.offline.update(offline)

    def find(self, nick: str) -> AccountRecord | None:
        """The account owning `nick` or a look-alike of it."""
        if too_long(nick, MAX_NICK_LENGTH):
            return None
        key, visual = name_keys(nick)
        return self.by_key.get(key) or self._by_visual.get(visual)

    def add(self, record: AccountRecord) -> None:
        self.by_key[record.key] = record
        self._by_visual.setdefault(record.visual, record)

    def replace(self, record: AccountRecord) -> None:
        self.by_key[record.key] = record
        if self._by_visual.get(record.visual) is None or self._holds_visual(record):
            self._by_visual[record.visual] = record

    def remove(self, record: AccountRecord) -> None:
        self.by_key.pop(record.key, None)
        if self._holds_visual(record):
            del self._by_visual[record.visual]
        self.offline.pop(record.key, None)

    def _holds_visual(self, record: AccountRecord) -> bool:
        """The visual index points at this account (and not another with that skeleton)."""
        held = self._by_visual.get(record.visual)
        return held is not None and held.key == record.key

    def __len__(self) -> int:
        return len(self.by_key)
