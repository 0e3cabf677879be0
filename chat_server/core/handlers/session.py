"""Session requests: `hello`, `nick`, `ping` and `quit`."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from chat_server.core.handlers.accounts import check_password, logged_in
from chat_server.core.handlers.admin import check_server_bans
from chat_server.core.handlers.local import check_local_nick, claim_from_network, local_arrived
from chat_server.core.phases import Phase
from protocol import (
    PROTOCOL_VERSION,
    Bye,
    ChangeNick,
    ErrorCode,
    Hello,
    NickChanged,
    Ping,
    Pong,
    ProtocolError,
    Quit,
    Welcome,
    encode,
)
from protocol.names import check_text, name_key, normalize_nick

if TYPE_CHECKING:
    from chat_server.core.connection import Connection
    from chat_server.core.hub import Hub
    from chat_server.core.interfaces import AccountRecord

log = logging.getLogger("chat_server")

#: Longest `quit.reason`, in characters (the model's own limit for short strings).
MAX_REASON_LENGTH = 256


def hello(hub: Hub, conn: Connection, msg: Hello) -> None:
    # Checked in this order, so the first broken rule is the one reported: protocol version,
    # login throttle, server password, then the nick (its rules, whether an account owns it,
    # then whether it is free).
    if msg.protocol != PROTOCOL_VERSION:
        raise ProtocolError(
            ErrorCode.UNSUPPORTED_PROTOCOL,
            f"protocol {msg.protocol} is not supported; this server speaks {PROTOCOL_VERSION}",
        )
    address = conn.address
    now = hub.clock.monotonic()
    if hub.config.password is not None and address is not None:
        # Beyond the limit the password is not even compared (never exempt: see guards).
        hub.guard.check_passwords(address, now, fatal=True)
    try:
        hub.auth.check(conn, msg)
    except ProtocolError as exc:
        if exc.code is ErrorCode.BAD_PASSWORD and address is not None:
            hub.guard.password_failed(address, now)
        raise
    try:
        nick = normalize_nick(msg.nick)
    except ValueError as exc:
        raise ProtocolError(ErrorCode.INVALID_NICK, str(exc)) from None
    check_local_nick(hub, conn, nick)
    account = hub.accounts.find(nick)
    if account is None:
        if msg.auth is not None:
            raise ProtocolError(ErrorCode.BAD_LOGIN, f"there is no account called {nick}")
        if conn.local_user is not None:
            claim_from_network(hub, conn, nick)
        nick = valid_free_nick(hub, conn, nick)
        check_server_bans(hub, conn, nick, None)
        _welcome(hub, conn, nick, None)
        return
    if msg.auth is None:
        raise ProtocolError(
            ErrorCode.NICK_REGISTERED,
            f"{account.name} is a registered nick: log in to it (hello.auth) or pick another",
        )
    check_password(
        hub, conn, account, msg.auth.password, lambda: _take_over(hub, conn, account.key)
    )


def _take_over(hub: Hub, conn: Connection, key: str) -> None:
    """A login succeeded: the account's nick is this connection's, whoever held it."""
    account = hub.accounts.by_key.get(key)
    if account is None:  # unregistered while the password was checked
        raise ProtocolError(ErrorCode.BAD_LOGIN, "that account no longer exists")
    check_server_bans(hub, conn, account.name, account.key)
    ghost = hub.nicks.taken_by(account.name, conn)
    if ghost is not None:
        log.info("%r replaces %r as %s", conn, ghost, account.name)
        hub.fail(
            ghost,
            ProtocolError(ErrorCode.REPLACED, f"{account.name} logged in from another connection"),
        )
    _welcome(hub, conn, account.name, account)


def _welcome(hub: Hub, conn: Connection, nick: str, account: AccountRecord | None) -> None:
    hub.nicks.claim(conn, nick)
    conn.nick = nick
    conn.key = name_key(nick)
    conn.enter(Phase.REGISTERED)
    hub.counts.registered += 1
    if conn.local_user is not None:
        local_arrived(hub, conn)
    hub.send(
        conn,
        Welcome(
            nick=nick,
            protocol=PROTOCOL_VERSION,
            server=hub.server_info,
            backend=hub.backend,
            motd=hub.config.motd,
            instance=hub.instance,
            account=None if account is None else account.name,
            local_user=conn.local_user,
        ),
    )
    problem = hub.store.health()
    if problem is not None:  # a newcomer learns it too, not only who was there when it began
        hub.outbox.send(conn, hub.notice(problem))
    if account is not None:
        logged_in(hub, conn, account)


def valid_free_nick(hub: Hub, conn: Connection, wanted: str) -> str:
    try:
        nick = normalize_nick(wanted)
    except ValueError as exc:
        raise ProtocolError(ErrorCode.INVALID_NICK, str(exc)) from None
    holder = hub.nicks.taken_by(nick, conn)
    if holder is not None:
        taken = holder.nick or nick
        what = f"{nick} is already taken" if taken == nick else f"{nick} looks like {taken}"
        raise ProtocolError(ErrorCode.NICK_TAKEN, f"{what}, who is online")
    return nick


def change_nick(hub: Hub, conn: Connection, msg: ChangeNick) -> None:
    old = conn.nick
    assert old is not None
    new = valid_free_nick(hub, conn, msg.nick)
    if new == old:
        return
    check_local_nick(hub, conn, new)
    owner = hub.accounts.find(new)
    if owner is not None and owner.key != conn.account_key:
        raise ProtocolError(
            ErrorCode.NICK_REGISTERED,
            f"{owner.name} is a registered nick: log in to it to use it",
        )
    hub.nicks.claim(conn, new)
    conn.nick = new
    conn.key = name_key(new)
    peers: dict[Connection, None] = {conn: None}
    for room in conn.rooms.values():
        room.changed()
        peers.update(room.members)
    hub.bus.publish_to(peers, encode(NickChanged(old=old, new=new)))


def ping(hub: Hub, conn: Connection, msg: Ping) -> None:
    hub.send(conn, Pong(token=msg.token))


def quit(hub: Hub, conn: Connection, msg: Quit) -> None:
    reason = "quit"
    if msg.reason is not None:
        # The reason is shown to the rooms exactly as sent, or refused: never rewritten.
        try:
            reason = check_text(
                msg.reason, "reason", MAX_REASON_LENGTH, max_marks=hub.config.max_combining
            )
        except ValueError as exc:
            raise ProtocolError(ErrorCode.INVALID_TEXT, str(exc)) from None
        if "\n" in reason or "\t" in reason:
            raise ProtocolError(ErrorCode.INVALID_TEXT, "a quit reason is one line, with no tabs")
    hub.send(conn, Bye(reason="goodbye"))
    hub.drop(conn, reason)
