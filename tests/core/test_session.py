"""Session rules in process: hello and welcome, requests before hello, nicks and their identity,
renames, ping and quit."""

from __future__ import annotations

import re
import unicodedata

import pytest

from tests.core.harness import make_hub
from tests.core.peer import peer


def test_hello_gets_welcome() -> None:
    hub, _ = make_hub()
    client = peer(hub, None)
    client.send("hello", nick="Welcomed", protocol=1)
    welcome = client.next_of("welcome")
    assert welcome["nick"] == "Welcomed"
    assert welcome["protocol"] == 1
    assert welcome["backend"] == "test"  # the name the backend gave the Hub
    assert welcome["server"]["name"] == "wirechat"
    assert welcome["server"]["version"]
    assert re.fullmatch(r"[0-9a-f]{16}", welcome["instance"])
    assert "motd" not in welcome  # optional fields without a value are omitted
    assert client.pending() == []


def test_welcome_carries_the_motd_when_there_is_one() -> None:
    hub, _ = make_hub(motd="be nice")
    assert peer(hub, None).hello("reader")["motd"] == "be nice"


def test_nick_collisions_are_case_and_normalisation_insensitive() -> None:
    hub, _ = make_hub()
    name = "Zoé7"
    peer(hub, name)
    for variant in (name.upper(), name.casefold(), unicodedata.normalize("NFD", name)):
        other = peer(hub, None)
        other.send("hello", nick=variant, protocol=1)
        error = other.next_of("error")
        assert error["code"] == "nick_taken" and error["fatal"] is False
        # Not fatal: the same connection can pick another nick.
        other.send("hello", nick=f"free{len(hub.connections)}", protocol=1)
        other.next_of("welcome")


@pytest.mark.parametrize(
    "bad",
    ["", " ", "a b", "x" * 33, "zero\u200bwidth", "bidi\u202eevil", "ctl\x07", "nl\n", "\u2028"],
)
def test_invalid_nicks(bad: str) -> None:
    hub, _ = make_hub()
    client = peer(hub, None)
    client.send("hello", nick=bad, protocol=1)
    error = client.next_of("error")
    assert error["code"] == "invalid_nick"
    assert error["fatal"] is False
    assert not client.closed
    client.hello("fine")  # the connection can try again


def test_a_nick_longer_than_the_field_allows_is_an_invalid_message() -> None:
    hub, _ = make_hub()
    client = peer(hub, None)
    client.send("hello", nick="x" * 257, protocol=1)
    error = client.next_of("error")
    assert error["code"] == "invalid_message" and error["fatal"] is False


def test_requests_before_hello_are_refused() -> None:
    hub, _ = make_hub()
    client = peer(hub, None)
    for request in (
        {"type": "join", "room": "lobby"},
        {"type": "say", "room": "lobby", "text": "x", "ref": "early"},
        {"type": "who", "room": "lobby"},
        {"type": "rooms"},
        {"type": "nick", "nick": "x"},
        {"type": "dm", "to": "x", "text": "y"},
        {"type": "dm", "to": "x", "text": "y", "ref": "early-dm"},
        {"type": "leave", "room": "lobby"},
        {"type": "topic", "room": "lobby", "topic": "t"},
    ):
        client.send_json(request)
        error = client.next_of("error")
        assert error["code"] == "not_registered" and error["fatal"] is False
        if "ref" in request:
            assert error["ref"] == request["ref"]
        else:
            assert "ref" not in error
    assert hub.rooms.rooms == {}  # none of them had any effect
    client.send("ping", token="t")
    assert client.next_of("pong") == {"type": "pong", "token": "t"}
    client.send("quit")
    assert client.next_of("bye")["reason"]
    assert client.closed


def test_hello_twice_and_bad_protocol() -> None:
    hub, _ = make_hub()
    client = peer(hub, "twice")
    client.send("hello", nick="other", protocol=1)
    error = client.next_of("error")
    assert error["code"] == "already_registered" and error["fatal"] is False
    assert client.conn.nick == "twice" and hub.nicks.holder("other") is None
    old = peer(hub, None)
    old.send("hello", nick="future", protocol=2)
    error = old.next_of("error")
    assert error["code"] == "unsupported_protocol" and error["fatal"] is True
    assert old.closed and old.pending() == []


def test_nick_change_reaches_room_members_once() -> None:
    hub, _ = make_hub()
    alice = peer(hub, "alice")
    alice.join("r1")
    alice.join("r2")
    bob = peer(hub, "bob")
    bob.join("r1")
    bob.join("r2")
    outsider = peer(hub, "outsider")
    alice.pending()
    alice.send("nick", nick="alicia")
    assert alice.next_of("nick_changed") == {
        "type": "nick_changed",
        "old": "alice",
        "new": "alicia",
    }
    assert alice.pending() == []  # once, though alice is in two rooms
    changes = [m for m in bob.pending() if m["type"] == "nick_changed"]
    assert changes == [{"type": "nick_changed", "old": "alice", "new": "alicia"}]
    assert outsider.pending() == []
    bob.send("nick", nick="ALICIA")
    assert bob.next_of("error")["code"] == "nick_taken"
    bob.send("nick", nick="bad nick")
    assert bob.next_of("error")["code"] == "invalid_nick"
    alice.send("say", room="r1", text="renamed")
    assert bob.next_of("message")["nick"] == "alicia"
    # The old nick is free again.
    peer(hub, None).hello("alice")


def test_renaming_to_the_same_nick_does_nothing_but_a_change_of_case_is_a_rename() -> None:
    hub, _ = make_hub()
    alice = peer(hub, "alice", "r")
    bob = peer(hub, "bob", "r")
    alice.pending()
    alice.send("nick", nick="alice")
    assert alice.pending() == [] and bob.pending() == []
    alice.send("nick", nick="Alice")
    change = {"type": "nick_changed", "old": "alice", "new": "Alice"}
    assert alice.pending() == [change] and bob.pending() == [change]
    alice.send("nick", nick="AIice")  # a look-alike of one's own nick is a rename too
    assert alice.next_of("nick_changed")["new"] == "AIice"


def test_quit_says_bye_and_room_sees_left() -> None:
    hub, _ = make_hub()
    alice = peer(hub, "alice", "room")
    bob = peer(hub, "bob", "room")
    bob.send("quit", reason="off to lunch")
    assert bob.next_of("bye")["reason"]
    assert bob.closed and bob.pending() == []
    left = alice.expect("left", nick="bob")
    assert left["room"] == "room" and left["reason"] == "off to lunch"
    # The nick is free again.
    peer(hub, None).hello("bob")


def test_quit_without_a_reason_is_seen_as_quit() -> None:
    hub, _ = make_hub()
    alice = peer(hub, "alice", "room")
    bob = peer(hub, "bob", "room")
    bob.send("quit")
    bob.next_of("bye")
    assert alice.expect("left", nick="bob")["reason"] == "quit"
