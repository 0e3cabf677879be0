"""Presence in process: `away` told once to everyone sharing a room, away marks in `members`,
the away state's life (back, nick change, disconnect), its text rules and its cost under flood
control; `whois` and which rooms it names; and `dm.action`."""

from __future__ import annotations

from datetime import datetime

from protocol.presence import MAX_AWAY_LENGTH
from tests.core.harness import make_hub
from tests.core.peer import ISO_UTC, peer
from tests.store import harness as accounts


def away_of(messages: list[dict[str, object]]) -> list[dict[str, object]]:
    return [m for m in messages if m["type"] == "away_changed"]


def test_away_reaches_each_member_once_and_the_sender() -> None:
    hub, _ = make_hub()
    alice = peer(hub, "alice", "one")
    alice.join("two")
    bob = peer(hub, "bob", "one")
    bob.join("two")  # shares both rooms with alice
    carol = peer(hub, "carol", "two")
    dave = peer(hub, "dave", "elsewhere")
    for client in (alice, bob, carol, dave):
        client.pending()
    alice.send("away", message="  lunch, back at 2  ")
    expected = {"type": "away_changed", "nick": "alice", "message": "lunch, back at 2"}
    assert away_of(alice.pending()) == [expected]
    assert away_of(bob.pending()) == [expected]
    assert away_of(carol.pending()) == [expected]
    assert dave.pending() == []
    alice.send("away")
    back = {"type": "away_changed", "nick": "alice"}
    assert away_of(bob.pending()) == [back] and away_of(alice.pending()) == [back]


def test_members_list_who_is_away() -> None:
    hub, _ = make_hub()
    alice = peer(hub, "alice", "room")
    bob = peer(hub, "bob", "room")
    bob.send("who", room="room")
    assert "away" not in bob.expect("members")  # absent while no one is away
    alice.send("away", message="gone")
    bob.send("who", room="room")
    assert bob.expect("members")["away"] == ["alice"]
    carol = peer(hub, "carol")
    carol.send("join", room="room")
    assert carol.expect("members")["away"] == ["alice"]  # a joiner learns it too
    alice.send("nick", nick="alicia")  # the away state follows the nick
    bob.send("who", room="room")
    assert bob.expect("members")["away"] == ["alicia"]
    alice.pending()
    alice.send("away", message="")  # an empty message means back
    assert alice.expect("away_changed") == {"type": "away_changed", "nick": "alicia"}
    bob.send("who", room="room")
    assert "away" not in bob.expect("members")


def test_away_ends_with_the_connection() -> None:
    hub, _ = make_hub()
    alice = peer(hub, "alice", "room")
    bob = peer(hub, "bob", "room")
    alice.send("away", message="gone")
    hub.lost(alice.conn)
    bob.pending()
    again = peer(hub, "alice", "room")
    again.send("whois", nick="alice")
    assert "away" not in again.expect("whois_reply")
    bob.send("who", room="room")
    assert "away" not in bob.expect("members")


def test_away_text_rules() -> None:
    hub, _ = make_hub()
    alice = peer(hub, "alice", "room")
    bob = peer(hub, "bob", "room")
    bob.pending()
    alice.pending()
    for bad in ("x" * (MAX_AWAY_LENGTH + 1), "two\nlines", "\x1b[2J", "\u202eevil"):
        alice.send("away", message=bad)
        assert alice.next_of("error")["code"] == "invalid_text"
    assert bob.pending() == []
    alice.send("away", message="x" * MAX_AWAY_LENGTH)
    assert alice.next_of("away_changed")["message"] == "x" * MAX_AWAY_LENGTH
    alice.send("away", message=7)
    assert alice.next_of("error")["code"] == "invalid_message"


def test_an_unchanged_away_is_answered_to_its_sender_only() -> None:
    hub, _ = make_hub()
    alice = peer(hub, "alice", "room")
    bob = peer(hub, "bob", "room")
    alice.send("away", message="busy")
    bob.pending()
    alice.pending()
    for _ in range(5):
        alice.send("away", message="busy")
    assert len(away_of(alice.pending())) == 5
    assert bob.pending() == []


def test_away_is_charged_to_flood_control() -> None:
    hub, clock = make_hub()
    alice = peer(hub, "alice", "room", address="192.0.2.1")  # not exempt
    bob = peer(hub, "bob", "room")
    bob.pending()
    burst = hub.config.flood.burst
    for n in range(burst * 2):
        alice.send("away", message=f"away {n}")
    # The burst (less the hello and join already taken) goes through, the rest waits.
    seen = len(away_of(bob.pending()))
    assert 0 < seen <= burst and alice.io.paused
    for _ in range(5):
        clock.now += 60
        hub.tick()
        seen += len(away_of(bob.pending()))
    assert seen == burst * 2 and not alice.io.paused


def test_whois_of_a_guest_and_of_an_account() -> None:
    hub, clock = accounts.make_hub()
    alice = accounts.client(hub, "alice", "lobby")
    clock.now += 90
    bob = accounts.client(hub, "bob", "lobby")
    bob.send("whois", nick="ALICE")  # any look-alike finds the holder
    reply = bob.next_of("whois_reply")
    assert reply["nick"] == "alice" and reply["rooms"] == ["lobby"]
    assert "account" not in reply and "local_user" not in reply and "away" not in reply
    assert "idle" not in reply  # said nothing yet
    assert ISO_UTC.match(reply["connected"])
    bob.send("whois", nick="bob")
    mine = bob.next_of("whois_reply")
    connected = {r["nick"]: datetime.fromisoformat(r["connected"]) for r in (reply, mine)}
    assert 89 <= (connected["bob"] - connected["alice"]).total_seconds() <= 91

    alice.send("say", room="lobby", text="hello")
    alice.send("away", message="tea")
    alice.send("register", password="correct horse")
    alice.expect("registered")
    bob.pending()
    bob.send("whois", nick="alice")
    reply = bob.next_of("whois_reply")
    assert reply["account"] == "alice" and reply["away"] == "tea"
    assert 0 <= reply["idle"] <= 2
    hub.shutdown()


def test_whois_idle_counts_from_a_dm_too() -> None:
    hub, _ = make_hub()
    alice = peer(hub, "alice")
    bob = peer(hub, "bob")
    alice.send("dm", to="bob", text="hi")
    bob.pending()
    bob.send("whois", nick="alice")
    assert 0 <= bob.next_of("whois_reply")["idle"] <= 2


def test_whois_names_secret_rooms_only_to_their_members() -> None:
    hub, _ = make_hub()
    alice = peer(hub, "alice", "open")
    for room in ("hidden", "locked"):
        alice.send("join", room=room)
    alice.send("mode", room="hidden", secret=True)
    alice.send("mode", room="locked", invite_only=True)  # listed in room_list: not hidden
    alice.pending()
    outsider = peer(hub, "outsider")
    outsider.send("whois", nick="alice")
    assert outsider.next_of("whois_reply")["rooms"] == ["open", "locked"]
    insider = peer(hub, "insider", "hidden")
    insider.send("whois", nick="alice")
    assert insider.expect("whois_reply")["rooms"] == ["open", "hidden", "locked"]


def test_whois_of_no_one() -> None:
    hub, _ = accounts.make_hub()
    alice = accounts.client(hub, "alice")
    bob = accounts.client(hub, "bob")
    alice.send("register", password="correct horse")
    alice.expect("registered")
    hub.lost(alice.conn)  # an account offline is no one online
    for nick in ("nobody", "alice", "bad nick"):
        bob.send("whois", nick=nick)
        error = bob.next_of("error")
        assert error["code"] == "no_such_nick" and not error["fatal"]
    hub.shutdown()


def test_presence_needs_hello_first() -> None:
    hub, _ = make_hub()
    stranger = peer(hub, None)
    stranger.send("away", message="x")
    assert stranger.next_of("error")["code"] == "not_registered"
    stranger.send("whois", nick="x")
    assert stranger.next_of("error")["code"] == "not_registered"


def test_an_action_dm() -> None:
    hub, _ = make_hub()
    alice = peer(hub, "alice")
    bob = peer(hub, "bob")
    alice.send("dm", to="bob", text="waves", action=True, ref="a")
    assert bob.next_of("dm")["action"] is True
    assert alice.next_of("dm")["action"] is True
    alice.send("dm", to="bob", text="plain", action=False)
    assert "action" not in bob.next_of("dm")  # absent unless true, as before
    alice.send("dm", to="bob", text="plain")
    assert "action" not in bob.next_of("dm")
