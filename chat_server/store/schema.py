"""The SQLite schema as numbered migrations, applied on start (`PRAGMA user_version`).

Each migration takes a database at version N-1 to N inside one transaction. A database newer
than this code knows is refused rather than guessed at. Tests build a database at every
earlier version and migrate it (tests/store/test_schema.py).
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Callable

Migration = Callable[[sqlite3.Connection], None]


class SchemaTooNew(RuntimeError):
    """The database was written by a newer wirechat."""


def _v1_rooms_and_messages(db: sqlite3.Connection) -> None:
    db.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) STRICT")
    db.execute(
        """CREATE TABLE rooms (
            key TEXT PRIMARY KEY,
            name TEXT NOT NULL,
            topic TEXT NOT NULL DEFAULT '',
            topic_by TEXT NOT NULL DEFAULT '',
            created TEXT NOT NULL,
            last_active REAL NOT NULL
        ) STRICT"""
    )
    # Messages are stored as chunks: the messages of one room that one commit wrote, as the
    # exact `message` bodies that went on the wire (one per line: JSON never holds a raw
    # newline), with their ids `first`..`last` and, when any sender was logged in, a JSON
    # list of accounts (null for none) in the same order. One row per room per commit, not
    # per message: a busy room costs the writer a few rows a second, not thousands.
    db.execute(
        """CREATE TABLE chunks (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            room TEXT NOT NULL,
            first INTEGER NOT NULL,
            last INTEGER NOT NULL,
            count INTEGER NOT NULL,
            bodies BLOB NOT NULL,
            accounts TEXT
        ) STRICT"""
    )
    db.execute("CREATE INDEX chunks_by_room ON chunks (room, first)")


def _v2_accounts(db: sqlite3.Connection) -> None:
    db.execute(
        """CREATE TABLE accounts (
            key TEXT PRIMARY KEY,
            visual TEXT NOT NULL,
            name TEXT NOT NULL,
            hash TEXT NOT NULL,
            created TEXT NOT NULL
        ) STRICT"""
    )
    db.execute("CREATE INDEX accounts_by_visual ON accounts (visual)")
    db.execute(
        """CREATE TABLE offline_dms (
            seq INTEGER PRIMARY KEY,
            recipient TEXT NOT NULL,
            id INTEGER NOT NULL,
            sender TEXT NOT NULL,
            text TEXT NOT NULL,
            ts TEXT NOT NULL
        ) STRICT"""
    )
    db.execute("CREATE INDEX offline_dms_by_recipient ON offline_dms (recipient, seq)")


def _v3_search(db: sqlite3.Connection) -> None:
    # Contentless: the index holds tokens only. One document per chunk: its room's token and
    # the texts of its messages; a search then checks each message of a matching chunk.
    db.execute(
        """CREATE VIRTUAL TABLE chunks_fts USING fts5(
            room, text, content='', tokenize='unicode61 remove_diacritics 2'
        )"""
    )
    rows = db.execute("SELECT id, room, bodies FROM chunks ORDER BY id")
    db.executemany(
        "INSERT INTO chunks_fts (rowid, room, text) VALUES (?, ?, ?)",
        ((chunk_id, room_token(room), chunk_text(bodies)) for chunk_id, room, bodies in rows),
    )


def _v4_moderation(db: sqlite3.Connection) -> None:
    # A room's owning account (NULL: none) and its modes (core.moderation.Modes as JSON; the
    # room key only as its argon2 hash).
    db.execute("ALTER TABLE rooms ADD COLUMN owner TEXT")
    db.execute("ALTER TABLE rooms ADD COLUMN modes TEXT NOT NULL DEFAULT ''")
    db.execute(
        """CREATE TABLE room_ops (
            room TEXT NOT NULL,
            account TEXT NOT NULL,
            PRIMARY KEY (room, account)
        ) STRICT"""
    )
    # Bans and mutes by scope: a room's key, or '' for the server's own bans.
    db.execute(
        """CREATE TABLE bans (
            scope TEXT NOT NULL,
            kind TEXT NOT NULL,
            mask TEXT NOT NULL,
            by TEXT NOT NULL,
            reason TEXT,
            ts TEXT NOT NULL,
            expires REAL,
            PRIMARY KEY (scope, kind, mask)
        ) STRICT"""
    )
    db.execute(
        """CREATE TABLE modlog (
            seq INTEGER PRIMARY KEY,
            scope TEXT NOT NULL,
            ts TEXT NOT NULL,
            by TEXT NOT NULL,
            action TEXT NOT NULL,
            target TEXT NOT NULL,
            reason TEXT
        ) STRICT"""
    )
    db.execute("CREATE INDEX modlog_by_scope ON modlog (scope, seq)")


def room_token(room_key: str) -> str:
    """The single FTS token that stands for a room (its key may hold any characters)."""
    return "r" + hashlib.blake2b(room_key.encode(), digest_size=8).hexdigest()


def chunk_text(bodies: bytes) -> str:
    """What the search index holds of a chunk: the texts of its messages, one per line."""
    return "\n".join(json.loads(body)["text"] for body in bodies.split(b"\n"))


#: MIGRATIONS[n] takes a database from version n to n + 1.
MIGRATIONS: tuple[Migration, ...] = (
    _v1_rooms_and_messages,
    _v2_accounts,
    _v3_search,
    _v4_moderation,
)
LATEST = len(MIGRATIONS)


def version(db: sqlite3.Connection) -> int:
    return int(db.execute("PRAGMA user_version").fetchone()[0])


def migrate(db: sqlite3.Connection, target: int = LATEST) -> int:
    """Bring `db` to version `target` (default: the latest), one transaction per step.
    Returns the version it was at."""
    start = version(db)
    if start > LATEST:
        raise SchemaTooNew(
            f"the database is at schema version {start}; this wirechat knows up to {LATEST}"
        )
    for number in range(start, target):
        with _transaction(db):
            MIGRATIONS[number](db)
            db.execute(f"PRAGMA user_version = {number + 1}")
    return start


class _transaction:
    """BEGIN IMMEDIATE ... COMMIT, or ROLLBACK on error (autocommit connections)."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def __enter__(self) -> None:
        self.db.execute("BEGIN IMMEDIATE")

    def __exit__(self, kind: object, exc: object, tb: object) -> None:
        self.db.execute("COMMIT" if exc is None else "ROLLBACK")
