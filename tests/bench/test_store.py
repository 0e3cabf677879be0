"""The store scenario: the database it builds, and one small run on a real server."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from chat_bench import store
from chat_bench.runner import can_pin
from chat_bench.scenarios import Settings, run


def test_search_words_match_no_other_word_as_a_prefix() -> None:
    assert len(store.SEARCHABLE) > 300
    tokens = (*store.WORDS, "user1", "user39")
    for word in store.SEARCHABLE:
        assert [t for t in tokens if t.startswith(word)] == [word]
    assert store.queries(5) == store.queries(5)  # seeded: the same every run
    assert all(1 <= len(q.split()) <= 2 for q in store.queries(100))


def test_the_database_holds_numbered_messages_and_counts_its_words(tmp_path: Path) -> None:
    searches = store.queries(40)
    db = store.build(str(tmp_path / "m.db"), 3000, searches)
    conn = sqlite3.connect(db.path)
    try:
        rows = conn.execute("SELECT id, room, text FROM messages ORDER BY id").fetchall()
        assert [r[0] for r in rows] == list(range(1, 3001))
        assert {r[1] for r in rows} == {store.ROOM}
        (room,) = conn.execute("SELECT name FROM rooms").fetchone()
        assert room == store.ROOM
        single = [q for q in searches if " " not in q]
        assert single and set(db.frequency) == set(single)
        for word in single:
            (count,) = conn.execute(
                "SELECT count(*) FROM messages_fts WHERE messages_fts MATCH ?", (f'"{word}"',)
            ).fetchone()
            assert db.frequency[word] == count
    finally:
        conn.close()
    assert store.database_bytes(db.path) > 3000 * 50


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
