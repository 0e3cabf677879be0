"""The store scenario: the database it builds, and one small run on a real server."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from chat_bench import store
from chat_bench.runner import can_pin
from chat_bench.scenarios import Settings, run
from chat_server.core.interfaces import StoredMessage
from chat_server.store import schema
from chat_server.store.reads import Reader
from chat_server.store.sqlite import SqliteStore, prepare_writes
from protocol.messages import chat_message_body
from protocol.names import name_key


def test_search_words_match_no_other_word_as_a_prefix() -> None:
    assert len(store.SEARCHABLE) > 300
    tokens = (*store.WORDS, "user1", "user39")
    for word in store.SEARCHABLE:
        assert [t for t in tokens if t.startswith(word)] == [word]
    assert store.queries(5) == store.queries(5)  # seeded: the same every run
    assert all(1 <= len(q.split()) <= 2 for q in store.queries(100))


def test_the_database_holds_numbered_messages_in_chunks_and_counts_its_words(
    tmp_path: Path,
) -> None:
    searches = store.queries(40)
    db = store.build(str(tmp_path / "m.db"), 3000, searches)
    conn = sqlite3.connect(db.path)
    try:
        rows = conn.execute(
            "SELECT id, room, first, last, count, bodies, accounts FROM chunks ORDER BY id"
        ).fetchall()
        assert len(rows) == db.chunks > 3000 // store.CHUNK_MAX
        assert {r[1] for r in rows} == {name_key(store.ROOM)}
        assert {r[6] for r in rows} == {None}  # guests only
        sizes = [r[4] for r in rows]
        assert min(sizes) >= 1 and max(sizes) <= store.CHUNK_MAX and len(set(sizes)) > 10
        ids = []
        for _, _, first, last, count, bodies, _ in rows:
            messages = [json.loads(body) for body in bodies.split(b"\n")]
            assert [m["id"] for m in messages] == list(range(first, last + 1))
            assert len(messages) == count
            ids += [m["id"] for m in messages]
            assert {m["room"] for m in messages} == {store.ROOM}
        assert ids == list(range(1, 3001))
        (room,) = conn.execute("SELECT name FROM rooms").fetchone()
        assert room == store.ROOM
        single = [q for q in searches if " " not in q]
        assert single and set(db.frequency) == set(single)
        reader = Reader(conn)
        for word in single:
            assert len(reader.search(_Room(), word, 10**6)) == db.frequency[word]
        assert [i for i, _ in reader.history(_Room(), 1000, 50)] == list(range(999, 949, -1))
    finally:
        conn.close()
    assert store.database_bytes(db.path) > 3000 * 50


class _Room:
    key = name_key(store.ROOM)


def test_the_database_is_what_the_server_writes(tmp_path: Path) -> None:
    """The same messages, in the same chunks, through the server's own writer."""
    db = store.build(str(tmp_path / "bench.db"), 1000, [])
    built = sqlite3.connect(db.path)
    ours = sqlite3.connect(tmp_path / "server.db", isolation_level=None)
    try:
        schema.migrate(ours)
        prepare_writes(ours)
        key = name_key(store.ROOM)
        ours.execute(
            "INSERT INTO rooms (key, name, created, last_active) VALUES (?, ?, '', 0)",
            (key, store.ROOM),
        )
        chunks = "SELECT room, first, last, count, bodies, accounts FROM chunks ORDER BY id"
        for _, _, _, _, bodies, _ in built.execute(chunks).fetchall():
            messages = []
            for body in bodies.split(b"\n"):
                m = json.loads(body)
                again = chat_message_body(
                    m["id"], m["room"], m["nick"], m["text"], m["action"], m["ts"]
                )
                messages.append(StoredMessage(m["id"], key, again, m["text"], None))
            ours.execute("BEGIN")
            SqliteStore._insert_chunks(ours, messages)  # next chunk id: the table's
            ours.execute("COMMIT")
        assert built.execute(chunks).fetchall() == ours.execute(chunks).fetchall()
        match = "SELECT rowid FROM chunks_fts WHERE chunks_fts MATCH ? ORDER BY rowid"
        for query in [f'room : "{schema.room_token(key)}"', *store.WORDS[:50:7], "capybara"]:
            assert (
                built.execute(match, (query,)).fetchall()
                == ours.execute(match, (query,)).fetchall()
            )
    finally:
        built.close()
        ours.close()


@pytest.mark.timeout(60)
def test_a_backend_on_a_database_pages_back_and_searches() -> None:
    settings = Settings(store_messages=20_000, pin=can_pin())
    result = run("store", "asyncio+sqlite", settings.store_messages, 0, settings)
    assert result.status == "ok", (result.error, result.notes)
    assert result.backend == "asyncio+sqlite"
    m = result.metrics
    # Every page and search was checked by the member (the run fails otherwise).
    assert m["history_pages"] == settings.store_pages
    assert m["searches"] == settings.store_queries
    assert 0 < m["history_p50_ms"] <= m["history_p99_ms"] <= m["history_max_ms"]
    assert 0 < m["search_p50_ms"] <= m["search_p99_ms"] <= m["search_max_ms"]
    assert m["search_hit_pct"] > 50
    assert m["start_memory_s"] > 0
    assert m["start_s"] > 0
    assert m["bytes_per_message"] == pytest.approx(m["db_bytes"] / 20_000)
    assert 50 < m["bytes_per_message"] < 2000
