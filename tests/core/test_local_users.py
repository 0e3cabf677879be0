"""Local users (the Unix socket) in process: the nick is the login name the kernel vouched
for, no one from the network can take it while they are connected, and they take it back
from a network client that held it."""

from __future__ import annotations

from typing import Any

from chat_server.core import Hub
from tests.core.harness import FakeIO, connect, make_hub, send


def local(hub: Hub, user: str, nick: str | None = None) -> tuple[Any, FakeIO]:
    """A Unix-socket connection of `user`, registered as `nick` (default: the login name)."""
    io = FakeIO()
    conn = hub.open(io, "unix", address=None, local_user=user)
    io.conn = conn
    send(hub, conn, {"type": "hello", "nick": nick or user, "protocol": 1})
    return conn, io


def last(io: FakeIO) -> dict[str, Any]:
    return io.drain()[-1]


def test_a_local_user_is_welcomed_as_their_login_name() -> None:
    hub, _ = make_hub()
    _, io = local(hub, "alice")
    welcome = last(io)
    assert welcome["type"] == "welcome" and welcome["local_user"] == "alice"
    _, laptop = local(hub, "alice", "alice-laptop")
    assert last(laptop)["nick"] == "alice-laptop"


def test_a_local_user_cannot_use_another_name() -> None:
    hub, _ = make_hub()
    conn, io = local(hub, "alice", "bob")
    error = last(io)
    assert error["code"] == "invalid_nick" and "alice" in error["message"]
    assert not conn.closed  # not fatal: try again
    send(hub, conn, {"type": "hello", "nick": "alice", "protocol": 1})
    assert last(io)["type"] == "welcome"
    send(hub, conn, {"type": "nick", "nick": "mallory"})
    assert last(io)["code"] == "invalid_nick"


def test_exact_mode_refuses_suffixes() -> None:
    hub, _ = make_hub(local_nicks="exact")
    _, io = local(hub, "alice", "alice-laptop")
    assert last(io)["code"] == "invalid_nick"


def test_no_one_from_the_network_takes_a_connected_local_users_name() -> None:
    hub, _ = make_hub()
    local(hub, "alice")
    for nick in ("alice", "ALICE", "alice-phone"):
        conn, io = connect(hub)
        send(hub, conn, {"type": "hello", "nick": nick, "protocol": 1})
        error = last(io)
        assert error["code"] == "nick_taken" and "local user" in error["message"], nick
    network, io = connect(hub, "bob")
    send(hub, network, {"type": "nick", "nick": "alice-2"})
    assert last(io)["code"] == "nick_taken"


def test_a_local_user_takes_their_name_back_from_the_network() -> None:
    hub, _ = make_hub()
    squatter, squatter_io = connect(hub, "alice")
    _, io = local(hub, "alice")
    assert last(io)["type"] == "welcome"
    error = [m for m in squatter_io.drain() if m["type"] == "error"][-1]
    assert error["code"] == "replaced" and squatter.closed


def test_the_name_is_free_again_once_the_local_user_leaves() -> None:
    hub, _ = make_hub()
    conn, _ = local(hub, "alice")
    send(hub, conn, {"type": "quit"})
    _, io = connect(hub, "alice")
    assert io.received[-1]["type"] == "welcome"
