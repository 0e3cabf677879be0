"""The store scenario: a chat_server on a SQLite database of many messages in one room.

`Databases` builds the database once per run and keeps it for each backend measured on it: the
server's own schema (`chat_server.store.schema`), then the messages as the server stores them,
in chunks of 1..CHUNK_MAX messages, one commit each, as a busy room's writer commits them;
their text is drawn from a fixed word list by a seeded RNG so that every search word occurs. `run`
starts a backend on it and measures how long the server takes to accept a connection, how
long a member waits for each `history` page as it reads back from the newest message, how
long a `search` of one or two words takes, and how many bytes the database holds per message.
The member runs in a process of its own on the load CPU, like the load generators.

Every answer is checked: the messages are numbered 1..N, so each page must hold exactly the ids
below its `before`, and each search result must contain the words searched for, newest first;
a one-word search must find as many messages as the word is in (up to its limit). Each message
must be the one built: in ROOM, from a known nick, stamped with the time its id was given.
"""

from __future__ import annotations

import contextlib
import itertools
import multiprocessing
import os
import random
import re
import shutil
import socket
import sqlite3
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from typing import Any

from chat_bench import wire
from chat_bench.results import RunResult
from chat_bench.runner import (
    LOAD_CPU,
    ServerFailed,
    ServerProc,
    normal_priority,
    pin_self,
    server_label,
    split_label,
)
from chat_bench.scenarios import RunFailed, Settings, _pct
from protocol.names import name_key

ROOM = "bench"
SEED = 20260601
#: Most messages in one chunk: what a busy room's one commit holds.
CHUNK_MAX = 16  # chat_server.store.sqlite.CHUNK_MESSAGES
#: Seconds given to each request, and to the member's whole session.
REQUEST_TIMEOUT = 10.0
SESSION_TIMEOUT = 120.0
#: Seconds between messages (the last one is stamped with the time of the build).
GAP_S = 7.0

# Words in the order of how often they are said (the first is the most common).
_RANKED = """
the i to you and a it is that of in for we on this but be have not with are so just can do
was at my if me what think will get about all like one know there they out should up no
yes ok now from your how then when or need see would also build test more could time by
did an some make here because work any still which fix go been deploy good sure server want
why right thanks let already back going look change after new code before only today where
really merge branch issue other first way again something who got same problem day thing
bug release tomorrow review log branch config run script client network latency memory
disk queue cache database index query search history room message nick topic backend
socket thread worker process kernel loop event timer signal shutdown restart crash error
warning debug trace profile benchmark graph metric alert dashboard ticket sprint meeting
standup lunch coffee weekend monday friday morning evening night week month year hour
minute second laptop keyboard screen monitor mouse desk office remote home train bus
bike rain sun snow cold hot weather vacation holiday birthday party pizza tea beer water
cake music movie book game football match team score win lose draw player coach stadium
city street bridge river mountain forest lake beach island garden park museum library
school teacher student lesson homework exam grade paper pencil notebook printer scanner
phone charger cable adapter router switch firewall proxy tunnel certificate password
account login session token cookie header payload frame buffer packet stream channel
pipe file folder path archive backup snapshot mirror replica cluster node shard partition
schema migration table column row transaction commit rollback lock deadlock vacuum wal
checkpoint fsync journal page cursor statement parameter binding driver pool connection
timeout retry backoff jitter throttle flood spam abuse limit quota budget cost price
invoice customer vendor contract deadline estimate roadmap milestone launch demo
prototype sketch draft proposal design diagram architecture module package library
dependency version upgrade patch hotfix regression flaky green red yellow blue purple
orange black white silver golden tiny huge quick slow lazy busy happy tired hungry angry
calm brave clever honest polite rude strange funny serious quiet loud bright dark early
late soon never always often rarely maybe probably definitely absolutely literally
honestly basically actually seriously anyway otherwise meanwhile afterwards elephant
giraffe penguin dolphin octopus squirrel hedgehog raccoon badger otter walrus llama
alpaca zebra tiger panda koala kangaroo platypus narwhal axolotl quokka wombat capybara
"""

WORDS = tuple(dict.fromkeys(_RANKED.split()))
#: Cumulative weights of a Zipf-like distribution over WORDS (rank r weighs 1 / (r + 8)).
_CUM_WEIGHTS = list(itertools.accumulate(1.0 / (rank + 8) for rank in range(len(WORDS))))
_NICKS = tuple(f"user{i}" for i in range(40))
_TOKEN = re.compile(r"\w+")
#: The words searched for: those no other word of the texts starts with, so that a search
#: finds the same messages whether the server matches whole words or prefixes.
SEARCHABLE = tuple(
    w for w in WORDS if not any(o != w and o.startswith(w) for o in (*WORDS, *_NICKS))
)


def queries(count: int, seed: int = SEED) -> list[str]:
    """`count` searches of one or two words, drawn evenly from SEARCHABLE (rare and common)."""
    rng = random.Random(seed + 1)
    out = []
    for _ in range(count):
        size = 1 if rng.random() < 0.5 else 2
        out.append(" ".join(rng.sample(SEARCHABLE, size)))
    return out


def messages(count: int, seed: int = SEED) -> Iterator[tuple[str, str, bool]]:
    """(nick, text, action) of `count` messages: 3 to 24 words (a few up to 60), some actions."""
    rng = random.Random(seed)
    choices = rng.choices
    words, weights = WORDS, _CUM_WEIGHTS
    for _ in range(count):
        roll = rng.random()
        size = rng.randint(25, 60) if roll < 0.03 else rng.randint(3, 24)
        text = " ".join(choices(words, cum_weights=weights, k=size))
        if roll > 0.9:
            text = f"@{_NICKS[int(roll * 1000) % len(_NICKS)]} {text}?"
        else:
            text = text.capitalize() + "."
        yield _NICKS[int(rng.random() * len(_NICKS))], text, rng.random() < 0.02


def _stamp(seconds: float) -> str:
    when = datetime.fromtimestamp(seconds, UTC)
    return when.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def chunk_sizes(count: int, seed: int = SEED) -> Iterator[int]:
    """How many of `count` messages each commit wrote: 1..CHUNK_MAX, as in a busy room, where
    the writer commits whatever arrived since its last commit."""
    rng = random.Random(seed + 2)
    left = count
    while left > 0:
        size = min(left, rng.randint(1, CHUNK_MAX))
        left -= size
        yield size


@dataclass
class Database:
    """A database built for the store scenario: messages 1..`count` in ROOM."""

    path: str
    count: int
    build_s: float
    #: For each one-word query of the run: how many messages contain the word.
    frequency: dict[str, int] = field(default_factory=dict)
    #: Chunk rows written (one per commit the server would have made).
    chunks: int = 0
    #: Message `id` is stamped `epoch + GAP_S * id` (seconds since 1970).
    epoch: float = 0.0


def build(path: str, count: int, search: list[str], seed: int = SEED) -> Database:
    """Create the database at `path` holding `count` messages in ROOM, ids 1..count.

    The rows are those the server writes (chat_server/store/sqlite.py): one `chunks` row per
    commit, its `bodies` the exact `message` bodies a member was sent, one per line, and one
    `chunks_fts` document of its texts under the room's token. Every sender is a guest, so
    `accounts` is NULL. Each chunk is committed on its own, as the server's writer does, so
    that the search index is merged from as many small segments as a live server's is.
    """
    # The server's own schema and encoders, so the database is what it would have written.
    from chat_server.store.schema import migrate, room_token
    from chat_server.store.sqlite import CHUNK_MESSAGES
    from protocol.messages import chat_message_body

    assert CHUNK_MAX <= CHUNK_MESSAGES
    began = time.monotonic()
    single = {q for q in search if " " not in q}
    frequency = dict.fromkeys(single, 0)
    conn = sqlite3.connect(path, isolation_level=None)
    chunks = 0
    try:
        migrate(conn)
        conn.execute("PRAGMA synchronous=OFF")
        conn.execute("PRAGMA cache_size=-131072")
        key = name_key(ROOM)
        token = room_token(key)
        # The room was active just now, so that no room expiry (--room-ttl) forgets it.
        last = time.time()
        epoch = last - GAP_S * count
        conn.execute("BEGIN")
        conn.execute(
            "INSERT OR REPLACE INTO rooms (key, name, topic, topic_by, created, last_active) "
            "VALUES (?, ?, '', '', ?, ?)",
            (key, ROOM, _stamp(epoch), last),
        )
        conn.execute("COMMIT")
        rows = messages(count, seed)
        mid = 0
        for size in chunk_sizes(count, seed):
            bodies, texts = [], []
            for nick, text, action in itertools.islice(rows, size):
                mid += 1
                ts = _stamp(epoch + GAP_S * mid)
                bodies.append(chat_message_body(mid, ROOM, nick, text, action, ts))
                texts.append(text)
                if single:
                    for word in single.intersection(_TOKEN.findall(text.lower())):
                        frequency[word] += 1
            # One commit of the server's writer: the chunk, its search entry, the room touched.
            conn.execute("BEGIN")
            chunk_id = conn.execute(
                "INSERT INTO chunks (room, first, last, count, bodies, accounts) "
                "VALUES (?, ?, ?, ?, ?, NULL)",
                (key, mid - size + 1, mid, size, b"\n".join(bodies)),
            ).lastrowid
            conn.execute(
                "INSERT INTO chunks_fts (rowid, room, text) VALUES (?, ?, ?)",
                (chunk_id, token, "\n".join(texts)),
            )
            conn.execute("UPDATE rooms SET last_active = ? WHERE key = ?", (last, key))
            conn.execute("COMMIT")
            chunks += 1
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()
    return Database(path, count, time.monotonic() - began, frequency, chunks, epoch)


class Databases:
    """The store scenario's databases for one run, built on first use, removed by `close`."""

    def __init__(self) -> None:
        self.built: dict[tuple[int, int], Database] = {}
        self.directory: str | None = None

    def get(self, count: int, settings: Settings) -> Database:
        key = (count, settings.store_queries)
        if key not in self.built:
            if self.directory is None:
                self.directory = tempfile.mkdtemp(prefix="chat-bench-store-")
            path = os.path.join(self.directory, f"messages-{count}.db")
            for suffix in ("", "-wal", "-shm"):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(path + suffix)
            self.built[key] = build(path, count, queries(settings.store_queries))
        return self.built[key]

    def close(self) -> None:
        if self.directory is not None:
            shutil.rmtree(self.directory, ignore_errors=True)
            self.directory = None
        self.built.clear()

    def __enter__(self) -> Databases:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def database_bytes(path: str) -> int:
    """The database's size on disk: the file and its write-ahead log."""
    total = 0
    for suffix in ("", "-wal"):
        with contextlib.suppress(FileNotFoundError):
            total += os.path.getsize(path + suffix)
    return total


# ----------------------------------------------------------------- the run


def run(
    label: str, count: int, repeat: int, settings: Settings, databases: Databases | None = None
) -> RunResult:
    """One store measurement of the backend `label` names (`asyncio+sqlite`, or `asyncio`)."""
    backend, _ = split_label(label)
    result = RunResult("store", server_label(backend, "sqlite"), count, repeat)
    own = databases is None
    dbs = Databases() if databases is None else databases
    try:
        try:
            db = dbs.get(count, settings)
        except (sqlite3.Error, OSError, ImportError) as exc:
            result.status = "failed"
            result.error = f"could not build the database: {exc}"
            return result
        result.metrics["build_s"] = db.build_s
        empty = ServerProc(backend, max_outbuf=settings.max_outbuf, pin=settings.pin)
        try:
            empty.start(poll=0.005)
            result.metrics["start_memory_s"] = empty.start_s
        except (ServerFailed, OSError) as exc:
            result.status = "unavailable"
            result.error = f"did not start: {exc}"
            return result
        finally:
            empty.stop()
        server = ServerProc(
            backend, max_outbuf=settings.max_outbuf, store="sqlite", db=db.path, pin=settings.pin
        )
        try:
            server.start(timeout=60.0, poll=0.005)
        except (ServerFailed, OSError) as exc:
            server.stop()
            result.status = "unavailable"
            result.error = f"did not start on the database: {exc}"
            return result
        try:
            result.metrics["start_s"] = server.start_s
            if settings.pin and not server.pinned:
                result.notes.append("server not pinned to a CPU")
            _measure(server, db, result, settings)
            result.metrics["db_bytes"] = database_bytes(db.path)
            result.metrics["bytes_per_message"] = result.metrics["db_bytes"] / count
            if not server.alive():
                raise RunFailed(f"server exited during the run: {server.log()}")
        except RunFailed as exc:
            result.status = "failed"
            result.error = str(exc)
        finally:
            server.stop()
    finally:
        if own:
            dbs.close()
    return result


def _measure(server: ServerProc, db: Database, result: RunResult, settings: Settings) -> None:
    job = Session(
        host=server.host,
        port=server.port,
        count=db.count,
        pages=settings.store_pages,
        page_size=settings.store_page_size,
        queries=queries(settings.store_queries),
        results=settings.store_results,
        frequency=db.frequency,
        epoch=db.epoch,
        pin=settings.pin,
    )
    ctx = multiprocessing.get_context("spawn")
    ours, theirs = ctx.Pipe()
    proc = ctx.Process(target=session_main, args=(theirs, job), daemon=True)
    proc.start()
    theirs.close()
    try:
        if not ours.poll(SESSION_TIMEOUT + 30):
            raise RunFailed(f"the member sent nothing within {SESSION_TIMEOUT + 30:g}s")
        try:
            body: dict[str, Any] = ours.recv()
        except (EOFError, OSError):
            raise RunFailed("the member's process died") from None
    finally:
        proc.join(5)
        if proc.is_alive():
            proc.kill()
            proc.join(5)
        ours.close()
    if body.get("error"):
        raise RunFailed(str(body["error"]))
    result.notes += body["notes"]
    pages, searches = sorted(body["pages"]), sorted(body["searches"])
    metrics = result.metrics
    metrics["join_ms"] = body["join"] * 1000
    metrics["replayed"] = body["replayed"]
    metrics["history_pages"] = len(pages)
    metrics["history_p50_ms"] = _pct(pages, 50) * 1000
    metrics["history_p99_ms"] = _pct(pages, 99) * 1000
    metrics["history_max_ms"] = pages[-1] * 1000 if pages else 0.0
    metrics["searches"] = len(searches)
    metrics["search_p50_ms"] = _pct(searches, 50) * 1000
    metrics["search_p99_ms"] = _pct(searches, 99) * 1000
    metrics["search_max_ms"] = searches[-1] * 1000 if searches else 0.0
    metrics["search_hit_pct"] = body["hits"] * 100 / max(1, len(searches))
    metrics["search_results"] = body["found"] / max(1, len(searches))


# ----------------------------------------------------------------- the member


@dataclass
class Session:
    """What the member process does: join, page back through history, then search."""

    host: str
    port: int
    count: int  # messages in the room, ids 1..count
    pages: int
    page_size: int
    queries: list[str]
    results: int
    frequency: dict[str, int]
    epoch: float = 0.0  # Database.epoch
    pin: bool = True


def session_main(conn: Connection, job: Session) -> None:
    """Entry point of the member process: one report (or an error) sent back over `conn`."""
    if job.pin:
        pin_self(LOAD_CPU)
    normal_priority()
    try:
        body: dict[str, Any] = _session(job)
    except RunFailed as exc:
        body = {"error": str(exc)}
    except (OSError, ValueError, KeyError, TypeError) as exc:
        body = {"error": f"{type(exc).__name__}: {exc}"}
    conn.send(body)
    conn.close()


class _Member:
    """One blocking connection that sends a request and reads frames until its answer."""

    def __init__(self, host: str, port: int) -> None:
        self.sock = socket.create_connection((host, port), timeout=REQUEST_TIMEOUT)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.reader = wire.FrameReader()
        self.pending: list[dict[str, Any]] = []

    def ask(
        self, request: dict[str, Any], answer: Callable[[dict[str, Any]], bool]
    ) -> tuple[dict[str, Any], float, list[dict[str, Any]]]:
        """Send `request`; the first frame `answer` accepts, the seconds until it was read,
        and the frames read before it."""
        began = time.perf_counter()
        self.sock.sendall(wire.chat_frame(request))
        before: list[dict[str, Any]] = []
        deadline = time.monotonic() + REQUEST_TIMEOUT
        while True:
            while self.pending:
                got = self.pending.pop(0)
                if got.get("type") == "error":
                    raise RunFailed(
                        f"{request['type']}: error {got.get('code')}: {got.get('message')}"
                    )
                if answer(got):
                    return got, time.perf_counter() - began, before
                before.append(got)
            if time.monotonic() > deadline:
                raise RunFailed(f"no answer to {request['type']} within {REQUEST_TIMEOUT:g}s")
            data = self.sock.recv(1 << 20)
            if not data:
                raise RunFailed(f"the server closed the connection during {request['type']}")
            self.pending += self.reader.feed(data)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.sendall(wire.chat_quit())
        self.sock.close()


def _answer(kind: str, key: str = "", value: object = None) -> Callable[[dict[str, Any]], bool]:
    """Accepts a frame of type `kind` (whose `key` is `value`, when a key is given)."""
    return lambda f: f.get("type") == kind and (not key or f.get(key) == value)


def _ids(frame: dict[str, Any]) -> list[int]:
    return [int(m["id"]) for m in frame["messages"]]


def _check_built(job: Session, what: str, frame: dict[str, Any]) -> None:
    """Each message of `frame` must be one `build` wrote: its room, a nick, its id's stamp."""
    for m in frame["messages"]:
        if (
            m.get("type") != "message"
            or m.get("room") != ROOM
            or m.get("nick") not in _NICKS
            or m.get("ts") != _stamp(job.epoch + GAP_S * int(m["id"]))
        ):
            raise RunFailed(f"{what}: message {m.get('id')} is not the one built: {m}")


def _session(job: Session) -> dict[str, Any]:
    member = _Member(job.host, job.port)
    notes: list[str] = []
    deadline = time.monotonic() + SESSION_TIMEOUT
    try:
        member.ask(wire_hello("pager"), _answer("welcome"))
        _, join_s, before = member.ask(
            {"type": "join", "room": ROOM}, _answer("members", "room", ROOM)
        )
        replay = [f for f in before if f.get("type") == "history" and f.get("room") == ROOM]
        replayed = _ids(replay[0]) if replay else []
        if replayed and replayed != list(range(job.count - len(replayed) + 1, job.count + 1)):
            raise RunFailed(f"join replayed ids {replayed[:3]}... not the newest of 1..{job.count}")
        pages = _page(member, job, min(replayed, default=job.count + 1), deadline, notes)
        searches, hits, found = _search(member, job, deadline, notes)
    finally:
        member.close()
    return {
        "join": join_s,
        "replayed": len(replayed),
        "pages": pages,
        "searches": searches,
        "hits": hits,
        "found": found,
        "notes": notes,
    }


def wire_hello(nick: str) -> dict[str, Any]:
    return {"type": "hello", "nick": nick, "protocol": 1}


def _page(
    member: _Member, job: Session, oldest: int, deadline: float, notes: list[str]
) -> list[float]:
    """Read back `job.pages` pages from `oldest` down; each must be the ids just below."""
    times: list[float] = []
    before = oldest
    for k in range(job.pages):
        if before <= 1:
            notes.append(f"history: the room's first message reached after {k} pages")
            break
        if time.monotonic() > deadline:
            notes.append(f"history: stopped after {k} pages at the session's time limit")
            break
        page, seconds, _ = member.ask(
            {"type": "history", "room": ROOM, "before": before, "limit": job.page_size},
            _answer("history", "before", before),
        )
        times.append(seconds)
        _check_built(job, f"history before {before}", page)
        ids = _ids(page)
        expected = list(range(max(1, before - job.page_size), before))
        if ids != expected:
            raise RunFailed(
                f"history before {before}: ids {ids[:3]}...{ids[-3:]}, expected "
                f"{expected[0]}..{expected[-1]}"
            )
        if bool(page.get("complete")) != (expected[0] == 1):
            raise RunFailed(f"history before {before}: complete={page.get('complete')!r}")
        before = expected[0]
    return times


def _search(
    member: _Member, job: Session, deadline: float, notes: list[str]
) -> tuple[list[float], int, int]:
    """Run every query: (seconds of each, queries that found something, messages found)."""
    times: list[float] = []
    hits = found = 0
    for k, query in enumerate(job.queries):
        if time.monotonic() > deadline:
            notes.append(f"search: stopped after {k} queries at the session's time limit")
            break
        answer, seconds, _ = member.ask(
            {"type": "search", "room": ROOM, "query": query, "limit": job.results},
            _answer("search_results", "query", query),
        )
        times.append(seconds)
        _check_built(job, f"search {query!r}", answer)
        ids = _ids(answer)
        words = query.split()
        if len(ids) > job.results or ids != sorted(ids, reverse=True) or len(set(ids)) < len(ids):
            raise RunFailed(
                f"search {query!r}: ids {ids} are not at most {job.results}, newest first"
            )
        for message in answer["messages"]:
            tokens = set(_TOKEN.findall(message["text"].lower()))
            if not all(w in tokens for w in words):
                raise RunFailed(
                    f"search {query!r} found message {message['id']}: {message['text']!r}"
                )
        if query in job.frequency and len(ids) != min(job.results, job.frequency[query]):
            raise RunFailed(
                f"search {query!r}: {len(ids)} results, but {job.frequency[query]} messages have it"
            )
        hits += bool(ids)
        found += len(ids)
    return times, hits, found
