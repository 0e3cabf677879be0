"""Room moderation in process: roles and ranks, kicks, bans by nick, account and network,
mutes, modes, invitations, the moderation log, and admins; the last tests restart a hub on a
SQLite database and find everything that was set."""

from __future__ import annotations

import pathlib
import time
from collections.abc import Iterator
from typing import Any

import pytest

from chat_server.core import Hub
from tests.store.harness import Client, client, make_hub

PASSWORD = "correct horse"


@pytest.fixture
def hub() -> Iterator[Hub]:
    hub, _ = make_hub(admins=("root1",))
    yield hub
    hub.shutdown()


def account(hub: Hub, nick: str, room: str | None = None, address: str = "127.0.0.1") -> Client:
    """A client logged in to account `nick` (registered on first use), in `room` if given."""
    if hub.accounts.find(nick) is None:
        first = client(hub, nick)
        first.send("register", password=PASSWORD)
        assert first.next_of("registered")["account"] == nick
        first.send("quit")
        first.next_of("bye")
    peer = client(hub, None, address=address)
    assert peer.login(nick, PASSWORD)["type"] == "welcome"
    if room is not None:
        peer.join(room)
    peer.pending()
    return peer


def error_of(peer: Client, code: str) -> dict[str, Any]:
    """The next error `peer` got (what came before it is skipped), which must be `code`."""
    error = peer.expect("error")
    assert error["code"] == code, error
    return error


def roles_seen(peer: Client, room: str) -> tuple[dict[str, str], list[str]]:
    """The roles and mutes `who` lists (what `peer` had not read yet is skipped)."""
    peer.pending()
    peer.send("who", room=room)
    members = peer.next_of("members")
    return members["roles"], members["muted"]


# ---------------------------------------------------------------------- roles


def test_a_guest_creator_is_op_while_there_and_others_are_members(hub: Hub) -> None:
    ann = client(hub, "ann", "r")
    bob = client(hub, "bob", "r")
    assert roles_seen(bob, "r") == ({"ann": "op"}, [])
    ann.send("leave", room="r")
    ann.expect("left")
    ann.join("r")
    assert roles_seen(bob, "r") == ({}, [])  # op was hers while she was there


def test_an_account_creator_owns_the_room_and_is_announced_when_it_joins_again(hub: Hub) -> None:
    alice = account(hub, "alice", "team")
    bob = client(hub, "bob", "team")
    assert roles_seen(bob, "team") == ({"alice": "owner"}, [])
    alice.send("leave", room="team")
    bob.expect("left", nick="alice")
    alice.send("join", room="team")
    bob.expect("joined", nick="alice")
    changed = bob.next_of("role_changed")
    assert (changed["nick"], changed["role"], changed["by"]) == ("alice", "owner", "server")


def test_only_the_owner_gives_op_and_only_to_a_logged_in_member(hub: Hub) -> None:
    alice = account(hub, "alice", "team")
    bob = account(hub, "bob", "team")
    guest = client(hub, "guest", "team")
    bob.send("op", room="team", nick="guest")
    error_of(bob, "not_op")
    alice.send("op", room="team", nick="guest")
    error_of(alice, "not_logged_in")
    alice.send("op", room="team", nick="bob")
    changed = guest.expect("role_changed", nick="bob")
    assert (changed["role"], changed["muted"], changed["by"]) == ("op", False, "alice")
    # An op by account keeps it on a new connection.
    bob.send("quit")
    again = account(hub, "bob", "team")
    assert roles_seen(again, "team")[0] == {"alice": "owner", "bob": "op"}
    again.send("deop", room="team", nick="alice")
    error_of(again, "not_op")
    again.send("deop", room="team", nick="bob")  # an op may step down
    assert guest.expect("role_changed", nick="bob", by="bob")["role"] == "member"


def test_ops_cannot_act_on_owners_or_each_other(hub: Hub) -> None:
    alice = account(hub, "alice", "team")
    bob = account(hub, "bob", "team")
    account(hub, "carol", "team")
    alice.send("op", room="team", nick="bob")
    alice.send("op", room="team", nick="carol")
    bob.pending()
    for request in ("kick", "mute"):
        bob.send(request, room="team", nick="alice")
        error_of(bob, "not_op")
        bob.send(request, room="team", nick="carol")
        error_of(bob, "not_op")
    alice.send("kick", room="team", nick="alice")
    error_of(alice, "not_op")  # not even the owner herself


def test_a_plain_member_can_moderate_nothing(hub: Hub) -> None:
    client(hub, "ann", "r")
    bob = client(hub, "bob", "r")
    for request, fields in [
        ("kick", {"nick": "ann"}),
        ("ban", {"mask": "nick:ann"}),
        ("unban", {"mask": "nick:ann"}),
        ("bans", {}),
        ("mute", {"nick": "ann"}),
        ("unmute", {"nick": "ann"}),
        ("mode", {"moderated": True}),
        ("modlog", {}),
        ("op", {"nick": "bob"}),
    ]:
        bob.send(request, room="r", **fields)
        error_of(bob, "not_op")
    for request, fields in [
        ("kill", {"nick": "ann"}),
        ("server_ban", {"mask": "nick:ann"}),
        ("server_unban", {"mask": "nick:ann"}),
        ("server_bans", {}),
        ("wall", {"text": "hi"}),
    ]:
        bob.send(request, **fields)
        error_of(bob, "not_admin")


# ---------------------------------------------------------------------- kick


def test_a_kick_reaches_the_room_and_the_kicked_say_is_refused(hub: Hub) -> None:
    ann = client(hub, "ann", "r")
    bob = client(hub, "bob", "r")
    ann.pending()
    ann.send("kick", room="r", nick="bob", reason="[b]out[/b]")
    for peer in (ann, bob):
        kicked = peer.expect("kicked")
        assert (kicked["nick"], kicked["by"], kicked["reason"]) == ("bob", "ann", "[b]out[/b]")
    bob.send("say", room="r", text="still here?", ref="x")
    assert error_of(bob, "not_in_room")["ref"] == "x"
    assert ann.pending() == []
    bob.join("r")  # a kick is not a ban
    assert ann.next_of("joined")["nick"] == "bob"


def test_a_say_sent_with_the_kick_is_never_delivered_after_it(hub: Hub) -> None:
    ann = client(hub, "ann", "r")
    bob = client(hub, "bob", "r")
    watcher = client(hub, "watcher", "r")
    ann.send("kick", room="r", nick="bob")
    bob.send("say", room="r", text="in flight")
    kinds = [m["type"] for m in watcher.pending()]
    assert kinds == ["kicked"]


# ---------------------------------------------------------------------- bans


def test_a_nick_ban_removes_the_member_and_refuses_look_alikes(hub: Hub) -> None:
    ann = client(hub, "ann", "r")
    bob = client(hub, "bob", "r")
    ann.send("ban", room="r", mask="nick:bob", reason="spam")
    kicked = bob.next_of("kicked")
    assert (kicked["by"], kicked["reason"]) == ("ann", "spam")
    listed = ann.expect("ban_list")
    assert [b["mask"] for b in listed["bans"]] == ["nick:bob"]
    assert listed["bans"][0]["reason"] == "spam" and "expires" not in listed["bans"][0]
    bob.send("join", room="r")
    assert "spam" in error_of(bob, "banned")["message"]
    bob.send("quit")
    lookalike = client(hub, "b\u043eb")  # a Cyrillic o
    lookalike.send("join", room="r")
    error_of(lookalike, "banned")
    ann.send("unban", room="r", mask="nick:bob")
    assert ann.expect("ban_list")["bans"] == []
    lookalike.join("r")


def test_an_account_ban_follows_the_account_to_a_new_nick(hub: Hub) -> None:
    ann = client(hub, "ann", "r")
    bob = account(hub, "bob")
    ann.send("ban", room="r", mask="account:bob")
    ann.expect("ban_list")
    bob.send("nick", nick="robert")
    bob.next_of("nick_changed")
    bob.send("join", room="r")
    error_of(bob, "banned")
    other = client(hub, "bobby")  # a guest with a similar nick is someone else
    other.join("r")


def test_a_network_ban_refuses_every_address_in_it(hub: Hub) -> None:
    ann = client(hub, "ann", "r")
    ann.send("ban", room="r", mask="ip:127.0.0.0/24")
    ann.expect("ban_list")
    inside = client(hub, "inside", address="127.0.0.2")
    inside.send("join", room="r")
    error_of(inside, "banned")
    outside = client(hub, "outside", address="192.0.2.7")
    outside.join("r")
    ann.send("ban", room="r", mask="ip:2001:db8::/32")
    ann.expect("ban_list")
    v6 = client(hub, "six", address="2001:db8::5")
    v6.send("join", room="r")
    error_of(v6, "banned")


@pytest.mark.parametrize(
    "mask", ["bob", "host:bob", "nick:", "ip:300.1.1.1", "ip:10.0.0.0/40", "nick:#x", ""]
)
def test_a_bad_mask_is_invalid_mask(hub: Hub, mask: str) -> None:
    ann = client(hub, "ann", "r")
    ann.send("ban", room="r", mask=mask)
    error_of(ann, "invalid_mask")


def test_a_ban_with_a_duration_lifts_itself(hub: Hub, monkeypatch: pytest.MonkeyPatch) -> None:
    ann = client(hub, "ann", "r")
    bob = client(hub, "bob")
    ann.send("ban", room="r", mask="nick:bob", duration=60)
    assert ann.expect("ban_list")["bans"][0]["expires"].endswith("Z")
    bob.send("join", room="r")
    assert "until" in error_of(bob, "banned")["message"]
    later = time.time() + 61
    monkeypatch.setattr(time, "time", lambda: later)
    hub.tick()
    ann.send("bans", room="r")
    assert ann.next_of("ban_list")["bans"] == []
    bob.join("r")


def test_a_ban_never_applies_to_an_owner(hub: Hub) -> None:
    alice = account(hub, "alice", "team")
    bob = account(hub, "bob", "team")
    alice.send("op", room="team", nick="bob")
    bob.pending()
    bob.send("ban", room="team", mask="account:alice")
    bob.expect("ban_list")
    assert alice.conn in hub.rooms.find("team").members  # type: ignore[union-attr]
    alice.send("leave", room="team")
    alice.expect("left")
    alice.join("team")


# ---------------------------------------------------------------------- mutes


def test_a_muted_member_cannot_speak_even_after_rejoining(hub: Hub) -> None:
    ann = client(hub, "ann", "r")
    bob = client(hub, "bob", "r")
    ann.send("mute", room="r", nick="bob")
    changed = bob.next_of("role_changed")
    assert (changed["nick"], changed["muted"], changed["role"]) == ("bob", True, "member")
    assert roles_seen(ann, "r")[1] == ["bob"]
    bob.send("say", room="r", text="hello?", ref="1")
    assert error_of(bob, "muted")["ref"] == "1"
    bob.send("leave", room="r")
    bob.expect("left")
    bob.send("join", room="r")
    bob.expect("joined")
    bob.pending()
    bob.send("say", room="r", text="and now?")
    error_of(bob, "muted")
    bob.send("nick", nick="robert")  # a guest's mute is by nick: renaming does not lift it
    bob.send("say", room="r", text="new name, new voice?")
    error_of(bob, "muted")
    ann.send("unmute", room="r", nick="robert")
    assert bob.expect("role_changed")["muted"] is False
    bob.send("say", room="r", text="free")
    assert ann.expect("message")["text"] == "free"


def test_a_timed_mute_lifts_itself_and_the_room_is_told(
    hub: Hub, monkeypatch: pytest.MonkeyPatch
) -> None:
    ann = client(hub, "ann", "r")
    bob = client(hub, "bob", "r")
    ann.send("mute", room="r", nick="bob", duration=30)
    ann.expect("role_changed")
    later = time.time() + 31
    monkeypatch.setattr(time, "time", lambda: later)
    hub.tick()
    changed = ann.expect("role_changed", nick="bob")
    assert (changed["muted"], changed["by"]) == (False, "server")
    bob.pending()
    bob.send("say", room="r", text="back")
    assert bob.expect("message")["text"] == "back"


# ---------------------------------------------------------------------- modes


def test_mode_changes_are_told_with_only_what_changed_and_never_the_key(hub: Hub) -> None:
    ann = client(hub, "ann", "r")
    bob = client(hub, "bob", "r")
    ann.send("mode", room="r", moderated=True, key="s3cret")
    changed = bob.next_of("mode_changed")
    assert {k: v for k, v in changed.items() if k not in ("ts",)} == {
        "type": "mode_changed",
        "room": "r",
        "by": "ann",
        "moderated": True,
        "key": True,
    }
    bob.send("mode", room="r")
    assert bob.next_of("modes") == {
        "type": "modes",
        "room": "r",
        "key": True,
        "invite_only": False,
        "moderated": True,
        "topic_lock": False,
        "secret": False,
        "limit": 0,
    }
    bob.send("say", room="r", text="hm")
    assert "moderated" in error_of(bob, "muted")["message"]
    ann.send("say", room="r", text="ops speak")
    assert bob.expect("message")["text"] == "ops speak"


def test_a_key_is_needed_to_join_and_wrong_keys_are_throttled(hub: Hub) -> None:
    ann = client(hub, "ann", "r")
    ann.send("mode", room="r", key="s3cret")
    ann.expect("mode_changed")
    eve = client(hub, "eve", address="127.0.0.2")
    eve.send("join", room="r")
    error_of(eve, "bad_key")
    eve.send("join", room="r", key="guess")
    error_of(eve, "bad_key")
    eve.send("join", room="r", key="s3cret")
    eve.expect("joined")
    kinds = [m["type"] for m in eve.pending()]
    assert kinds == ["history", "members", "modes"]
    for _ in range(4):
        eve.send("join", room="other-attempt-" + "x")  # noise: creates a room, no key
    mallory = client(hub, "mallory", address="127.0.0.3")
    for attempt in range(5):
        mallory.send("join", room="r", key=f"no{attempt}")
        error_of(mallory, "bad_key")
    mallory.send("join", room="r", key="s3cret")
    assert error_of(mallory, "rate_limited")["retry_after"] >= 1
    ann.send("mode", room="r", key="")
    assert ann.expect("mode_changed")["key"] is False
    client(hub, "free", "r")


def test_invite_only_limit_and_invitations(hub: Hub) -> None:
    ann = client(hub, "ann", "r")
    bob = client(hub, "bob", "r")
    ann.send("mode", room="r", invite_only=True, limit=2)
    ann.expect("mode_changed")
    carol = client(hub, "carol")
    carol.send("join", room="r")
    error_of(carol, "invite_only")
    bob.send("invite", room="r", nick="carol")
    error_of(bob, "not_op")  # members invite only where the room is not invite-only
    ann.send("invite", room="r", nick="carol")
    invited = carol.expect("invited")
    assert invited == {"type": "invited", "room": "r", "by": "ann"}
    assert ann.expect("invited")["nick"] == "carol"
    carol.join("r")  # past invite_only and the cap of 2
    carol.send("leave", room="r")
    carol.expect("left")
    carol.send("join", room="r")
    error_of(carol, "invite_only")  # an invitation is used once
    ann.send("mode", room="r", invite_only=False)
    ann.expect("mode_changed")
    dave = client(hub, "dave")
    dave.send("join", room="r")
    error_of(dave, "room_full")  # ann and bob: the cap of 2
    ann.send("mode", room="r", limit=3)
    ann.expect("mode_changed")
    dave.join("r")
    erin = client(hub, "erin")
    erin.send("join", room="r")
    error_of(erin, "room_full")


def test_topic_lock_and_secret(hub: Hub) -> None:
    ann = client(hub, "ann", "hideout")
    bob = client(hub, "bob", "hideout")
    ann.send("mode", room="hideout", topic_lock=True, secret=True)
    ann.expect("mode_changed")
    bob.send("topic", room="hideout", topic="mine now")
    error_of(bob, "topic_locked")
    ann.send("topic", room="hideout", topic="ops only")
    assert bob.expect("topic")["topic"] == "ops only"
    outsider = client(hub, "outsider")
    outsider.send("rooms")
    assert outsider.next_of("room_list")["rooms"] == []
    outsider.send("who", room="hideout")
    error_of(outsider, "no_such_room")
    bob.pending()
    bob.send("rooms")
    assert [r["name"] for r in bob.next_of("room_list")["rooms"]] == ["hideout"]


# ---------------------------------------------------------------------- log and admins


def test_the_moderation_log_lists_actions_newest_first(hub: Hub) -> None:
    ann = client(hub, "ann", "r")
    client(hub, "bob", "r")
    ann.send("mute", room="r", nick="bob")
    ann.send("kick", room="r", nick="bob", reason="enough")
    ann.send("modlog", room="r", limit=10)
    entries = ann.expect("mod_log")["entries"]
    assert [(e["action"], e["target"], e.get("reason")) for e in entries] == [
        ("kick", "bob", "enough"),
        ("mute", "bob", None),
    ]
    assert all(e["by"] == "ann" for e in entries)


def test_an_admin_is_owner_everywhere_and_governs_the_server(hub: Hub) -> None:
    ann = client(hub, "ann", "r")
    bob = client(hub, "bob", "r")
    root = account(hub, "root1", "r")
    assert roles_seen(bob, "r")[0] == {"ann": "op", "root1": "owner"}
    root.send("kick", room="r", nick="ann")
    ann.expect("kicked")
    root.send("wall", text="maintenance at noon")
    for peer in (bob, root):
        notice = peer.expect("notice")
        assert (notice["text"], notice["from"]) == ("maintenance at noon", "root1")
    root.send("kill", nick="bob", reason="bye")
    killed = bob.expect("error")
    assert killed["code"] == "killed" and killed["fatal"] and "bye" in killed["message"]
    assert bob.closed
    assert "bob" in root.expect("notice")["text"]


def test_a_server_ban_drops_and_refuses(hub: Hub) -> None:
    root = account(hub, "root1")
    eve = client(hub, "eve", "r", address="127.0.0.2")
    root.send("server_ban", mask="ip:127.0.0.2/32", reason="abuse")
    error = eve.expect("error")
    assert (error["code"], error["fatal"]) == ("banned", True)
    listed = root.expect("ban_list")
    assert "room" not in listed and listed["bans"][0]["mask"] == "ip:127.0.0.2"
    again = client(hub, None, address="127.0.0.2")
    again.send("hello", nick="someone", protocol=1)
    assert error_of(again, "banned")["fatal"] is True
    root.send("server_unban", mask="ip:127.0.0.2")
    assert root.expect("ban_list")["bans"] == []
    client(hub, "welcome-back", address="127.0.0.2")


def test_unregistering_gives_up_what_the_account_owned(hub: Hub) -> None:
    alice = account(hub, "alice", "team")
    alice.send("unregister", password=PASSWORD)
    alice.expect("unregistered")
    bob = client(hub, "bob", "team")
    assert roles_seen(bob, "team")[0] == {}


# ---------------------------------------------------------------------- across a restart


def test_everything_set_survives_a_restart(tmp_path: pathlib.Path) -> None:
    db = tmp_path / "chat.db"
    hub, _ = make_hub(db, admins=("root1",))
    try:
        alice = account(hub, "alice", "team")
        bob = account(hub, "bob", "team")
        alice.send("op", room="team", nick="bob")
        alice.send("mode", room="team", key="door", topic_lock=True, secret=True)
        alice.expect("mode_changed")
        alice.send("ban", room="team", mask="nick:eve", reason="troll", duration=3600)
        alice.send("mute", room="team", nick="bob")
        alice.expect("ban_list")
        root = account(hub, "root1")
        root.send("server_ban", mask="ip:127.0.0.9")
        root.expect("ban_list")
        bob.pending()
    finally:
        hub.shutdown()
    hub, _ = make_hub(db, admins=("root1",))
    try:
        alice = account(hub, "alice")
        alice.send("join", room="team")  # the owner passes her own key
        alice.expect("joined")
        alice.pending()
        bob = account(hub, "bob")
        bob.send("join", room="team", key="door")  # checked against the stored hash
        bob.expect("joined")
        bob.pending()
        assert roles_seen(alice, "team") == ({"alice": "owner", "bob": "op"}, ["bob"])
        alice.send("bans", room="team")
        (entry,) = alice.next_of("ban_list")["bans"]
        assert (entry["mask"], entry["reason"], entry["by"]) == ("nick:eve", "troll", "alice")
        alice.send("mode", room="team")
        modes = alice.next_of("modes")
        assert (modes["key"], modes["topic_lock"], modes["secret"]) == (True, True, True)
        alice.send("modlog", room="team")
        actions = [e["action"] for e in alice.expect("mod_log")["entries"]]
        assert actions == ["mute", "ban", "mode", "op"]
        banned = client(hub, None, address="127.0.0.9")
        banned.send("hello", nick="x", protocol=1)
        error_of(banned, "banned")
        wrong = client(hub, "wrong", address="127.0.0.2")
        wrong.send("join", room="team", key="window")
        error_of(wrong, "bad_key")
    finally:
        hub.shutdown()
