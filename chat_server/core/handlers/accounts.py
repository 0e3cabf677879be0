"""Accounts: logging in at `hello`, `register`, `passwd` and `unregister`.

Password work (argon2id) runs on the hasher's threads through `Hub.defer`, so the
connection's later requests wait for its answer and nothing else does. Failed logins count
per address (the password throttle) and per account; past either, logins are refused with
`rate_limited` before any hash is computed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from chat_server.core.handlers.direct import deliver_offline
from chat_server.core.interfaces import AccountRecord
from protocol import (
    ErrorCode,
    Passwd,
    PasswdChanged,
    ProtocolError,
    Register,
    Registered,
    Unregister,
    Unregistered,
)
from protocol.names import name_keys

if TYPE_CHECKING:
    from chat_server.core.connection import Connection
    from chat_server.core.hub import Hub

_HASH_FAILED = ProtocolError(ErrorCode.INTERNAL_ERROR, "the password could not be checked")


def check_password(
    hub: Hub, conn: Connection, account: AccountRecord, password: str, then: Callable[[], None]
) -> None:
    """Verify `password` for `account` off the loop; `then()` if right, `bad_login` if not."""
    _throttle(hub, conn, account)
    passwords = hub.passwords

    def verified(ok: bool) -> None:
        if not ok:
            _count_failure(hub, conn, account)
            raise ProtocolError(ErrorCode.BAD_LOGIN, f"wrong password for {account.name}")
        then()

    hub.defer(
        conn, passwords, lambda: passwords.verify(account.hash, password), verified, _HASH_FAILED
    )


def _throttle(hub: Hub, conn: Connection, account: AccountRecord) -> None:
    now = hub.clock.monotonic()
    if conn.address is not None:
        hub.guard.check_passwords(conn.address, now, fatal=False)
    hub.guard.check_logins(account.key, account.name, now)
    _refuse_if_saturated(hub)


def _refuse_if_saturated(hub: Hub) -> None:
    if hub.passwords.full(hub.config.max_password_checks):
        raise ProtocolError(
            ErrorCode.RATE_LIMITED, "too many password checks at once; try again", retry_after=1
        )


def logged_in(hub: Hub, conn: Connection, account: AccountRecord) -> None:
    """`conn` proved it owns `account`: mark it, then hand it the DMs stored meanwhile."""
    conn.account = account.name
    conn.account_key = account.key
    if not hub.accounts.offline.get(account.key):
        return
    store = hub.store
    hub.defer(
        conn,
        store.reads,
        lambda: store.reader().offline_dms(account.key),
        lambda stored: deliver_offline(hub, conn, stored),
        ProtocolError(ErrorCode.STORE_UNAVAILABLE, "your stored messages could not be read"),
    )


def register(hub: Hub, conn: Connection, msg: Register) -> None:
    nick = conn.nick
    assert nick is not None
    _refuse_if_owned(hub, nick)
    _refuse_if_saturated(hub)
    passwords = hub.passwords

    def hashed(password_hash: str) -> None:
        if conn.nick != nick:  # renamed meanwhile: register what it was asked for, or refuse
            raise ProtocolError(ErrorCode.INVALID_NICK, f"you are no longer {nick}")
        _refuse_if_owned(hub, nick)
        key, visual = name_keys(nick)
        record = AccountRecord(key, visual, nick, password_hash, hub.clock.stamp())
        hub.accounts.add(record)
        ticket = hub.store.add_account(record)
        conn.account, conn.account_key = nick, key
        hub.send(conn, Registered(account=nick))
        hub.withhold(conn, ticket)

    hub.defer(conn, passwords, lambda: passwords.hash(msg.password), hashed, _HASH_FAILED)


def _refuse_if_owned(hub: Hub, nick: str) -> None:
    owner = hub.accounts.find(nick)
    if owner is not None:
        what = nick if owner.name == nick else f"{nick} (it looks like {owner.name})"
        raise ProtocolError(ErrorCode.NICK_REGISTERED, f"{what} is already a registered nick")


def _own_account(hub: Hub, conn: Connection) -> AccountRecord:
    key = conn.account_key
    account = None if key is None else hub.accounts.by_key.get(key)
    if account is None:
        raise ProtocolError(ErrorCode.NOT_LOGGED_IN, "you are not logged in to an account")
    return account


def passwd(hub: Hub, conn: Connection, msg: Passwd) -> None:
    account = _own_account(hub, conn)
    _throttle(hub, conn, account)
    passwords = hub.passwords

    def rehash() -> str | None:
        if not passwords.verify(account.hash, msg.old):
            return None
        return passwords.hash(msg.new)

    def changed(password_hash: str | None) -> None:
        if password_hash is None:
            _count_failure(hub, conn, account)
            raise ProtocolError(ErrorCode.BAD_PASSWORD, "the old password is wrong", fatal=False)
        current = hub.accounts.by_key.get(account.key)
        if current is None:
            raise ProtocolError(ErrorCode.NOT_LOGGED_IN, "the account no longer exists")
        hub.accounts.replace(current._replace(hash=password_hash))
        ticket = hub.store.set_password(account.key, password_hash)
        hub.send(conn, PasswdChanged())
        hub.withhold(conn, ticket)

    hub.defer(conn, passwords, rehash, changed, _HASH_FAILED)


def unregister(hub: Hub, conn: Connection, msg: Unregister) -> None:
    account = _own_account(hub, conn)
    _throttle(hub, conn, account)
    passwords = hub.passwords

    def checked(ok: bool) -> None:
        if not ok:
            _count_failure(hub, conn, account)
            raise ProtocolError(ErrorCode.BAD_PASSWORD, "wrong password", fatal=False)
        if hub.accounts.by_key.get(account.key) is None:
            raise ProtocolError(ErrorCode.NOT_LOGGED_IN, "the account no longer exists")
        hub.accounts.remove(account)
        # The account owns and ops nothing any more: whoever registers the nick next
        # inherits none of it.
        for room in hub.rooms.rooms.values():
            if room.mod.forget_account(account.key):
                room.changed()
        hub.store.forget_account_roles(account.key)
        ticket = hub.store.drop_account(account.key)
        for other in hub.connections.values():  # every connection logged in to it
            if other.account_key == account.key:
                other.account = other.account_key = None
        hub.send(conn, Unregistered(account=account.name))
        hub.withhold(conn, ticket)

    hub.defer(
        conn, passwords, lambda: passwords.verify(account.hash, msg.password), checked, _HASH_FAILED
    )


def _count_failure(hub: Hub, conn: Connection, account: AccountRecord) -> None:
    now = hub.clock.monotonic()
    if conn.address is not None:
        hub.guard.password_failed(conn.address, now)
    hub.guard.login_failed(account.key, now)
