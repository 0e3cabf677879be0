"""Direct messages in process: only the two parties see them, the sender's copy carries its
`ref`, and a `dm` finds its recipient under any look-alike of the nick."""

from __future__ import annotations

from tests.core.harness import make_hub
from tests.core.peer import ISO_UTC, peer


def test_dm_reaches_only_its_two_parties() -> None:
    hub, _ = make_hub()
    alice, bob, carol = [peer(hub, n, "room") for n in ("alice", "bob", "carol")]
    for client in (alice, bob, carol):
        client.pending()
    alice.send("dm", to="BOB", text="secret", ref="d1")
    sent = alice.next_of("dm")
    got = bob.next_of("dm")
    assert sent["ref"] == "d1" and "ref" not in got
    assert {k: v for k, v in sent.items() if k != "ref"} == got
    assert got["from"] == "alice" and got["to"] == "bob" and got["text"] == "secret"
    assert isinstance(got["id"], int) and ISO_UTC.match(got["ts"])
    assert carol.pending() == []
    assert alice.pending() == [] and bob.pending() == []  # one copy each
    # A dm is no room message: no history holds it.
    assert peer(hub, "dave").join("room")["messages"] == []


def test_dm_to_a_look_alike_reaches_the_holder_under_their_own_spelling() -> None:
    hub, _ = make_hub()
    alice = peer(hub, "alice")
    bob = peer(hub, "Bob")
    alice.send("dm", to="\uff42\uff4f\uff42", text="hi")  # fullwidth
    assert alice.next_of("dm")["to"] == "Bob"
    assert bob.next_of("dm")["from"] == "alice"


def test_dm_to_oneself_is_one_copy() -> None:
    hub, _ = make_hub()
    alice = peer(hub, "alice")
    alice.send("dm", to="alice", text="note to self", ref="me")
    received = alice.pending()
    assert len(received) == 1
    assert received[0]["from"] == received[0]["to"] == "alice" and received[0]["ref"] == "me"


def test_dm_to_unknown_nick() -> None:
    hub, _ = make_hub()
    alice = peer(hub, "alice")
    alice.send("dm", to="nobody-here", text="hi", ref="x")
    error = alice.next_of("error")
    assert error == {**error, "code": "no_such_nick", "ref": "x", "fatal": False}
    assert not alice.closed


def test_dm_text_follows_the_text_rules() -> None:
    hub, _ = make_hub()
    alice = peer(hub, "alice")
    bob = peer(hub, "bob")
    for text in ("", "   ", "\x1b[2J", "x" * 8001):
        alice.send("dm", to="bob", text=text, ref="t")
        error = alice.next_of("error")
        assert error["code"] == "invalid_text" and error["ref"] == "t"
    assert bob.pending() == []


def test_a_nick_gone_is_no_longer_reachable() -> None:
    hub, _ = make_hub()
    alice = peer(hub, "alice")
    bob = peer(hub, "bob")
    bob.send("nick", nick="robert")
    alice.send("dm", to="bob", text="hi")
    assert alice.next_of("error")["code"] == "no_such_nick"
    hub.lost(bob.conn)
    alice.send("dm", to="robert", text="hi")
    assert alice.next_of("error")["code"] == "no_such_nick"
