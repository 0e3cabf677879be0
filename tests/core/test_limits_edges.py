"""Edges of the limits found in review: each test failed before its fix."""

from __future__ import annotations

import json

from protocol import frame
from tests.core.harness import connect, encode_request, make_hub, send
from tests.core.test_limits import error, member, of_type, run

ADDRESS = "192.0.2.50"


def test_a_refused_quit_costs_a_request_like_any_other() -> None:
    # A quit with a reason the rules refuse leaves the connection open: it must not be a free
    # request type that floods the server with error frames.
    hub, _clock = make_hub()
    conn, io = connect(hub, None, address=ADDRESS)
    bad_quit = encode_request({"type": "quit", "reason": "\t"})
    hub.receive(conn, bad_quit * 500)
    answered = of_type(io.drain(), "error")
    assert 0 < len(answered) <= 16 and io.paused
    assert not conn.closed


def test_renaming_to_a_look_alike_of_an_online_nick_is_refused() -> None:
    hub, _ = make_hub()
    member(hub, "alice", address="192.0.2.1")
    mallory, mallory_io = member(hub, "aiice", address="192.0.2.2")
    # `aIice` (capital I) keys as `aiice` by case folding, but looks like `alice`.
    send(hub, mallory, {"type": "nick", "nick": "aIice"})
    refusal = error(mallory_io)
    assert refusal["code"] == "nick_taken" and "alice" in refusal["message"]
    bob, bob_io = member(hub, "bob", address="192.0.2.3")
    send(hub, bob, {"type": "dm", "to": "a\U000118b2ice", "text": "for alice"})
    assert of_type(bob_io.drain(), "dm")[0]["to"] == "alice"


def test_requests_held_before_a_bad_length_are_all_answered_first() -> None:
    hub, clock = make_hub()
    conn, io = member(hub, "pinger", address=ADDRESS)
    pings = b"".join(encode_request({"type": "ping", "token": str(i)}) for i in range(12))
    hub.receive(conn, pings + (10**6).to_bytes(4, "big"))
    run(hub, clock, 8.0, io)
    tokens = [m["token"] for m in of_type(io.received, "pong")]
    assert tokens == [str(i) for i in range(12)]
    assert io.received[-1]["code"] == "frame_too_large" and conn.closed


def test_the_echo_keeps_its_ref_when_a_member_is_cut_by_the_same_message() -> None:
    hub, _ = make_hub(max_outbuf=2048, outbuf_hard=4096)
    alice, alice_io = member(hub, "alice", "r")
    bob, _ = member(hub, "bob", "r")
    bob.out.append(b"x" * 4000)  # bob has not read: the next frame tips him over
    bob.out_bytes += 4000
    send(hub, alice, {"type": "say", "room": "r", "text": "hi", "ref": "mine"})
    got = alice_io.drain()
    assert bob.closed
    assert of_type(got, "message")[0].get("ref") == "mine"
    assert of_type(got, "left")[0]["reason"] == "slow_consumer"


def test_shutdown_sends_bye_and_nothing_after_it() -> None:
    hub, _ = make_hub(max_outbuf=2048, outbuf_hard=4096)
    _, alice_io = member(hub, "alice", "r")
    bob, _ = member(hub, "bob", "r")
    alice_io.drain()
    bob.out.append(b"x" * 4090)  # the bye cuts bob
    bob.out_bytes += 4090
    hub.shutdown()
    assert [m["type"] for m in alice_io.drain()] == ["bye"]


def test_who_is_answered_from_a_cache_that_follows_joins_leaves_and_renames() -> None:
    hub, _ = make_hub()
    ann, _ = member(hub, "ann", "r")
    asker, asker_io = member(hub, "asker")
    send(hub, asker, {"type": "who", "room": "r"})
    send(hub, asker, {"type": "who", "room": "r"})
    replies = of_type(asker_io.drain(), "members")
    assert (
        replies[0]
        == replies[1]
        == {
            "type": "members",
            "room": "r",
            "nicks": ["ann"],
            "total": 1,
            "roles": {"ann": "op"},
            "muted": [],
        }
    )
    room = hub.rooms.find("r")
    assert room is not None and room.members_frame() is room.members_frame()
    member(hub, "bea", "r")
    send(hub, ann, {"type": "nick", "nick": "anna"})
    send(hub, asker, {"type": "who", "room": "r"})
    assert of_type(asker_io.drain(), "members")[0]["nicks"] == ["anna", "bea"]


def test_a_long_lookup_name_is_not_keyed() -> None:
    hub, _ = make_hub()
    conn, io = member(hub, "looker")
    long_name = "\ufdfa" * 200  # NFKC makes each 18 characters: slow to key, and never a name
    for request in (
        {"type": "who", "room": long_name},
        {"type": "say", "room": long_name, "text": "x"},
        {"type": "dm", "to": long_name, "text": "x"},
    ):
        hub.receive(conn, frame(json.dumps(request).encode()))
    codes = [m["code"] for m in of_type(io.drain(), "error")]
    assert codes == ["no_such_room", "not_in_room", "no_such_nick"]
