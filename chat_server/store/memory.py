"""The in-memory store (`--db :memory:`): nothing outlives the process, nothing waits on a disk.

Accounts and offline DMs live in dicts, history is the core's window alone, and every read is
answered inline. Ids restart with every process, so the instance token does too.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Callable
from concurrent.futures import Executor
from typing import TYPE_CHECKING

from chat_server.core.interfaces import (
    AccountRecord,
    HistoryStore,
    ModLogRecord,
    Post,
    StoredDm,
    StoredMessage,
    StoredState,
    StoreListener,
)
from chat_server.core.memory import MemoryIds
from chat_server.core.moderation import StoredBan
from chat_server.store.search import matcher

if TYPE_CHECKING:
    from chat_server.core.rooms import Room


class MemoryStore:
    """Today's behaviour: rooms vanish with their last member, history is the window."""

    keeps_rooms = False
    reads: Executor | None = None

    def __init__(self) -> None:
        self._ids = MemoryIds()
        self._accounts: dict[str, AccountRecord] = {}
        self._offline: dict[str, deque[StoredDm]] = {}
        self._window: HistoryStore | None = None
        self._modlog: dict[str, deque[ModLogRecord]] = {}

    @property
    def instance(self) -> str:
        return self._ids.instance

    @property
    def next_id(self) -> Callable[[], int]:
        return self._ids.next_id

    def start(self, post: Post, listener: StoreListener, window: HistoryStore) -> StoredState:
        self._window = window
        return StoredState([], list(self._accounts.values()), {})

    def close(self) -> None:
        pass

    def reader(self) -> MemoryStore:
        return self

    def health(self) -> str | None:
        return None

    # ------------------------------------------------------------------ writes

    def save_room(self, key: str, name: str, created: str) -> None:
        pass

    def set_topic(self, key: str, topic: str, by: str) -> None:
        pass

    def forget_room(self, key: str, upto_id: int) -> None:
        self._modlog.pop(key, None)

    def add_message(self, message: StoredMessage) -> int:
        return 0

    def add_account(self, account: AccountRecord) -> int:
        self._accounts[account.key] = account
        return 0

    def set_password(self, key: str, password_hash: str) -> int:
        account = self._accounts.get(key)
        if account is not None:
            self._accounts[key] = account._replace(hash=password_hash)
        return 0

    def drop_account(self, key: str) -> int:
        self._accounts.pop(key, None)
        self._offline.pop(key, None)
        return 0

    def add_offline_dm(self, dm: StoredDm, keep: int) -> int:
        queue = self._offline.get(dm.recipient)
        if queue is None:
            queue = self._offline[dm.recipient] = deque(maxlen=keep)
        queue.append(dm)
        return 0

    def drop_offline_dms(self, recipient: str, upto_id: int) -> None:
        queue = self._offline.get(recipient)
        if queue is not None:
            kept = [dm for dm in queue if dm.id > upto_id]
            queue.clear()
            queue.extend(kept)
            if not queue:
                del self._offline[recipient]

    # Moderation: the core holds it all while the server runs; only the log is kept here.

    def set_room_owner(self, key: str, owner: str | None) -> None:
        pass

    def set_room_modes(self, key: str, modes: str) -> None:
        pass

    def set_op(self, room: str, account: str, on: bool) -> None:
        pass

    def forget_account_roles(self, account: str) -> None:
        pass

    def save_ban(self, ban: StoredBan) -> None:
        pass

    def drop_ban(self, scope: str, kind: str, mask: str) -> None:
        pass

    def add_modlog(self, entry: ModLogRecord, keep: int) -> None:
        log = self._modlog.get(entry.scope)
        if log is None:
            log = self._modlog[entry.scope] = deque(maxlen=keep)
        log.append(entry)

    # ------------------------------------------------------------------ reads (inline)

    def history(self, room: Room, before: int | None, limit: int) -> list[tuple[int, bytes]]:
        return []  # nothing beyond the window, which the core has already read

    def search(self, room: Room, query: str, limit: int) -> list[tuple[int, bytes]]:
        """The window of the room, newest first, filtered as FTS5 would (every word)."""
        if self._window is None:
            return []
        matches = matcher(query)
        found: list[tuple[int, bytes]] = []
        for message_id, body in reversed(self._window.window(room)):
            if matches(json.loads(body)["text"]):
                found.append((message_id, body))
                if len(found) == limit:
                    break
        return found

    def offline_dms(self, recipient: str) -> list[StoredDm]:
        return list(self._offline.get(recipient, ()))

    def modlog(self, scope: str, limit: int) -> list[ModLogRecord]:
        return list(reversed(self._modlog.get(scope, ())))[:limit]
