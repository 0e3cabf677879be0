"""A chat room: its members in join order, its topic and its ring buffer of recent messages."""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from chat_server.core.connection import Connection


class Room:
    """Membership and history of one room. The name keeps the spelling of its first join."""

    __slots__ = ("history", "key", "members", "name", "topic", "topic_by")

    def __init__(self, name: str, key: str, history_size: int) -> None:
        self.name = name
        self.key = key
        # A dict keeps insertion order, so `who` lists members in the order they joined.
        self.members: dict[Connection, None] = {}
        # (id, encoded message body): replayed on join by splicing the bodies into one frame.
        self.history: deque[tuple[int, bytes]] = deque(maxlen=history_size)
        self.topic = ""
        self.topic_by = ""

    def since(self, last_seen: int | None, budget: int) -> list[bytes]:
        """Encoded messages still held with an id above `last_seen` (all when None), oldest
        first: the newest ones whose bodies fit in `budget` bytes."""
        replay: list[bytes] = []
        for message_id, body in reversed(self.history):
            if last_seen is not None and message_id <= last_seen:
                break
            budget -= len(body) + 1
            if budget < 0:
                break
            replay.append(body)
        replay.reverse()
        return replay

    def nicks(self) -> list[str]:
        return [conn.nick for conn in self.members if conn.nick is not None]
