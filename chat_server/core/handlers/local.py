"""Local users: connections on the Unix socket, whose login name the kernel vouches for.

On such a connection the nick must be the login name (or, by default, start with it and a
dash: `alice-laptop`); no password is asked. A login name is its owner's: while a local user
is connected, no one from the network may use it (or `NAME-anything`), and a local user
takes their name over from a network client that held it.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from protocol import ErrorCode, ProtocolError
from protocol.names import name_key

if TYPE_CHECKING:
    from chat_server.core.connection import Connection
    from chat_server.core.hub import Hub

log = logging.getLogger("chat_server")


def _stem(nick: str) -> str:
    """The login name a nick stands for: `alice` for `alice` and `alice-laptop`."""
    return nick.split("-", 1)[0]


def check_local_nick(hub: Hub, conn: Connection, nick: str) -> None:
    """Whether `conn` may use `nick`, as far as local users go (hello and nick)."""
    user = conn.local_user
    if user is not None:
        exact = hub.config.local_nicks == "exact"
        allowed = nick == user or (not exact and nick.startswith(user + "-"))
        if not allowed:
            shape = user if exact else f"{user} or {user}-SOMETHING"
            raise ProtocolError(
                ErrorCode.INVALID_NICK, f"on the local socket your nick is your login name: {shape}"
            )
        return
    if not hub.local_users:
        return
    for candidate in {nick, _stem(nick)}:
        if name_key(candidate) in hub.local_users:
            raise ProtocolError(
                ErrorCode.NICK_TAKEN,
                f"{nick} belongs to the local user {_stem(nick)}, who is connected",
            )


def claim_from_network(hub: Hub, conn: Connection, nick: str) -> None:
    """A local user about to take `nick`: a network client holding it gives it up."""
    holder = hub.nicks.taken_by(nick, conn)
    if holder is None or holder.local_user is not None:
        return
    log.info("%r takes %s over from %r (a local user's name)", conn, nick, holder)
    hub.fail(
        holder,
        ProtocolError(ErrorCode.REPLACED, f"{nick} is the name of a local user, who has connected"),
    )


def local_arrived(hub: Hub, conn: Connection) -> None:
    assert conn.local_user is not None
    key = name_key(conn.local_user)
    hub.local_users[key] = hub.local_users.get(key, 0) + 1


def local_left(hub: Hub, conn: Connection) -> None:
    assert conn.local_user is not None
    key = name_key(conn.local_user)
    left = hub.local_users.get(key, 0) - 1
    if left > 0:
        hub.local_users[key] = left
    else:
        hub.local_users.pop(key, None)
