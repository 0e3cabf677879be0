"""The SQLite store's reads, on its read-only connections (one per reader thread): pages of
a room's history, search through the FTS5 index, the DMs stored for an account, and the
moderation log. Each reads the chunks the writer made (chat_server.store.sqlite)."""

from __future__ import annotations

import json
import sqlite3
from typing import TYPE_CHECKING

from chat_server.core.interfaces import ModLogRecord, StoredDm
from chat_server.store.schema import room_token
from chat_server.store.search import fts_query, matcher, words
from protocol.messages import message_id_of

if TYPE_CHECKING:
    from chat_server.core.rooms import Room


class Reader:
    """One read-only connection, used by one thread."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def history(self, room: Room, before: int | None, limit: int) -> list[tuple[int, bytes]]:
        below = (1 << 62) if before is None else before
        found: list[tuple[int, bytes]] = []
        rows = self.db.execute(
            "SELECT bodies FROM chunks WHERE room = ? AND first < ? ORDER BY first DESC",
            (room.key, below),
        )
        for (bodies,) in rows:
            for body in reversed(bodies.split(b"\n")):
                message_id = message_id_of(body)
                if message_id < below:
                    found.append((message_id, body))
                    if len(found) == limit:
                        return found
        return found

    def search(self, room: Room, query: str, limit: int) -> list[tuple[int, bytes]]:
        match = fts_query(query)
        if match is None:
            return []
        matches = matcher(query)
        # Every word of the query, folded as the index folds it: for an ASCII query, a message
        # whose (lowercased, ASCII) body lacks one of them as bytes cannot match, and most
        # messages of a matching chunk are ruled out without decoding them.
        needles = [word.encode() for word, _ in words(query)]
        ascii_query = all(n.isascii() for n in needles)
        found: list[tuple[int, bytes]] = []
        rows = self.db.execute(
            "SELECT c.bodies FROM chunks_fts f JOIN chunks c ON c.id = f.rowid "
            "WHERE chunks_fts MATCH ? AND c.room = ? ORDER BY f.rowid DESC",
            (f'room : "{room_token(room.key)}" AND ({match})', room.key),
        )
        for (bodies,) in rows:
            # The chunk holds every word; each message must hold them all itself.
            parts = bodies.split(b"\n")
            lowered = None
            if ascii_query and bodies.isascii():
                lowered = bodies.lower().split(b"\n")
            for index in range(len(parts) - 1, -1, -1):
                if lowered is not None and not all(n in lowered[index] for n in needles):
                    continue
                body = parts[index]
                if matches(json.loads(body)["text"]):
                    found.append((message_id_of(body), body))
                    if len(found) == limit:
                        return found
        return found

    def modlog(self, scope: str, limit: int) -> list[ModLogRecord]:
        rows = self.db.execute(
            "SELECT scope, ts, by, action, target, reason FROM modlog WHERE scope = ? "
            "ORDER BY seq DESC LIMIT ?",
            (scope, limit),
        )
        return [ModLogRecord(*row) for row in rows]

    def offline_dms(self, recipient: str) -> list[StoredDm]:
        rows = self.db.execute(
            "SELECT recipient, id, sender, text, ts FROM offline_dms WHERE recipient = ? "
            "ORDER BY seq",
            (recipient,),
        )
        return [StoredDm(*row) for row in rows]
