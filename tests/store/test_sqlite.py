"""The SQLite store driven directly: writes committed in order and read back, paging, search,
accounts and offline DMs, ids across graceful and crashed restarts, forgetting rooms, and a
database that stops taking writes."""

from __future__ import annotations

import os
import pathlib
import shutil
import sqlite3

import pytest

from chat_server.core.interfaces import AccountRecord, StoredDm, StoredMessage
from chat_server.core.rooms import Room
from chat_server.store import sqlite as sqlite_store
from chat_server.store.sqlite import CHUNK_MESSAGES, ID_BLOCK
from protocol.messages import chat_message_body
from tests.store.harness import DrivenStore, opened

TS = "2026-01-01T00:00:00Z"
LOBBY = Room("Lobby")


def say(store: DrivenStore, text: str, room: Room = LOBBY, account: str | None = None) -> int:
    """Queue one message; its ticket. The id is the store's next."""
    message_id = store.next_id()
    body = chat_message_body(message_id, room.name, "alice", text, False, TS)
    return store.add_message(StoredMessage(message_id, room.key, body, text, account))


def ids(rows: list[tuple[int, bytes]]) -> list[int]:
    return [message_id for message_id, _ in rows]


@pytest.fixture
def path(tmp_path: pathlib.Path) -> pathlib.Path:
    return tmp_path / "store.db"


def test_writes_are_committed_in_order_and_read_back(path: pathlib.Path) -> None:
    with opened(path) as store:
        store.save_room(LOBBY.key, LOBBY.name, TS)
        tickets = [say(store, f"message {i}") for i in range(5)]
        assert tickets == sorted(tickets) and len(set(tickets)) == 5
        store.wait(tickets[-1])
        assert store.health() is None and store.failures == []
        rows = store.read(lambda r: r.history(LOBBY, None, 3))
        assert ids(rows) == [5, 4, 3]
        assert rows[0][1] == chat_message_body(5, "Lobby", "alice", "message 4", False, TS)
        assert ids(store.read(lambda r: r.history(LOBBY, 3, 10))) == [2, 1]
        assert store.read(lambda r: r.history(Room("elsewhere"), None, 10)) == []


def test_history_pages_across_chunks_to_the_first_message(path: pathlib.Path) -> None:
    count = CHUNK_MESSAGES * 2 + 10
    other = Room("other")
    with opened(path) as store:
        store.save_room(LOBBY.key, LOBBY.name, TS)
        ticket = 0
        with store.store._cond:  # the writer takes them all at once: one batch
            for i in range(count):  # chunks of CHUNK_MESSAGES, two rooms interleaved
                ticket = say(store, f"m{i}")
                if i % 50 == 0:
                    ticket = say(store, "elsewhere", other)
        store.wait(ticket)
        found: list[int] = []
        before = None
        while True:
            rows = store.read(lambda r, b=before: r.history(LOBBY, b, 100))
            found[:0] = reversed(ids(rows))
            if len(rows) < 100:
                break
            before = rows[-1][0]
        assert len(found) == count and found == sorted(found)
        assert len(store.read(lambda r: r.history(other, None, 100))) == len(range(0, count, 50))
        assert not set(found) & set(ids(store.read(lambda r: r.history(other, None, 100))))
    db = sqlite3.connect(path)
    (largest,) = db.execute("SELECT MAX(count) FROM chunks").fetchone()
    db.close()
    assert largest == CHUNK_MESSAGES


def test_search_matches_within_one_message(path: pathlib.Path) -> None:
    with opened(path) as store:
        store.save_room(LOBBY.key, LOBBY.name, TS)
        # One commit, one chunk: the chunk holds both words, no single message does.
        say(store, "apples only")
        say(store, "pears only")
        ticket = say(store, "Apples and PEARS")
        other = Room("other")
        ticket = say(store, "apples and pears elsewhere", other)
        store.wait(ticket)

        def search(query: str, room: Room = LOBBY, limit: int = 10) -> list[int]:
            return ids(store.read(lambda r: r.search(room, query, limit)))

        assert search("apples pears") == [3]
        assert search("apples") == [3, 1]
        assert search("apples", limit=1) == [3]
        assert search("appl*") == [3, 1]
        assert search("apples pears", other) == [4]
        assert search("") == [] and search("   ") == [] and search("!?") == []
        assert search('" OR 1=1 --') == [] and search("(apples) pears*") == [3]


def test_ids_resume_exactly_after_a_graceful_close(path: pathlib.Path) -> None:
    with opened(path) as store:
        store.wait(say(store, "one"))
        assert store.next_id() == 2  # a DM's id, say: taken from the same sequence
        instance = store.instance
    with opened(path) as store:
        assert store.instance == instance
        assert store.next_id() == 3


def test_ids_after_a_crash_skip_ahead_and_never_repeat(path: pathlib.Path) -> None:
    crashed = path.parent / "crashed"
    crashed.mkdir()
    store = DrivenStore(path)
    store.start()
    try:
        store.save_room(LOBBY.key, LOBBY.name, TS)
        store.wait(say(store, "before the crash"))
        for _ in range(ID_BLOCK // 2 + 10):  # ids taken (DMs to no one, say) but not stored
            store.next_id()
        store.wait(say(store, "raises the ceiling"))
        top = store.next_id()
        # What a kill -9 leaves now: the database file and its write-ahead log.
        for name in os.listdir(path.parent):
            if name.startswith(path.name) and not name.endswith("-shm"):
                shutil.copy(path.parent / name, crashed / name)
    finally:
        store.store.close()
    with opened(crashed / path.name) as again:
        assert [r.last_id for r in again.state.rooms] == [top - 1]
        assert ids(again.read(lambda r: r.history(LOBBY, None, 10))) == [top - 1, 1]
        assert again.next_id() > top


def test_rooms_topics_and_forgetting(path: pathlib.Path) -> None:
    with opened(path) as store:
        store.save_room("lobby", "Lobby", TS)
        store.save_room("quiet", "Quiet", TS)
        store.set_topic("lobby", "a topic", "alice")
        store.wait(say(store, "hello"))
        store.forget_room("quiet", 0)
        store.wait(say(store, "again"))
    with opened(path) as store:
        rooms = {r.key: r for r in store.state.rooms}
        assert list(rooms) == ["lobby"]
        lobby = rooms["lobby"]
        assert (lobby.name, lobby.topic, lobby.topic_by, lobby.created, lobby.last_id) == (
            "Lobby",
            "a topic",
            "alice",
            TS,
            2,
        )
        store.forget_room("lobby", 2)
        store.wait(say(store, "in a new room of the same name"))
        assert ids(store.read(lambda r: r.history(LOBBY, None, 10))) == [3]
        assert store.read(lambda r: r.search(LOBBY, "hello", 10)) == []


def test_forgetting_a_huge_room_takes_several_transactions(
    path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sqlite_store, "CHUNK_MESSAGES", 1)
    monkeypatch.setattr(sqlite_store, "FORGET_CHUNKS", 3)
    with opened(path) as store:
        store.save_room(LOBBY.key, LOBBY.name, TS)
        ticket = 0
        for i in range(10):
            ticket = say(store, f"m{i}")
        store.wait(ticket)
        store.forget_room(LOBBY.key, 10)
        store.wait(say(store, "keep", Room("other")))
    with opened(path) as store:
        assert [r.key for r in store.state.rooms] == []
        assert store.read(lambda r: r.history(LOBBY, None, 20)) == []


def test_accounts_and_offline_dms(path: pathlib.Path) -> None:
    alice = AccountRecord("alice", "alice", "Alice", "hash1", TS)
    bob = AccountRecord("bob", "bob", "bob", "hash2", TS)
    with opened(path) as store:
        store.add_account(alice)
        store.add_account(bob)
        store.set_password("alice", "hash3")
        ticket = 0
        for i in range(5):
            dm = StoredDm("alice", store.next_id(), "carol", f"dm {i}", TS)
            ticket = store.add_offline_dm(dm, 3)
        ticket = store.add_offline_dm(StoredDm("bob", store.next_id(), "carol", "for bob", TS), 3)
        store.wait(ticket)
        assert [d.text for d in store.read(lambda r: r.offline_dms("alice"))] == [
            "dm 2",
            "dm 3",
            "dm 4",
        ]
    with opened(path) as store:
        assert sorted(store.state.accounts) == [alice._replace(hash="hash3"), bob]
        assert store.state.offline == {"alice": 3, "bob": 1}
        stored = store.read(lambda r: r.offline_dms("alice"))
        store.drop_offline_dms("alice", stored[1].id)
        store.wait(store.drop_account("bob"))
        assert [d.text for d in store.read(lambda r: r.offline_dms("alice"))] == ["dm 4"]
        assert store.read(lambda r: r.offline_dms("bob")) == []
    with opened(path) as store:
        assert [a.key for a in store.state.accounts] == ["alice"]
        assert store.state.offline == {"alice": 1}


def test_a_full_database_fails_writes_says_so_once_and_recovers(
    path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sqlite_store, "RECOVERY_QUIET", 0.0)
    with opened(path, max_bytes=128 * 1024) as store:
        store.save_room(LOBBY.key, LOBBY.name, TS)
        ticket = 0
        for i in range(40):
            ticket = say(store, f"w{i} " + "abcdefgh " * 888)
            store.wait(ticket)  # each write alone: once one fails, the next fails too
        # Every write is answered (committed or failed): nothing waits forever.
        assert store.durable == ticket
        (failure,) = store.failures
        assert failure.startswith("history is not being kept") and "full" in failure
        assert store.health() == failure and store.recoveries == 0
        kept = ids(store.read(lambda r: r.history(LOBBY, None, 100)))
        assert 0 < len(kept) < 40 and kept == sorted(kept, reverse=True)
        # Room to write again (an operator freed space): the next write says so.
        store.store._db.execute("PRAGMA max_page_count = 100000")
        store.wait(say(store, "room again"))
        assert store.health() is None and store.recoveries == 1
        assert len(store.read(lambda r: r.history(LOBBY, None, 100))) == len(kept) + 1


def test_a_write_that_fits_right_after_a_failure_does_not_announce_recovery(
    path: pathlib.Path,
) -> None:
    # Nearly full: big writes fail, small ones pass. One small success is not recovery: the
    # store stays failing (no flapping notices) until writes have passed for RECOVERY_QUIET.
    with opened(path, max_bytes=128 * 1024) as store:
        store.save_room(LOBBY.key, LOBBY.name, TS)
        for i in range(40):
            store.wait(say(store, f"w{i} " + "abcdefgh " * 888))
        assert len(store.failures) == 1
        store.store._db.execute("PRAGMA max_page_count = 100000")
        store.wait(say(store, "small"))
        assert store.recoveries == 0 and store.health() is not None
        assert ids(store.read(lambda r: r.history(LOBBY, None, 1)))  # yet it was kept


def test_close_commits_what_is_queued(path: pathlib.Path) -> None:
    store = DrivenStore(path)
    store.start()
    store.save_room(LOBBY.key, LOBBY.name, TS)
    for i in range(100):
        say(store, f"m{i}")
    store.store.close()  # without waiting for any commit
    with opened(path) as again:
        assert len(again.read(lambda r: r.history(LOBBY, None, 200))) == 100
        assert again.next_id() == 101


@pytest.mark.parametrize("durability", ["normal", "full"])
def test_durability_sets_synchronous(path: pathlib.Path, durability: str) -> None:
    with opened(path, durability=durability) as store:
        db = store.store._db
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        expected = {"normal": 1, "full": 2}[durability]
        assert db.execute("PRAGMA synchronous").fetchone() == (expected,)


def test_every_kind_of_write_interleaved_with_messages_is_committed(path: pathlib.Path) -> None:
    """The writer takes batches while the core queues: whatever the interleaving, each write
    is applied as what it is (an account is never taken for a message)."""
    rounds = 20_000
    with opened(path) as store:
        store.save_room(LOBBY.key, LOBBY.name, TS)
        ticket = 0
        for i in range(rounds):
            say(store, f"m{i}")
            ticket = store.add_account(AccountRecord(f"a{i}", f"a{i}", f"a{i}", "hash", TS))
            if i % 100 == 0:
                store.pump()
        store.wait(ticket)
        assert store.failures == [] and store.health() is None
    with opened(path) as store:
        assert len(store.state.accounts) == rounds
        assert len(store.read(lambda r: r.history(LOBBY, None, 200))) == 200
        assert store.state.rooms[0].last_id == rounds  # message i has id i + 1
