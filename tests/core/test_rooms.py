"""Room rules in process: joining, saying, the `ref` echo, history and `since`, ordering,
`who`, `rooms`, topics, leaving, and the text rules of `say`."""

from __future__ import annotations

import pytest

from chat_server.cli import build_parser, config_from
from chat_server.core import Hub
from tests.core.harness import Clock, connect, make_hub
from tests.core.peer import ISO_UTC, Peer, peer


def test_two_clients_chat() -> None:
    hub, _ = make_hub()
    alice = peer(hub, "alice", "room")
    bob = peer(hub, "bob")
    bob.send("join", room="room")
    joined = alice.next_of("joined")
    assert joined["nick"] == "bob"
    assert joined["room"] == "room" and ISO_UTC.match(joined["ts"])
    assert bob.next_of("joined") == joined
    assert bob.next_of("history") == {"type": "history", "room": "room", "messages": []}
    assert bob.next_of("members")["nicks"] == ["alice", "bob"]
    alice.send("say", room="room", text="hi bob", ref="r1")
    mine = alice.next_of("message")
    theirs = bob.next_of("message")
    assert mine["ref"] == "r1"
    assert "ref" not in theirs
    assert {k: v for k, v in mine.items() if k != "ref"} == theirs
    assert theirs["nick"] == "alice" and theirs["text"] == "hi bob"
    assert theirs["action"] is False and ISO_UTC.match(theirs["ts"])
    assert theirs["room"] == "room" and isinstance(theirs["id"], int)
    bob.send("say", room="room", text="waves", action=True)
    action = alice.next_of("message")
    assert action["action"] is True and action["nick"] == "bob"
    assert action["id"] > mine["id"]
    assert "ref" not in bob.expect("message")  # no ref sent: none echoed


def test_three_clients_see_the_same_conversation() -> None:
    hub, _ = make_hub()
    clients = [peer(hub, n, "room") for n in ("a", "b", "c")]
    for client in clients:
        client.pending()
    for i, client in enumerate(clients):
        client.send("say", room="room", text=f"line {i}")
        for other in clients:
            message = other.next_of("message")
            assert message["text"] == f"line {i}" and message["nick"] == client.nick


def test_the_joiner_gets_joined_history_members_and_topic_in_that_order() -> None:
    hub, _ = make_hub()
    alice = peer(hub, "alice", "room")
    alice.send("say", room="room", text="before")
    alice.send("topic", room="room", topic="the plan")
    bob = peer(hub, "bob")
    bob.send("join", room="room")
    replies = bob.pending()
    assert [m["type"] for m in replies] == ["joined", "history", "members", "topic"]
    assert [m["text"] for m in replies[1]["messages"]] == ["before"]
    assert replies[2]["nicks"] == ["alice", "bob"] and replies[2]["total"] == 2
    assert replies[3] == {"type": "topic", "room": "room", "topic": "the plan", "nick": "alice"}
    # Joining again is harmless: the joiner alone gets the same replies again.
    alice.pending()
    bob.send("join", room="ROOM")
    again = bob.pending()
    assert [m["type"] for m in again] == ["joined", "history", "members", "topic"]
    assert again[2]["nicks"] == ["alice", "bob"]
    assert alice.pending() == []


@pytest.mark.parametrize("bad", ["", "a b", "r" * 65, "zw\u200d", "\u202eroom", "tab\t"])
def test_invalid_rooms(bad: str) -> None:
    hub, _ = make_hub()
    client = peer(hub, "user")
    client.send("join", room=bad)
    error = client.next_of("error")
    assert error["code"] == "invalid_room" and error["fatal"] is False
    assert hub.rooms.rooms == {} and client.pending() == []


def test_a_room_name_may_start_with_a_hash() -> None:
    hub, _ = make_hub()
    assert peer(hub, "user").join("#lobby")["room"] == "#lobby"


def test_history_replay_and_since() -> None:
    hub, _ = make_hub()
    writer = peer(hub, "writer", "room")
    ids = []
    for i in range(5):
        writer.send("say", room="room", text=f"m{i}", ref=f"ref{i}")
        ids.append(writer.next_of("message")["id"])
    reader = peer(hub, "reader")
    history = reader.join("room")
    assert [m["text"] for m in history["messages"]] == [f"m{i}" for i in range(5)]
    assert [m["id"] for m in history["messages"]] == ids
    assert all("ref" not in m for m in history["messages"])
    assert all(m["type"] == "message" and m["nick"] == "writer" for m in history["messages"])
    late = peer(hub, "late")
    late.send("join", room="room", since=ids[2])
    late.next_of("joined")
    history = late.next_of("history")
    assert [m["id"] for m in history["messages"]] == ids[3:]
    latest = peer(hub, "latest")
    latest.send("join", room="room", since=ids[-1])
    latest.next_of("joined")
    assert latest.next_of("history")["messages"] == []


def test_history_is_a_bounded_ring() -> None:
    # Through the CLI's own flag, as `chat-server --history 3` would configure the core.
    config = config_from(build_parser().parse_args(["--history", "3"]))
    hub = Hub(config, backend="test", clock=Clock())
    writer = Peer(hub, *connect(hub), None)
    writer.hello("w")
    writer.join("ring")
    for i in range(10):
        writer.send("say", room="ring", text=str(i))
    reader = Peer(hub, *connect(hub), None)
    reader.hello("r")
    history = reader.join("ring")
    assert [m["text"] for m in history["messages"]] == ["7", "8", "9"]


def test_a_room_and_its_history_go_with_its_last_member() -> None:
    hub, _ = make_hub()
    alice = peer(hub, "alice", "room")
    alice.send("say", room="room", text="gone soon")
    alice.send("topic", room="room", topic="gone too")
    alice.send("leave", room="room")
    assert hub.rooms.rooms == {}
    history = peer(hub, "bob").join("room")
    assert history["messages"] == []


def test_per_room_total_order_with_interleaved_senders() -> None:
    hub, _ = make_hub()
    senders = [peer(hub, f"s{i}", "order") for i in range(3)]
    observers = [peer(hub, f"o{i}", "order") for i in range(2)]
    per_sender = 40
    for i in range(per_sender):
        for sender in senders[i % 3 :] + senders[: i % 3]:  # a different interleaving each turn
            sender.send("say", room="order", text=f"{sender.nick}:{i}")
    total = per_sender * len(senders)
    sequences = []
    for client in senders + observers:
        seen = [(m["id"], m["text"]) for m in client.pending() if m["type"] == "message"]
        assert len(seen) == total
        sequences.append(seen)
    assert all(seq == sequences[0] for seq in sequences)
    ids = [i for i, _ in sequences[0]]
    assert ids == sorted(ids) and len(set(ids)) == total
    for sender in senders:  # each sender's own messages keep their order
        texts = [t for _, t in sequences[0] if t.startswith(f"{sender.nick}:")]
        assert texts == [f"{sender.nick}:{i}" for i in range(per_sender)]


def test_ids_increase_across_rooms_and_dms() -> None:
    hub, _ = make_hub()
    alice = peer(hub, "alice", "one")
    alice.join("two")
    alice.send("say", room="one", text="a")
    alice.send("dm", to="alice", text="b")
    alice.send("say", room="two", text="c")
    ids = [m["id"] for m in alice.pending() if m["type"] in ("message", "dm")]
    assert len(ids) == 3 and ids == sorted(set(ids))


def test_leave_who_rooms_topic() -> None:
    hub, _ = make_hub()
    room = "Hall"
    alice = peer(hub, "alice", room)
    bob = peer(hub, "bob", room.lower())  # rooms are case-insensitive
    assert alice.expect("joined", nick="bob")["room"] == room  # the creator's spelling
    alice.send("who", room=room.upper())
    members = alice.next_of("members")
    assert members == {
        "type": "members",
        "room": room,
        "nicks": ["alice", "bob"],
        "total": 2,
        "roles": {"alice": "op"},
        "muted": [],
    }
    alice.send("topic", room=room, topic="plans for friday")
    for client in (alice, bob):
        topic = client.expect("topic")
        assert topic == {
            "type": "topic",
            "room": room,
            "topic": "plans for friday",
            "nick": "alice",
        }
    alice.send("rooms")
    listing = alice.next_of("room_list")
    entry = next(r for r in listing["rooms"] if r["name"] == room)
    assert entry == {"name": room, "members": 2, "topic": "plans for friday"}
    # A newcomer gets the topic after history and members.
    carol = peer(hub, "carol")
    carol.send("join", room=room)
    replies = carol.pending()
    assert [m["type"] for m in replies][-3:] == ["history", "members", "topic"]
    assert replies[-1]["topic"] == "plans for friday"
    carol.send("topic", room=room, topic="  padded  ")  # trimmed
    assert alice.expect("topic")["topic"] == "padded"
    bob.pending()
    bob.send("leave", room=room)
    left = alice.expect("left", nick="bob")
    assert left["room"] == room and ISO_UTC.match(left["ts"]) and "reason" not in left
    assert bob.next_of("left") == left  # the leaver is told too
    bob.send("say", room=room, text="still here?", ref="q")
    error = bob.next_of("error")
    assert error["code"] == "not_in_room" and error["ref"] == "q"
    bob.send("leave", room=room)
    assert bob.next_of("error")["code"] == "not_in_room"
    bob.send("topic", room=room, topic="hijack")
    assert bob.next_of("error")["code"] == "not_in_room"
    bob.send("who", room="nowhere")
    assert bob.next_of("error")["code"] == "no_such_room"
    # `who` needs no membership.
    bob.send("who", room=room)
    assert bob.next_of("members")["nicks"] == ["alice", "carol"]
    assert bob.pending() == []


def test_a_room_is_found_under_a_look_alike_of_its_name() -> None:
    hub, _ = make_hub()
    alice = peer(hub, "alice", "lobby")
    bob = peer(hub, "bob", "\u217cobby")  # U+217C SMALL ROMAN NUMERAL FIFTY
    alice.pending()
    bob.send("say", room="LOBBY", text="same room")
    assert alice.next_of("message")["room"] == "lobby"
    assert len(hub.rooms) == 1


def test_empty_topic_clears_it() -> None:
    hub, _ = make_hub()
    alice = peer(hub, "alice", "room")
    alice.send("topic", room="room", topic="x")
    alice.expect("topic")
    alice.send("topic", room="room", topic="")
    assert alice.next_of("topic")["topic"] == ""
    alice.send("rooms")
    assert alice.next_of("room_list")["rooms"] == [{"name": "room", "members": 1, "topic": ""}]
    newcomer = peer(hub, "newcomer")
    newcomer.send("join", room="room")
    assert [m["type"] for m in newcomer.pending()] == ["joined", "history", "members"]
    alice.pending()
    alice.send("topic", room="room", topic="two\nlines")
    assert alice.next_of("error")["code"] == "invalid_text"
    alice.send("topic", room="room", topic="t" * 513)
    assert alice.next_of("error")["code"] == "invalid_text"


def test_control_characters_in_text_are_refused() -> None:
    hub, _ = make_hub()
    alice = peer(hub, "alice", "room")
    bob = peer(hub, "bob", "room")
    alice.pending()
    for text in ("\x1b]0;pwned\x07", "\x1b[2J", "a\u202eb", "\x9b31m", "   ", "crlf\r\n"):
        alice.send("say", room="room", text=text, ref="t")
        error = alice.next_of("error")
        assert error["code"] == "invalid_text" and error["ref"] == "t" and error["fatal"] is False
    assert bob.pending() == []
    text = "multi\nline\ttext 👨‍👩‍👧 [bold]x[/]"
    alice.send("say", room="room", text=text)
    assert bob.next_of("message")["text"] == text


def test_text_length_is_counted_in_characters() -> None:
    hub, _ = make_hub()
    alice = peer(hub, "alice", "room")
    alice.send("say", room="room", text="é" * 8000)  # 16,000 bytes, 8,000 characters
    assert alice.next_of("message")["text"] == "é" * 8000
    alice.send("say", room="room", text="x" * 8001, ref="long")
    error = alice.next_of("error")
    assert error["code"] == "invalid_text" and error["ref"] == "long"
