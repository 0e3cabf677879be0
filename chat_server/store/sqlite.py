"""The SQLite store: one writer thread committing in batches, reader threads, WAL.

Nothing here runs on the core's thread but the queueing of a write (a deque append under a
condition) and the reads of an inline call to `start`/`close`. The writer takes every write
queued since its last commit and commits them in one transaction (group commit), then posts
`committed(ticket)` to the core, which only then lets a sender see the echo of its message:
an echoed message is in the database. Reads (history beyond the window, search, offline DMs)
run on a small pool of read-only connections, which WAL lets read while the writer writes.

Ids: messages and DMs share one sequence that must never start again. The database holds an
`id_ceiling` above every id handed out: at start the sequence resumes there and a new ceiling
`ID_BLOCK` higher is written before anything is served; the writer raises it, in the batch
that notices, whenever less than half a block is left; a graceful close lowers it to the exact
next id, so restarts leave no gap. Only a crash skips the rest of a block.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import pathlib
import secrets
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Executor, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from chat_server.core.interfaces import (
    AccountRecord,
    HistoryStore,
    ModLogRecord,
    Post,
    RoomRecord,
    StoredDm,
    StoredMessage,
    StoredState,
    StoreListener,
)
from chat_server.core.moderation import StoredBan
from chat_server.core.threads import ignore_stop_signals
from chat_server.store import schema
from chat_server.store.reads import Reader
from chat_server.store.schema import room_token

if TYPE_CHECKING:
    pass

log = logging.getLogger("chat_server.store")

#: Ids reserved ahead in the database (see the module docstring).
ID_BLOCK = 10_000
#: Most writes committed in one transaction.
MAX_BATCH = 4096
#: After a batch of at least BUSY_BATCH writes, the next commit starts at least this long
#: after it, unless PACE_BATCH writes are already waiting (see `_write_loop`): at most 2 ms
#: more before an echo, and only when the server is busy.
COMMIT_INTERVAL = 0.002
PACE_BATCH = 256
BUSY_BATCH = 32
DURABILITY = {"normal": "NORMAL", "full": "FULL"}
#: After a failed write, the store counts as failing until writes have succeeded for this
#: many seconds, so a nearly full disk (small writes pass, large ones fail) does not flap.
RECOVERY_QUIET = 30.0

#: Most messages in one chunk row (and one search document). Small enough that a search for
#: words that are each common finds few chunks holding them all in different messages, large
#: enough that a busy room costs the writer a row per 16 messages, not one per message.
CHUNK_MESSAGES = 16
#: Chunks of a forgotten room deleted per transaction.
FORGET_CHUNKS = 200
#: Chunk rows written by one INSERT statement (see `_insert_chunks`).
ROWS_PER_STATEMENT = 128
#: The writer's way in for chunks: one INSERT into this view writes each chunk row, its search
#: entry and its room's last activity, all inside SQLite. A busy room's whole commit is then a
#: single statement, its own transaction: the writer thread gives up and takes back the
#: interpreter's lock once per commit, rather than once per row and statement (on a loaded
#: core every such handoff can keep the writer waiting for the core's thread).
_CHUNK_INPUT = (
    "CREATE TEMP VIEW IF NOT EXISTS chunk_input "
    "(id, room, first, last, count, bodies, accounts, token, text, ts) "
    "AS SELECT NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL",
    "CREATE TEMP TRIGGER IF NOT EXISTS chunk_input_insert INSTEAD OF INSERT ON chunk_input "
    "BEGIN "
    "INSERT INTO chunks (id, room, first, last, count, bodies, accounts) "
    "VALUES (new.id, new.room, new.first, new.last, new.count, new.bodies, new.accounts); "
    "INSERT INTO chunks_fts (rowid, room, text) VALUES (new.id, new.token, new.text); "
    "UPDATE rooms SET last_active = new.ts WHERE key = new.room; "
    "END",
)
_ROW = "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
#: The INSERT of n chunk rows, for n up to ROWS_PER_STATEMENT (built once each).
_INSERT_ROWS = [""] + [
    "INSERT INTO chunk_input VALUES " + ", ".join([_ROW] * n)
    for n in range(1, ROWS_PER_STATEMENT + 1)
]


def prepare_writes(db: sqlite3.Connection) -> None:
    """Make `db` ready for `SqliteStore._insert_chunks` (per connection: temp objects)."""
    for statement in _CHUNK_INPUT:
        db.execute(statement)


class _Ids:
    """The id sequence; the writer reads `value` to keep the ceiling ahead of it."""

    __slots__ = ("value",)

    def __init__(self, start: int) -> None:
        self.value = start - 1

    def next(self) -> int:
        self.value += 1
        return self.value


class StoreError(RuntimeError):
    """The database cannot be used at all (a newer schema, a read-only database to migrate)."""


class SqliteStore:
    keeps_rooms = True

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        durability: str = "normal",
        max_bytes: int | None = None,
        readers: int = 2,
    ) -> None:
        self.path = pathlib.Path(path)
        self.durability = durability
        self.max_bytes = max_bytes
        self._readers = readers
        self._instance = ""
        self._ids = _Ids(1)
        self._ceiling = 0
        self._chunk = 1  # the id of the next chunk row (writer thread, once started)
        self._queue: deque[tuple[int, str, Any]] = deque()
        self._cond = threading.Condition()
        self._idle = False
        self._closing = False
        self._ticket = 0  # last ticket handed out (core thread)
        self._error: str | None = None
        self._failed_at = 0.0  # time.monotonic() of the last failed write
        self._post: Post | None = None
        self._listener: StoreListener | None = None
        self._writer: threading.Thread | None = None
        self._db: sqlite3.Connection | None = None
        self._local = threading.local()
        self.reads: Executor | None = None
        # The writer's commits, writes, CPU seconds and wall seconds in them (for the log
        # line at close and for metrics, read from another thread).
        self.stats = [0, 0, 0.0, 0.0]

    # ------------------------------------------------------------------ lifecycle

    @property
    def instance(self) -> str:
        return self._instance

    @property
    def next_id(self) -> Callable[[], int]:
        return self._ids.next

    def start(self, post: Post, listener: StoreListener, window: HistoryStore) -> StoredState:
        self._post = post
        self._listener = listener
        db = self._db = self._open_writer()
        state = self._load(db)
        self.reads = ThreadPoolExecutor(
            self._readers, thread_name_prefix="store-read", initializer=ignore_stop_signals
        )
        self._writer = threading.Thread(target=self._write_loop, name="store-writer", daemon=True)
        self._writer.start()
        return state

    def close(self) -> None:
        """Commit what is queued, write the exact id ceiling, and close (blocks)."""
        if self._writer is not None:
            with self._cond:
                self._closing = True
                self._cond.notify()
            self._writer.join()
            self._writer = None
            commits, writes, cpu, _ = self.stats
            if commits:
                log.info(
                    "store writer: %d writes in %d commits, %.1f µs of CPU per write",
                    writes,
                    commits,
                    cpu / writes * 1e6,
                )
        if self.reads is not None:
            self.reads.shutdown(wait=True)
            self.reads = None
        db = self._db
        if db is not None:
            with contextlib.suppress(sqlite3.Error):
                self._set_meta(db, "id_ceiling", str(self._ids.value + 1))
            db.close()
            self._db = None

    def health(self) -> str | None:
        return self._error

    def _open_writer(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        try:
            db.execute("PRAGMA journal_mode = WAL")
            db.execute(f"PRAGMA synchronous = {DURABILITY[self.durability]}")
            db.execute("PRAGMA busy_timeout = 5000")
            if self.max_bytes is not None:
                page = int(db.execute("PRAGMA page_size").fetchone()[0])
                db.execute(f"PRAGMA max_page_count = {max(1, self.max_bytes // page)}")
            schema.migrate(db)
            prepare_writes(db)
        except sqlite3.OperationalError as exc:
            if "readonly" not in str(exc):
                raise
            db.close()
            return self._open_read_only()
        except schema.SchemaTooNew as exc:
            db.close()
            raise StoreError(str(exc)) from None
        return db

    def _open_read_only(self) -> sqlite3.Connection:
        """A database the server may not write: serve what it holds, and say so."""
        db = sqlite3.connect(
            self.path.absolute().as_uri() + "?mode=ro",
            uri=True,
            isolation_level=None,
            check_same_thread=False,
        )
        if schema.version(db) != schema.LATEST:
            db.close()
            raise StoreError(f"{self.path} is read-only and needs its schema upgraded")
        prepare_writes(db)  # writes then fail as writes to a read-only database
        self._error = f"the database {self.path} is read-only: history is not being kept"
        log.error("%s", self._error)
        return db

    def _load(self, db: sqlite3.Connection) -> StoredState:
        meta = dict(db.execute("SELECT key, value FROM meta"))
        instance = meta.get("instance")
        if instance is None:
            instance = secrets.token_hex(8)
            self._try_write(db, "instance", instance)
        self._instance = instance
        rooms = []
        for key, name, topic, topic_by, created, last_active, owner, modes in db.execute(
            "SELECT key, name, topic, topic_by, created, last_active, owner, modes FROM rooms"
        ):
            newest = db.execute(
                "SELECT last FROM chunks WHERE room = ? ORDER BY first DESC LIMIT 1", (key,)
            ).fetchone()
            last_id = 0 if newest is None else int(newest[0])
            rooms.append(
                RoomRecord(key, name, topic, topic_by, created, last_active, last_id, owner, modes)
            )
        ops = [
            (room, account) for room, account in db.execute("SELECT room, account FROM room_ops")
        ]
        bans = [
            StoredBan(*row)
            for row in db.execute(
                "SELECT scope, kind, mask, by, reason, ts, expires FROM bans WHERE "
                "expires IS NULL OR expires > ?",
                (time.time(),),
            )
        ]
        accounts = [
            AccountRecord(*row)
            for row in db.execute("SELECT key, visual, name, hash, created FROM accounts")
        ]
        offline = dict(db.execute("SELECT recipient, COUNT(*) FROM offline_dms GROUP BY recipient"))
        newest_chunk = db.execute("SELECT last FROM chunks ORDER BY id DESC LIMIT 1").fetchone()
        top_message = None if newest_chunk is None else newest_chunk[0]
        (top_dm,) = db.execute("SELECT MAX(id) FROM offline_dms").fetchone()
        start = max(int(meta.get("id_ceiling", 1)), (top_message or 0) + 1, (top_dm or 0) + 1)
        self._ids = _Ids(start)
        # Chunk ids are never reused (search entries of forgotten chunks may linger).
        (top_chunk,) = db.execute("SELECT MAX(id) FROM chunks").fetchone()
        sequence = db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'chunks'").fetchone()
        self._chunk = max(top_chunk or 0, 0 if sequence is None else sequence[0]) + 1
        self._ceiling = start + ID_BLOCK
        self._try_write(db, "id_ceiling", str(self._ceiling))
        log.info(
            "store %s: %d rooms, %d accounts, next id %d",
            self.path,
            len(rooms),
            len(accounts),
            start,
        )
        return StoredState(rooms, accounts, offline, ops, bans)

    def _try_write(self, db: sqlite3.Connection, key: str, value: str) -> None:
        if self._error is None:
            try:
                self._set_meta(db, key, value)
            except sqlite3.Error as exc:
                self._failed(exc)

    @staticmethod
    def _set_meta(db: sqlite3.Connection, key: str, value: str) -> None:
        db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    # ------------------------------------------------------------------ writes (core thread)

    def _put(self, kind: str, args: Any) -> int:
        # No lock on this path: a deque append is atomic, and the writer sets `_idle` under
        # its lock before it looks at the queue a last time and sleeps, so either it sees
        # this write or this sees it idle and wakes it.
        self._ticket += 1
        ticket = self._ticket
        self._queue.append((ticket, kind, args))
        if self._idle:
            with self._cond:
                self._idle = False  # woken once: the writes after this one need not
                self._cond.notify()
        return ticket

    def save_room(self, key: str, name: str, created: str) -> None:
        self._put(
            "sql",
            (
                "INSERT OR REPLACE INTO rooms (key, name, topic, topic_by, created, last_active) "
                "VALUES (?, ?, '', '', ?, ?)",
                (key, name, created, time.time()),
            ),
        )

    def set_topic(self, key: str, topic: str, by: str) -> None:
        self._put(
            "sql", ("UPDATE rooms SET topic = ?, topic_by = ? WHERE key = ?", (topic, by, key))
        )

    def forget_room(self, key: str, upto_id: int) -> None:
        self._put("forget", (key, upto_id))

    def add_message(self, message: StoredMessage) -> int:
        # `_put` inlined: this runs for every chat message.
        self._ticket += 1
        ticket = self._ticket
        self._queue.append((ticket, "message", message))
        if self._idle:
            with self._cond:
                self._idle = False
                self._cond.notify()
        return ticket

    def add_account(self, account: AccountRecord) -> int:
        return self._put(
            "sql",
            (
                "INSERT OR REPLACE INTO accounts (key, visual, name, hash, created) VALUES (?,?,?,?,?)",
                account,
            ),
        )

    def set_password(self, key: str, password_hash: str) -> int:
        return self._put(
            "sql", ("UPDATE accounts SET hash = ? WHERE key = ?", (password_hash, key))
        )

    def drop_account(self, key: str) -> int:
        self._put("sql", ("DELETE FROM offline_dms WHERE recipient = ?", (key,)))
        return self._put("sql", ("DELETE FROM accounts WHERE key = ?", (key,)))

    def add_offline_dm(self, dm: StoredDm, keep: int) -> int:
        return self._put("dm", (dm, keep))

    def set_room_owner(self, key: str, owner: str | None) -> None:
        self._put("sql", ("UPDATE rooms SET owner = ? WHERE key = ?", (owner, key)))

    def set_room_modes(self, key: str, modes: str) -> None:
        self._put("sql", ("UPDATE rooms SET modes = ? WHERE key = ?", (modes, key)))

    def set_op(self, room: str, account: str, on: bool) -> None:
        if on:
            statement = "INSERT OR IGNORE INTO room_ops (room, account) VALUES (?, ?)"
        else:
            statement = "DELETE FROM room_ops WHERE room = ? AND account = ?"
        self._put("sql", (statement, (room, account)))

    def forget_account_roles(self, account: str) -> None:
        self._put("sql", ("UPDATE rooms SET owner = NULL WHERE owner = ?", (account,)))
        self._put("sql", ("DELETE FROM room_ops WHERE account = ?", (account,)))

    def save_ban(self, ban: StoredBan) -> None:
        self._put(
            "sql",
            (
                "INSERT OR REPLACE INTO bans (scope, kind, mask, by, reason, ts, expires) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                ban,
            ),
        )

    def drop_ban(self, scope: str, kind: str, mask: str) -> None:
        self._put(
            "sql",
            ("DELETE FROM bans WHERE scope = ? AND kind = ? AND mask = ?", (scope, kind, mask)),
        )

    def add_modlog(self, entry: ModLogRecord, keep: int) -> None:
        self._put("modlog", (entry, keep))

    def drop_offline_dms(self, recipient: str, upto_id: int) -> None:
        self._put(
            "sql",
            ("DELETE FROM offline_dms WHERE recipient = ? AND id <= ?", (recipient, upto_id)),
        )

    # ------------------------------------------------------------------ the writer thread

    def _write_loop(self) -> None:
        ignore_stop_signals()
        queue = self._queue
        last_commit = 0.0
        busy = False  # the last batch was large: writes arrive faster than commits
        while True:
            with self._cond:
                while not queue and not self._closing:
                    self._idle = True
                    if queue:  # appended between the test above and `_idle`
                        break
                    self._cond.wait()
                self._idle = False
                if not queue and self._closing:
                    return
                # Pacing: when the last batch was large (writes come faster than commits),
                # the next waits up to COMMIT_INTERVAL after it for more, so a busy server
                # commits hundreds of messages at a time rather than a handful (each commit
                # rewrites the same hot pages). A client waiting for each echo before it
                # sends again makes batches of one: those commit at once.
                pause = last_commit + COMMIT_INTERVAL - time.monotonic()
                if busy and pause > 0 and len(queue) < PACE_BATCH and not self._closing:
                    self._cond.wait(pause)
                batch = [queue.popleft() for _ in range(min(len(queue), MAX_BATCH))]
            last_commit = time.monotonic()
            busy = len(batch) >= BUSY_BATCH
            started = time.thread_time()
            self._commit(batch)
            stats = self.stats
            stats[0] += 1
            stats[1] += len(batch)
            stats[2] += time.thread_time() - started
            stats[3] += time.monotonic() - last_commit

    def _commit(self, batch: list[tuple[int, str, Any]]) -> None:
        db = self._db
        assert db is not None
        chunk, ceiling = self._chunk, self._ceiling  # both go back if the batch fails
        try:
            if not self._commit_messages(db, batch):
                db.execute("BEGIN IMMEDIATE")
                try:
                    self._apply(db, batch)
                    if self._ids.value + ID_BLOCK // 2 > self._ceiling:
                        self._ceiling = self._ids.value + ID_BLOCK
                        self._set_meta(db, "id_ceiling", str(self._ceiling))
                    db.execute("COMMIT")
                except BaseException:
                    with contextlib.suppress(sqlite3.Error):
                        db.execute("ROLLBACK")
                    raise
        except sqlite3.Error as exc:
            self._chunk, self._ceiling = chunk, ceiling
            self._failed(exc)
        except Exception as exc:
            self._chunk, self._ceiling = chunk, ceiling
            if self._error is None:
                log.exception("store writer failed on a batch of %d writes", len(batch))
            self._failed(exc)
        else:
            if self._error is not None and time.monotonic() - self._failed_at >= RECOVERY_QUIET:
                self._recovered()
        ticket = max(t for t, _, _ in batch)
        if ticket:
            self._announce(lambda listener: listener.committed(ticket))

    def _commit_messages(self, db: sqlite3.Connection, batch: list[tuple[int, str, Any]]) -> bool:
        """The common case, which must be cheap: a batch of only messages whose chunks fit one
        statement, and no id ceiling to raise, is written by that one statement (its own
        transaction). False, having written nothing, for any other batch."""
        if self._ids.value + ID_BLOCK // 2 > self._ceiling:
            return False
        messages = []
        for _, kind, args in batch:
            if kind != "message":
                return False
            messages.append(args)
        rows, next_chunk = _chunk_rows(messages, self._chunk)
        if len(rows) > ROWS_PER_STATEMENT:
            return False
        db.execute(_INSERT_ROWS[len(rows)], [value for row in rows for value in row])
        self._chunk = next_chunk
        return True

    def _apply(self, db: sqlite3.Connection, batch: list[tuple[int, str, Any]]) -> None:
        messages: list[StoredMessage] = []
        for _, kind, args in batch:
            if kind == "message":
                messages.append(args)
                continue
            if messages:  # keep the order of writes: what came before goes first
                self._chunk = self._insert_chunks(db, messages, self._chunk)
                messages = []
            if kind == "sql":
                db.execute(*args)
            elif kind == "dm":
                self._insert_dm(db, *args)
            elif kind == "modlog":
                self._insert_modlog(db, *args)
            elif kind == "forget":
                self._forget(db, *args)
            elif kind == "forget_more":
                self._forget_chunks(db, *args)
        if messages:
            self._chunk = self._insert_chunks(db, messages, self._chunk)

    @staticmethod
    def _insert_chunks(
        db: sqlite3.Connection, messages: list[StoredMessage], next_chunk: int | None = None
    ) -> int:
        """Write the messages of each room as chunk rows, indexed for search, and touch their
        rooms, inside the caller's transaction (`db` made ready by `prepare_writes`). Returns
        the id the next chunk gets. Chunk ids are given here (from `next_chunk`, or the
        table's next when None)."""
        if next_chunk is None:
            (top,) = db.execute("SELECT MAX(id) FROM chunks").fetchone()
            next_chunk = (top or 0) + 1
        rows, next_chunk = _chunk_rows(messages, next_chunk)
        for start in range(0, len(rows), ROWS_PER_STATEMENT):
            part = rows[start : start + ROWS_PER_STATEMENT]
            db.execute(_INSERT_ROWS[len(part)], [value for row in part for value in row])
        return next_chunk

    @staticmethod
    def _insert_dm(db: sqlite3.Connection, dm: StoredDm, keep: int) -> None:
        db.execute(
            "INSERT INTO offline_dms (recipient, id, sender, text, ts) VALUES (?,?,?,?,?)", dm
        )
        db.execute(
            "DELETE FROM offline_dms WHERE recipient = ? AND seq NOT IN "
            "(SELECT seq FROM offline_dms WHERE recipient = ? ORDER BY seq DESC LIMIT ?)",
            (dm.recipient, dm.recipient, keep),
        )

    @staticmethod
    def _insert_modlog(db: sqlite3.Connection, entry: ModLogRecord, keep: int) -> None:
        db.execute(
            "INSERT INTO modlog (scope, ts, by, action, target, reason) VALUES (?,?,?,?,?,?)",
            entry,
        )
        db.execute(
            "DELETE FROM modlog WHERE scope = ? AND seq NOT IN "
            "(SELECT seq FROM modlog WHERE scope = ? ORDER BY seq DESC LIMIT ?)",
            (entry.scope, entry.scope, keep),
        )

    def _forget(self, db: sqlite3.Connection, key: str, upto_id: int) -> None:
        """Forget a room: its row at once (a room created again later writes a new one), its
        chunks up to `upto_id` some at a time, so one huge room never stalls the writer. Their
        search entries stay until the index is next rebuilt; a search never shows them (it
        reads the chunks themselves)."""
        db.execute("DELETE FROM rooms WHERE key = ?", (key,))
        db.execute("DELETE FROM room_ops WHERE room = ?", (key,))
        db.execute("DELETE FROM bans WHERE scope = ?", (key,))
        db.execute("DELETE FROM modlog WHERE scope = ?", (key,))
        self._forget_chunks(db, key, upto_id)

    def _forget_chunks(self, db: sqlite3.Connection, key: str, upto_id: int) -> None:
        """The next FORGET_CHUNKS chunks of a forgotten room (only those up to its last id
        then: a room of that name created again since keeps its own)."""
        deleted = db.execute(
            "DELETE FROM chunks WHERE id IN "
            "(SELECT id FROM chunks WHERE room = ? AND first <= ? LIMIT ?)",
            (key, upto_id, FORGET_CHUNKS),
        ).rowcount
        if deleted == FORGET_CHUNKS:  # more to go, in a later transaction
            # Ticket 0: a follow-up the writer gives itself holds no one back.
            self._queue.append((0, "forget_more", (key, upto_id)))

    def _failed(self, exc: Exception) -> None:
        self._failed_at = time.monotonic()
        first = self._error is None
        error = self._error = f"history is not being kept: {exc}"
        if first:
            log.error("store %s: %s", self.path, error)
            self._announce(lambda listener: listener.store_failed(error))

    def _recovered(self) -> None:
        self._error = None
        log.warning("store %s: writing again", self.path)
        self._announce(lambda listener: listener.store_recovered())

    def _announce(self, call: Callable[[StoreListener], None]) -> None:
        post, listener = self._post, self._listener
        if post is not None and listener is not None:
            post(lambda: call(listener))

    # ------------------------------------------------------------------ reads (worker threads)

    def reader(self) -> Reader:
        reader: Reader | None = getattr(self._local, "reader", None)
        if reader is None:
            db = sqlite3.connect(
                self.path.absolute().as_uri() + "?mode=ro",
                uri=True,
                isolation_level=None,
                check_same_thread=False,
            )
            reader = self._local.reader = Reader(db)
        return reader


def _chunk_rows(
    messages: list[StoredMessage], next_chunk: int
) -> tuple[list[tuple[Any, ...]], int]:
    """The `chunk_input` rows for `messages`: per room, CHUNK_MESSAGES at a time, with ids
    from `next_chunk` on; and the id after the last. (The core queues plain tuples in
    StoredMessage's field order: they are read by position.)"""
    rooms = {m[1] for m in messages}
    if len(rooms) == 1:
        by_room = {rooms.pop(): messages}
    else:
        by_room = {}
        for message in messages:
            by_room.setdefault(message[1], []).append(message)
    now = time.time()
    rows: list[tuple[Any, ...]] = []
    for room, stored in by_room.items():
        token = room_token(room)
        for start in range(0, len(stored), CHUNK_MESSAGES):
            part = stored[start : start + CHUNK_MESSAGES]
            accounts = None
            if any(m[4] is not None for m in part):
                accounts = json.dumps([m[4] for m in part])
            rows.append(
                (
                    next_chunk,
                    room,
                    part[0][0],
                    part[-1][0],
                    len(part),
                    b"\n".join([m[2] for m in part]),
                    accounts,
                    token,
                    "\n".join([m[3] for m in part]),
                    now,
                )
            )
            next_chunk += 1
    return rows, next_chunk
