"""History and search in process: paging back to a room's first message, full-text search,
and what a persistent store adds (history beyond the window, restarts, ids that never start
again, rooms that outlive their members, and a database that stops taking writes).

Most tests run on the memory store and on a SqliteStore on a temporary file; the core gets
the store's answers through `Hub.post`, which `tests.store.harness` settles.
"""

from __future__ import annotations

import os
import pathlib
import shutil
import sqlite3
import subprocess
from collections.abc import Callable, Iterator

import pytest

from chat_server.core import Hub
from tests.store.harness import Client, client, make_hub

MakeHub = Callable[..., Hub]


@pytest.fixture
def hubs(tmp_path: pathlib.Path) -> Iterator[Callable[..., Hub]]:
    """`hubs(db=None, **config)`: hubs shut down at teardown (db: a SqliteStore file)."""
    made: list[Hub] = []

    def make(db: pathlib.Path | None = None, **config: object) -> Hub:
        hub, _ = make_hub(db, **config)
        made.append(hub)
        return hub

    yield make
    for hub in made:
        if not hub.closing:
            hub.shutdown()


@pytest.fixture(params=["memory", "sqlite"])
def hub_of(request: pytest.FixtureRequest, hubs: MakeHub, tmp_path: pathlib.Path) -> MakeHub:
    """A hub over each store in turn: `hub_of(**config)`."""
    if request.param == "memory":
        return hubs
    return lambda **config: hubs(tmp_path / "chat.db", **config)


def say_all(sender: Client, room: str, texts: list[str]) -> list[int]:
    """Say each text in `room`; the ids of the echoes, in order."""
    for i, text in enumerate(texts):
        sender.send("say", room=room, text=text, ref=f"r{i}")
    echoes = [m for m in sender.pending() if m["type"] == "message"]
    assert [m["ref"] for m in echoes] == [f"r{i}" for i in range(len(texts))]
    return [m["id"] for m in echoes]


def page(peer: Client, room: str, before: int | None = None, limit: int = 50) -> dict:
    request: dict[str, object] = {"room": room, "limit": limit}
    if before is not None:
        request["before"] = before
    peer.send("history", **request)
    answer = peer.next_of("history")
    assert answer["room"] == room
    if before is None:
        assert "before" not in answer
    else:
        assert answer["before"] == before
    return answer


def every_page(peer: Client, room: str, limit: int) -> tuple[list[int], int]:
    """Page from the newest message back to the first; every id (oldest first) and the
    number of pages. Fails if a page is out of order or the last is not `complete`."""
    ids: list[int] = []
    before = None
    pages = 0
    while True:
        answer = page(peer, room, before, limit)
        pages += 1
        got = [m["id"] for m in answer["messages"]]
        assert got == sorted(got) and len(got) <= limit
        assert all(m["room"] == room and m["type"] == "message" for m in answer["messages"])
        ids[:0] = got
        if answer.get("complete"):
            return ids, pages
        assert got, f"an empty page that is not complete: {answer}"
        before = got[0]
        assert pages < 1000


# ---------------------------------------------------------------------- history


def test_history_pages_back_to_the_first_message(hub_of: MakeHub) -> None:
    hub = hub_of()
    alice = client(hub, "alice", "room")
    sent = say_all(alice, "room", [f"message {i}" for i in range(12)])
    first = page(alice, "room", limit=5)
    assert [m["id"] for m in first["messages"]] == sent[-5:]
    assert "complete" not in first or first["complete"] is False
    assert [m["text"] for m in first["messages"]] == [f"message {i}" for i in range(7, 12)]
    assert all("ref" not in m for m in first["messages"])
    second = page(alice, "room", before=sent[7], limit=5)
    assert [m["id"] for m in second["messages"]] == sent[2:7]
    last = page(alice, "room", before=sent[2], limit=5)
    assert [m["id"] for m in last["messages"]] == sent[:2] and last["complete"] is True
    assert every_page(alice, "room", 4) == (sent, 3)
    nothing = page(alice, "room", before=sent[0])
    assert nothing["messages"] == [] and nothing["complete"] is True


def test_a_page_that_reaches_the_first_message_exactly_is_complete(hub_of: MakeHub) -> None:
    hub = hub_of()
    alice = client(hub, "alice", "room")
    sent = say_all(alice, "room", ["a", "b", "c"])
    answer = page(alice, "room", limit=3)
    assert [m["id"] for m in answer["messages"]] == sent
    # Whether nothing older exists may take one more page to tell, never a wrong answer.
    if not answer.get("complete"):
        assert page(alice, "room", before=sent[0])["complete"] is True


def test_history_of_an_empty_room_is_complete(hub_of: MakeHub) -> None:
    alice = client(hub_of(), "alice", "room")
    answer = page(alice, "room")
    assert answer["messages"] == [] and answer["complete"] is True


def test_a_join_replay_is_no_page(hub_of: MakeHub) -> None:
    hub = hub_of()
    alice = client(hub, "alice", "room")
    say_all(alice, "room", ["one", "two"])
    replay = client(hub, "bob").join("room")
    assert [m["text"] for m in replay["messages"]] == ["one", "two"]
    assert "before" not in replay and "complete" not in replay


def test_history_and_search_are_for_members(hub_of: MakeHub) -> None:
    hub = hub_of()
    say_all(client(hub, "alice", "room"), "room", ["secret"])
    bob = client(hub, "bob")
    bob.send("history", room="room")
    assert bob.next_of("error")["code"] == "not_in_room"
    bob.send("search", room="room", query="secret")
    assert bob.next_of("error")["code"] == "not_in_room"
    bob.send("history", room="nowhere")
    assert bob.next_of("error")["code"] == "not_in_room"


@pytest.mark.parametrize(
    "request_",
    [
        {"type": "history", "room": "room", "limit": 0},
        {"type": "history", "room": "room", "limit": 201},
        {"type": "search", "room": "room", "query": ""},
        {"type": "search", "room": "room", "query": "x" * 257},
        {"type": "search", "room": "room", "query": "x", "limit": 101},
    ],
)
def test_history_and_search_requests_are_bounded(hubs: MakeHub, request_: dict) -> None:
    alice = client(hubs(), "alice", "room")
    alice.send_json(request_)
    assert alice.next_of("error")["code"] == "invalid_message"


def test_a_page_holds_the_most_a_request_may_ask(hubs: MakeHub) -> None:
    alice = client(hubs(history=300), "alice", "room")
    sent = say_all(alice, "room", [f"m{i}" for i in range(250)])
    answer = page(alice, "room", limit=200)
    assert [m["id"] for m in answer["messages"]] == sent[-200:]


def test_a_page_is_cut_to_the_reply_budget_and_is_then_not_complete(
    hubs: MakeHub, tmp_path: pathlib.Path
) -> None:
    alice = client(hubs(tmp_path / "chat.db", history=5), "alice", "room")
    sent = say_all(alice, "room", ["x" * 8000 for _ in range(40)])  # 320 KB, over 256 KiB
    answer = page(alice, "room", limit=40)
    got = [m["id"] for m in answer["messages"]]
    assert got and got == sent[-len(got) :] and len(got) < 40
    assert not answer.get("complete")
    assert every_page(alice, "room", 40)[0] == sent


# ---------------------------------------------------------------------- search


def test_search_finds_messages_with_every_word_newest_first(hub_of: MakeHub) -> None:
    hub = hub_of()
    alice = client(hub, "alice", "room")
    texts = [
        "The quick brown fox",  # 0
        "quick thinking",  # 1
        "Brown bread and butter",  # 2
        "un café crème",  # 3
        "a QUICK, brown-ish dog",  # 4
        "quickly now",  # 5
    ]
    ids = say_all(alice, "room", texts)
    other = client(hub, "bob", "other")
    say_all(other, "other", ["quick brown elsewhere"])

    def found(query: str, limit: int = 20) -> list[int]:
        alice.send("search", room="room", query=query, limit=limit)
        answer = alice.next_of("search_results")
        assert answer["room"] == "room" and answer["query"] == query
        return [m["id"] for m in answer["messages"]]

    assert found("quick") == [ids[4], ids[1], ids[0]]
    assert found("brown QUICK") == [ids[4], ids[0]]
    assert found("quick", limit=2) == [ids[4], ids[1]]
    assert found("quick*") == [ids[5], ids[4], ids[1], ids[0]]
    assert found("cafe creme") == [ids[3]]  # diacritics folded
    assert found("bread butter brown") == [ids[2]]
    assert found("fox dog") == []  # each in a message, never both in one
    assert found("elsewhere") == []  # another room's message
    assert found("!!! ...") == []  # no word at all


@pytest.mark.parametrize(
    "query", ['"', 'quick"', "NEAR(quick brown)", "quick OR fox", "room: x", "-quick", "^fox", "*"]
)
def test_search_takes_words_only_never_query_syntax(hub_of: MakeHub, query: str) -> None:
    hub = hub_of()
    alice = client(hub, "alice", "room")
    say_all(alice, "room", ["the quick brown fox", "near or not"])
    alice.send("search", room="room", query=query)
    answer = alice.next_of("search_results")
    assert answer["query"] == query
    for message in answer["messages"]:  # every result holds every word of the query
        words = message["text"].casefold().split()
        assert all(
            w.strip('"():-^*').casefold() in words for w in query.split() if w.strip('"():-^*')
        )


def test_search_reaches_beyond_the_window_with_a_database(hubs: MakeHub, tmp_path) -> None:
    hub = hubs(tmp_path / "chat.db", history=5)
    alice = client(hub, "alice", "room")
    ids = say_all(alice, "room", ["needle early"] + [f"hay {i}" for i in range(20)])
    alice.send("search", room="room", query="needle")
    assert [m["id"] for m in alice.next_of("search_results")["messages"]] == [ids[0]]


# ---------------------------------------------------------------------- with a database


def test_history_beyond_the_window_comes_from_the_database(hubs: MakeHub, tmp_path) -> None:
    hub = hubs(tmp_path / "chat.db", history=5)
    alice = client(hub, "alice", "room")
    sent = say_all(alice, "room", [f"m{i}" for i in range(33)])
    assert every_page(alice, "room", 10) == (sent, 4)
    assert every_page(alice, "room", 200)[0] == sent
    middle = page(alice, "room", before=sent[20], limit=7)
    assert [m["id"] for m in middle["messages"]] == sent[13:20]


def test_a_restarted_hub_replays_pages_and_searches_what_the_last_one_kept(
    hubs: MakeHub, tmp_path
) -> None:
    db = tmp_path / "chat.db"
    hub = hubs(db, history=8)
    alice = client(hub, "alice", "room")
    alice.send("topic", room="room", topic="kept across restarts")
    sent = say_all(alice, "room", [f"before restart {i}" for i in range(30)])
    before = page(alice, "room", limit=8)["messages"]
    instance = hub.instance
    hub.shutdown()

    hub = hubs(db, history=8)
    assert hub.instance == instance
    bob = client(hub, "bob")
    bob.send("rooms")
    listing = bob.next_of("room_list")["rooms"]
    assert {"name": "room", "members": 0, "topic": "kept across restarts"} in listing
    bob.send("join", room="room")
    assert bob.next_of("joined")["nick"] == "bob"
    replay = bob.next_of("history")
    assert replay["messages"] == before  # the same bodies, byte for byte
    bob.next_of("members")
    assert bob.next_of("topic")["topic"] == "kept across restarts"
    assert every_page(bob, "room", 7)[0] == sent
    bob.send("search", room="room", query="restart 3")
    assert [m["id"] for m in bob.next_of("search_results")["messages"]] == [sent[3]]
    after = say_all(bob, "room", ["after restart"])
    assert after[0] == sent[-1] + 1  # a graceful stop leaves no gap in the ids
    assert every_page(bob, "room", 50)[0] == sent + after


def test_a_message_said_before_a_cold_window_is_read_is_not_lost(hubs: MakeHub, tmp_path) -> None:
    db = tmp_path / "chat.db"
    hub = hubs(db, history=5)
    sent = say_all(client(hub, "alice", "room"), "room", [f"old {i}" for i in range(8)])
    hub.shutdown()
    hub = hubs(db, history=5)
    alice = client(hub, "alice")
    bob = client(hub, "bob")
    # Both join the cold room and alice speaks before any replay has been read.
    alice.send("join", room="room")
    bob.send("join", room="room")
    alice.send("say", room="room", text="new", ref="n")
    received = alice.pending()
    bob.pending()
    replay = next(m for m in received if m["type"] == "history")
    assert [m["id"] for m in replay["messages"]] == sent[-5:]
    new = [m for m in received if m["type"] == "message"]
    assert [m["text"] for m in new] == ["new"]
    assert every_page(bob, "room", 3)[0] == [*sent, new[0]["id"]]


def test_ids_after_a_crash_are_above_every_id_handed_out(hubs: MakeHub, tmp_path) -> None:
    db = tmp_path / "chat.db"
    hub = hubs(db)
    alice = client(hub, "alice", "room")
    sent = say_all(alice, "room", [f"m{i}" for i in range(10)])
    # What a kill -9 leaves behind now: the database and its write-ahead log, as they are.
    crashed = tmp_path / "crashed"
    crashed.mkdir()
    for name in os.listdir(tmp_path):
        if name.startswith("chat.db") and not name.endswith("-shm"):
            shutil.copy(tmp_path / name, crashed / name)
    after_crash = hubs(crashed / "chat.db")
    assert after_crash.instance == hub.instance
    bob = client(after_crash, "bob", "room")
    assert every_page(bob, "room", 4)[0] == sent
    new = say_all(bob, "room", ["after the crash"])
    assert new[0] > sent[-1]


def test_rooms_outlive_their_last_member_only_with_a_database(hubs: MakeHub, tmp_path) -> None:
    for hub, kept in ((hubs(), False), (hubs(tmp_path / "chat.db"), True)):
        alice = client(hub, "alice", "room")
        say_all(alice, "room", ["hello"])
        alice.send("leave", room="room")
        alice.send("rooms")
        listing = alice.next_of("left", "room_list")
        if listing["type"] == "left":
            listing = alice.next_of("room_list")
        assert (listing["rooms"] == [{"name": "room", "members": 0, "topic": ""}]) is kept
        replay = client(hub, "bob").join("room")
        assert [m["text"] for m in replay["messages"]] == (["hello"] if kept else [])


def test_the_instance_is_new_for_a_new_database(hubs: MakeHub, tmp_path) -> None:
    one = hubs(tmp_path / "one.db").instance
    two = hubs(tmp_path / "two.db").instance
    assert len(one) == len(two) == 16 and one != two
    assert hubs().instance != hubs().instance  # the memory store: new every time


def test_an_unreadable_store_is_store_unavailable(hubs: MakeHub, tmp_path) -> None:
    hub = hubs(tmp_path / "chat.db", history=3)
    alice = client(hub, "alice", "room")
    say_all(alice, "room", [f"m{i}" for i in range(6)])

    def broken() -> object:
        raise sqlite3.OperationalError("disk I/O error")

    hub.store.reader = broken  # type: ignore[method-assign]
    alice.send("history", room="room", limit=10)
    alice.send("search", room="room", query="m1")
    alice.send("ping", token="after")
    answers = alice.pending()
    assert [(m["type"], m.get("code"), m.get("fatal")) for m in answers] == [
        ("error", "store_unavailable", False),
        ("error", "store_unavailable", False),
        ("pong", None, None),
    ]
    # What the window holds needs no read.
    assert len(page(alice, "room", limit=2)["messages"]) == 2


# ---------------------------------------------------------------------- a failing database


def fill(sender: Client, room: str, count: int) -> list[dict]:
    """Say `count` messages of 8000 characters (each unlike the others), one write at a time
    (so each fails or fits on its own); everything that came back."""
    received = []
    for i in range(count):
        sender.send("say", room=room, text=f"w{i} " + "abcdefgh " * 888, ref=f"f{i}")
        received += sender.pending()
    return received


def notices(received: list[dict]) -> list[dict]:
    return [m for m in received if m["type"] == "notice"]


def test_a_full_database_keeps_the_chat_going_and_says_so(hubs: MakeHub, tmp_path) -> None:
    hub = hubs(tmp_path / "chat.db", max_bytes=256 * 1024)
    alice = client(hub, "alice", "room")
    bob = client(hub, "bob", "room")
    carol = client(hub, "carol")  # in no room: told all the same
    health = hub.health()
    assert health["ok"] is True and health["store"] == "ok"
    received = fill(alice, "room", 60)
    echoes = [m for m in received if m["type"] == "message"]
    assert [m["ref"] for m in echoes] == [f"f{i}" for i in range(60)]
    for peer, got in ((alice, received), (bob, bob.pending()), (carol, carol.pending())):
        told = notices(got)
        assert len(told) == 1, (peer.nick, told)
        assert told[0]["from"] == "server" and told[0]["text"].startswith(
            "history is not being kept"
        )
        assert told[0]["ts"]
    assert len([m for m in bob.io.received if m["type"] == "message"]) == 60
    health = hub.health()
    assert health["ok"] is False
    assert str(health["store"]).startswith("history is not being kept")
    # The chat goes on: messages, DMs, joins.
    # (A message too big for what is left: a small one may still fit, and history would then
    # be kept again, and announced so.)
    still = "still here " + "x" * 7000
    alice.send("say", room="room", text=still, ref="s")
    assert alice.next_of("message")["ref"] == "s"
    assert bob.next_of("message")["text"] == still
    bob.send("dm", to="alice", text="me too")
    assert bob.next_of("dm")["text"] == alice.next_of("dm")["text"] == "me too"
    assert client(hub, "dave").join("room")["messages"]
    assert notices(alice.pending() + bob.pending()) == []  # told once, not every write


def make_read_only(path: pathlib.Path) -> Callable[[], None]:
    """Make the database file unwritable, even for root; returns the undo."""
    if os.geteuid() != 0:
        path.chmod(0o444)
        return lambda: path.chmod(0o644)
    if shutil.which("chattr") is None:
        pytest.skip("root without chattr: no way to make a file read-only")
    if subprocess.run(["chattr", "+i", str(path)], capture_output=True).returncode:
        pytest.skip("chattr +i is not allowed here")
    return lambda: subprocess.run(["chattr", "-i", str(path)], check=True)


def read_only_hub(hubs: MakeHub, db: pathlib.Path) -> tuple[Hub, list[int], Callable[[], None]]:
    """A hub on a database that holds five messages of `room` and may not be written."""
    hub = hubs(db)
    sent = say_all(client(hub, "alice", "room"), "room", [f"kept {i}" for i in range(5)])
    hub.shutdown()
    undo = make_read_only(db)
    try:
        return hubs(db), sent, undo
    except BaseException:
        undo()
        raise


def test_a_read_only_database_is_served_and_reported(hubs: MakeHub, tmp_path) -> None:
    hub, sent, undo = read_only_hub(hubs, tmp_path / "chat.db")
    try:
        health = hub.health()
        assert health["ok"] is False and "history is not being kept" in str(health["store"])
        alice = client(hub, "alice", None)
        alice.send("join", room="room")
        replay = next(m for m in alice.pending() if m["type"] == "history")
        assert [m["id"] for m in replay["messages"]] == sent
        new = say_all(alice, "room", ["not kept"])
        assert new[0] > sent[-1]
        assert every_page(alice, "room", 2)[0] == sent + new  # the window still has it
        alice.send("search", room="room", query="kept")
        assert len(alice.next_of("search_results")["messages"]) == 5
    finally:
        hub.shutdown()
        undo()


@pytest.mark.parametrize("why", ["full", "read-only"])
def test_a_client_arriving_while_history_is_not_kept_is_told(
    hubs: MakeHub, tmp_path, why: str
) -> None:
    undo = None
    if why == "full":
        hub = hubs(tmp_path / "chat.db", max_bytes=256 * 1024)
        assert notices(fill(client(hub, "alice", "room"), "room", 60))
    else:
        hub, _, undo = read_only_hub(hubs, tmp_path / "chat.db")
    try:
        assert hub.health()["ok"] is False
        late = client(hub, None)
        late.hello("late")
        told = notices(late.pending())
        assert len(told) == 1 and told[0]["text"].startswith("history is not being kept")
    finally:
        hub.shutdown()
        if undo is not None:
            undo()
