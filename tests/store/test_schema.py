"""Schema migrations: a database written at every earlier version, with data in every table
that version had, comes to the latest version with nothing lost, and serves it."""

from __future__ import annotations

import json
import pathlib
import sqlite3

import pytest

from chat_server.core.interfaces import StoredState
from chat_server.core.rooms import Room
from chat_server.store import schema
from chat_server.store.sqlite import SqliteStore, StoreError
from protocol.messages import chat_message_body
from tests.store.harness import opened

LATEST = schema.LATEST


def connect(path: pathlib.Path) -> sqlite3.Connection:
    return sqlite3.connect(path, isolation_level=None)


def body(message_id: int, text: str) -> bytes:
    return chat_message_body(message_id, "Lobby", "alice", text, False, "2026-01-01T00:00:00Z")


def write_version(path: pathlib.Path, version: int) -> None:
    """A database at `version`, holding what a server of that version would have written."""
    db = connect(path)
    try:
        assert schema.migrate(db, version) == 0
        assert schema.version(db) == version
        if version >= 1:
            db.execute("INSERT INTO meta VALUES ('instance', 'feedfacecafebeef')")
            db.execute("INSERT INTO meta VALUES ('id_ceiling', '10007')")
            db.execute(
                "INSERT INTO rooms VALUES ('lobby', 'Lobby', 'old topic', 'alice', "
                "'2026-01-01T00:00:00Z', 1767225600.0)"
            )
            # Two chunks (two commits), the second with a logged-in sender.
            first = [body(1, "hello old world"), body(2, "second message")]
            second = [body(5, "after a dm"), body(6, "the old days, newest")]
            db.execute(
                "INSERT INTO chunks (room, first, last, count, bodies, accounts) "
                "VALUES ('lobby', 1, 2, 2, ?, NULL)",
                (b"\n".join(first),),
            )
            db.execute(
                "INSERT INTO chunks (room, first, last, count, bodies, accounts) "
                "VALUES ('lobby', 5, 6, 2, ?, ?)",
                (b"\n".join(second), json.dumps(["alice", None])),
            )
        if version >= 2:
            db.execute(
                "INSERT INTO accounts VALUES ('alice', 'alice', 'alice', 'HASH', "
                "'2026-01-01T00:00:00Z')"
            )
            db.execute(
                "INSERT INTO offline_dms (recipient, id, sender, text, ts) "
                "VALUES ('alice', 4, 'bob', 'while you were out', '2026-01-01T00:00:01Z')"
            )
        if version >= 3:
            for chunk_id, room, bodies in db.execute("SELECT id, room, bodies FROM chunks"):
                db.execute(
                    "INSERT INTO chunks_fts (rowid, room, text) VALUES (?, ?, ?)",
                    (chunk_id, schema.room_token(room), schema.chunk_text(bodies)),
                )
    finally:
        db.close()


def tables(db: sqlite3.Connection) -> dict[str, str]:
    return {
        name: sql
        for name, sql in db.execute("SELECT name, sql FROM sqlite_master WHERE sql IS NOT NULL")
    }


def test_a_new_database_is_at_the_latest_version(tmp_path: pathlib.Path) -> None:
    db = connect(tmp_path / "new.db")
    assert schema.migrate(db) == 0
    assert schema.version(db) == LATEST
    assert {"meta", "rooms", "chunks", "accounts", "offline_dms", "chunks_fts"} <= set(tables(db))
    assert schema.migrate(db) == LATEST  # again: nothing to do
    assert schema.version(db) == LATEST


@pytest.mark.parametrize("version", range(LATEST))
def test_every_earlier_version_migrates_to_the_same_schema(
    tmp_path: pathlib.Path, version: int
) -> None:
    write_version(tmp_path / "old.db", version)
    old = connect(tmp_path / "old.db")
    fresh = connect(tmp_path / "fresh.db")
    try:
        assert schema.migrate(old) == version
        schema.migrate(fresh)
        assert schema.version(old) == LATEST
        assert tables(old) == tables(fresh)
    finally:
        old.close()
        fresh.close()


@pytest.mark.parametrize("version", range(LATEST))
def test_data_of_every_earlier_version_survives_into_the_latest(
    tmp_path: pathlib.Path, version: int
) -> None:
    path = tmp_path / "old.db"
    write_version(path, version)
    with opened(path) as store:
        state = store.state
        db = connect(path)
        try:
            assert schema.version(db) == LATEST
        finally:
            db.close()
        if version == 0:
            assert state == StoredState([], [], {})
            assert store.next_id() == 1
            return
        assert store.instance == "feedfacecafebeef"  # the same database: the same instance
        (room,) = state.rooms
        assert (room.key, room.name, room.topic, room.topic_by, room.last_id) == (
            "lobby",
            "Lobby",
            "old topic",
            "alice",
            6,
        )
        lobby = Room("Lobby")
        history = store.read(lambda r: r.history(lobby, None, 10))
        assert [i for i, _ in history] == [6, 5, 2, 1]
        assert history[-1][1] == body(1, "hello old world")
        # Messages written before the search index existed are found all the same.
        found = store.read(lambda r: r.search(lobby, "old", 10))
        assert [i for i, _ in found] == [6, 1]
        assert store.next_id() == 10007  # ids go on above the ceiling the old server kept
        if version >= 2:
            assert [a.name for a in state.accounts] == ["alice"]
            assert state.offline == {"alice": 1}
            (dm,) = store.read(lambda r: r.offline_dms("alice"))
            assert (dm.id, dm.sender, dm.text) == (4, "bob", "while you were out")
        else:
            assert state.accounts == [] and state.offline == {}


def test_a_failing_migration_leaves_the_database_at_its_version(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "old.db"
    write_version(path, 1)

    def broken(db: sqlite3.Connection) -> None:
        db.execute("CREATE TABLE half_done (x)")
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(schema, "MIGRATIONS", (*schema.MIGRATIONS[:1], broken))
    db = connect(path)
    try:
        with pytest.raises(sqlite3.OperationalError):
            schema.migrate(db, 2)
        assert schema.version(db) == 1
        assert "half_done" not in tables(db)
        assert db.execute("SELECT COUNT(*) FROM chunks").fetchone() == (2,)
    finally:
        db.close()


def test_a_newer_database_is_refused(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "new.db"
    db = connect(path)
    schema.migrate(db)
    db.execute(f"PRAGMA user_version = {LATEST + 1}")
    with pytest.raises(schema.SchemaTooNew):
        schema.migrate(db)
    db.close()
    store = SqliteStore(path)
    with pytest.raises(StoreError, match=r"newer|version"):
        store.start(lambda work: None, None, None)  # type: ignore[arg-type]
    store.close()
