"""Accounts in process: register, log in, wrong passwords, who owns a nick, takeover, passwd,
unregister, and DMs stored for an account that is offline.

Hashing runs on the hasher's threads even here (at argon2's cheapest); `tests.store.harness`
settles the core until the answers are back. The last tests run the same rules over a real
SQLite database, across a restart of the hub.
"""

from __future__ import annotations

import pathlib
from collections.abc import Iterator

import pytest

from chat_server.core import Hub
from tests.store.harness import Client, client, make_hub

PASSWORD = "correct horse"


@pytest.fixture
def hub() -> Iterator[Hub]:
    hub, _ = make_hub()
    yield hub
    hub.shutdown()


def registered(hub: Hub, nick: str, password: str = PASSWORD, room: str | None = None) -> Client:
    """A client that registered `nick` as an account and stays logged in to it."""
    owner = client(hub, nick, room)
    owner.send("register", password=password)
    assert owner.next_of("registered") == {"type": "registered", "account": nick}
    return owner


def error_of(peer: Client, code: str) -> dict[str, object]:
    error = peer.next_of("error")
    assert error["code"] == code, error
    return error


# ---------------------------------------------------------------------- register and log in


def test_register_then_log_in_from_a_new_connection(hub: Hub) -> None:
    alice = registered(hub, "alice")
    alice.send("quit")
    alice.next_of("bye")
    again = client(hub, None)
    welcome = again.login("alice", PASSWORD)
    assert welcome["type"] == "welcome"
    assert welcome["nick"] == "alice" and welcome["account"] == "alice"
    assert again.conn.account == "alice"


def test_a_guest_welcome_names_no_account(hub: Hub) -> None:
    guest = client(hub, None)
    guest.hello("guest")
    assert "account" not in guest.io.received[-1]


def test_a_login_takes_the_spelling_of_the_account(hub: Hub) -> None:
    registered(hub, "Alice").send("quit")
    again = client(hub, None)
    welcome = again.login("\uff41lice", PASSWORD)  # a fullwidth look-alike of the name
    assert welcome["type"] == "welcome" and welcome["nick"] == welcome["account"] == "Alice"


def test_a_registered_nick_without_a_login_is_refused_and_the_connection_may_try_again(
    hub: Hub,
) -> None:
    registered(hub, "alice").send("quit")
    guest = client(hub, None)
    guest.send("hello", nick="alice", protocol=1)
    error = error_of(guest, "nick_registered")
    assert error["fatal"] is False and "alice" in str(error["message"])
    guest.send("hello", nick="ALICE", protocol=1)  # a look-alike is owned too
    error_of(guest, "nick_registered")
    assert not guest.closed
    assert guest.hello("bob")["nick"] == "bob"


def test_a_wrong_password_is_bad_login_and_not_fatal(hub: Hub) -> None:
    registered(hub, "alice").send("quit")
    guest = client(hub, None)
    answer = guest.login("alice", "not the password")
    assert answer["code"] == "bad_login" and answer["fatal"] is False
    assert not guest.closed
    assert guest.login("alice", PASSWORD)["type"] == "welcome"


def test_a_login_to_no_account_is_bad_login(hub: Hub) -> None:
    guest = client(hub, None)
    answer = guest.login("nobody", PASSWORD)
    assert answer["code"] == "bad_login" and answer["fatal"] is False
    assert guest.hello("nobody")["nick"] == "nobody"


def test_failed_logins_to_one_account_are_throttled() -> None:
    hub, _ = make_hub(account_bad_logins=3)
    try:
        registered(hub, "alice").send("quit")
        for _ in range(3):
            assert client(hub, None).login("alice", "wrong password")["code"] == "bad_login"
        answer = client(hub, None).login("alice", PASSWORD)
        assert answer["code"] == "rate_limited" and answer["retry_after"] > 0
    finally:
        hub.shutdown()


def test_register_needs_a_long_enough_password(hub: Hub) -> None:
    alice = client(hub, "alice")
    alice.send("register", password="short")
    error_of(alice, "invalid_message")
    alice.send("register", password="x" * 257)
    error_of(alice, "invalid_message")
    assert hub.accounts.find("alice") is None


def test_an_owned_nick_cannot_be_registered_again(hub: Hub) -> None:
    alice = registered(hub, "alice")
    alice.send("register", password="another password")
    error_of(alice, "nick_registered")
    # Nor can a look-alike of it be registered, nor even used.
    registered(hub, "bob").send("quit")
    guest = client(hub, None)
    guest.send("hello", nick="b\u043eb", protocol=1)  # a Cyrillic o
    error_of(guest, "nick_registered")


def test_requests_after_a_register_wait_for_its_answer(hub: Hub) -> None:
    alice = client(hub, "alice", "room")
    alice.send("register", password=PASSWORD)
    alice.send("say", room="room", text="after", ref="s")
    alice.send("ping", token="t")
    assert [m["type"] for m in alice.pending()] == ["registered", "message", "pong"]


# ---------------------------------------------------------------------- ownership


def test_only_the_owner_may_take_a_registered_nick(hub: Hub) -> None:
    alice = registered(hub, "alice")
    alice.send("nick", nick="alice2")
    assert alice.next_of("nick_changed") == {
        "type": "nick_changed",
        "old": "alice",
        "new": "alice2",
    }
    bob = client(hub, "bob")
    bob.send("nick", nick="alice")  # free now, but owned
    error = error_of(bob, "nick_registered")
    assert error["fatal"] is False and bob.conn.nick == "bob"
    alice.send("nick", nick="alice")  # the owner takes it back
    assert alice.next_of("nick_changed")["new"] == "alice"


def test_a_login_takes_the_nick_over_and_the_old_connection_is_replaced(hub: Hub) -> None:
    old = registered(hub, "alice", room="room")
    watcher = client(hub, "watcher", "room")
    old.pending()
    new = client(hub, None)
    welcome = new.login("alice", PASSWORD)
    assert welcome["type"] == "welcome" and welcome["account"] == "alice"
    error = old.next_of("error")
    assert error["code"] == "replaced" and error["fatal"] is True
    assert old.closed
    left = watcher.expect("left", nick="alice")
    assert left["room"] == "room" and left["reason"] == "replaced"
    assert hub.nicks.holder("alice") is new.conn
    new.join("room")
    assert watcher.expect("joined")["nick"] == "alice"


def test_a_guest_cannot_take_a_logged_in_nick(hub: Hub) -> None:
    registered(hub, "alice")
    guest = client(hub, None)
    guest.send("hello", nick="alice", protocol=1)
    error_of(guest, "nick_registered")


# ---------------------------------------------------------------------- passwd, unregister


def test_passwd_changes_the_password(hub: Hub) -> None:
    alice = registered(hub, "alice")
    alice.send("passwd", old="wrong password", new="a new password")
    error = error_of(alice, "bad_password")
    assert error["fatal"] is False and not alice.closed
    alice.send("passwd", old=PASSWORD, new="a new password")
    assert alice.next_of("passwd_changed") == {"type": "passwd_changed"}
    alice.send("quit")
    assert client(hub, None).login("alice", PASSWORD)["code"] == "bad_login"
    assert client(hub, None).login("alice", "a new password")["type"] == "welcome"


def test_passwd_and_unregister_need_a_login(hub: Hub) -> None:
    guest = client(hub, "guest")
    guest.send("passwd", old=PASSWORD, new="a new password")
    error_of(guest, "not_logged_in")
    guest.send("unregister", password=PASSWORD)
    error_of(guest, "not_logged_in")
    assert not guest.closed


def test_passwd_new_password_follows_the_rules(hub: Hub) -> None:
    alice = registered(hub, "alice")
    alice.send("passwd", old=PASSWORD, new="short")
    error_of(alice, "invalid_message")


def test_unregister_frees_the_nick(hub: Hub) -> None:
    alice = registered(hub, "alice")
    alice.send("unregister", password="wrong password")
    error = error_of(alice, "bad_password")
    assert error["fatal"] is False
    alice.send("unregister", password=PASSWORD)
    assert alice.next_of("unregistered") == {"type": "unregistered", "account": "alice"}
    assert alice.conn.account is None and not alice.closed
    alice.send("passwd", old=PASSWORD, new="a new password")
    error_of(alice, "not_logged_in")
    alice.send("quit")
    assert client(hub, None).login("alice", PASSWORD)["code"] == "bad_login"
    assert client(hub, None).hello("alice")["nick"] == "alice"


def test_unregister_logs_out_every_connection_of_the_account(hub: Hub) -> None:
    alice = registered(hub, "alice")
    alice.send("nick", nick="elsewhere")
    alice.pending()
    second = client(hub, None)
    assert second.login("alice", PASSWORD)["type"] == "welcome"
    second.send("unregister", password=PASSWORD)
    second.next_of("unregistered")
    assert alice.conn.account is None and second.conn.account is None


# ---------------------------------------------------------------------- offline DMs


def test_dms_to_an_offline_account_wait_for_its_next_login(hub: Hub) -> None:
    registered(hub, "alice").send("quit")
    bob = client(hub, "bob")
    bob.send("dm", to="alice", text="first", ref="d1")
    bob.send("dm", to="ALICE", text="second")
    echoes = bob.pending()
    assert [(e["type"], e.get("ref"), e["offline"]) for e in echoes] == [
        ("dm", "d1", True),
        ("dm", None, True),
    ]
    assert all(e["to"] == "alice" and e["from"] == "bob" for e in echoes)
    alice = client(hub, None)
    assert alice.login("alice", PASSWORD)["type"] == "welcome"
    stored = alice.pending()
    assert [(m["type"], m["text"], m["offline"]) for m in stored] == [
        ("dm", "first", True),
        ("dm", "second", True),
    ]
    assert [m["id"] for m in stored] == [e["id"] for e in echoes]
    assert stored[0]["ts"] == echoes[0]["ts"] and stored[0]["from"] == "bob"
    alice.send("quit")
    again = client(hub, None)
    assert again.login("alice", PASSWORD)["type"] == "welcome"
    assert again.pending() == []  # delivered once


def test_an_online_account_gets_dms_live(hub: Hub) -> None:
    alice = registered(hub, "alice")
    bob = client(hub, "bob")
    bob.send("dm", to="alice", text="live")
    assert "offline" not in bob.next_of("dm")
    assert "offline" not in alice.next_of("dm")


def test_dms_to_an_offline_guest_are_refused(hub: Hub) -> None:
    bob = client(hub, "bob")
    bob.send("dm", to="carol", text="hi", ref="x")
    assert error_of(bob, "no_such_nick")["ref"] == "x"


def test_only_the_newest_offline_dms_are_kept() -> None:
    hub, _ = make_hub(max_offline_dms=3)
    try:
        registered(hub, "alice").send("quit")
        bob = client(hub, "bob")
        for i in range(5):
            bob.send("dm", to="alice", text=f"dm {i}")
        assert len(bob.pending()) == 5
        alice = client(hub, None)
        alice.login("alice", PASSWORD)
        assert [m["text"] for m in alice.pending()] == ["dm 2", "dm 3", "dm 4"]
    finally:
        hub.shutdown()


def test_unregister_discards_the_stored_dms(hub: Hub) -> None:
    registered(hub, "alice").send("quit")
    bob = client(hub, "bob")
    bob.send("dm", to="alice", text="never read")
    bob.pending()
    alice = client(hub, None)
    alice.login("alice", PASSWORD)
    alice.pending()
    alice.send("unregister", password=PASSWORD)
    alice.next_of("unregistered")
    alice.send("quit")
    bob.send("dm", to="alice", text="to no one", ref="gone")
    assert error_of(bob, "no_such_nick")["ref"] == "gone"


# ---------------------------------------------------------------------- over SQLite


def test_accounts_and_offline_dms_outlive_the_hub(tmp_path: pathlib.Path) -> None:
    db = tmp_path / "accounts.db"
    hub, _ = make_hub(db)
    try:
        alice = registered(hub, "alice")
        alice.send("passwd", old=PASSWORD, new="a new password")
        alice.next_of("passwd_changed")
        alice.send("quit")
        registered(hub, "gone").send("unregister", password=PASSWORD)
        bob = client(hub, "bob")
        bob.send("dm", to="alice", text="while you were out", ref="d")
        echo = bob.next_of("dm")
        assert echo["offline"] is True
    finally:
        hub.shutdown()
    hub, _ = make_hub(db)
    try:
        assert sorted(hub.accounts.by_key) == ["alice"]
        guest = client(hub, None)
        guest.send("hello", nick="alice", protocol=1)
        error_of(guest, "nick_registered")
        assert client(hub, None).login("alice", PASSWORD)["code"] == "bad_login"
        alice = client(hub, None)
        assert alice.login("alice", "a new password")["account"] == "alice"
        stored = alice.pending()
        assert [(m["id"], m["text"], m["offline"]) for m in stored] == [
            (echo["id"], "while you were out", True)
        ]
        assert client(hub, None).hello("gone")["nick"] == "gone"
        alice.send("quit")
    finally:
        hub.shutdown()
    hub, _ = make_hub(db)
    try:
        alice = client(hub, None)
        assert alice.login("alice", "a new password")["type"] == "welcome"
        assert alice.pending() == []  # delivered DMs are forgotten by the database too
    finally:
        hub.shutdown()
