"""Server administration by the accounts named with `--admin`: `kill`, `server_ban`,
`server_unban`, `server_bans` and `wall`, and the server bans `hello` checks."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from chat_server.core.handlers.policy import (
    ban_list,
    banned_message,
    new_ban,
    reason_of,
    record,
    stored,
)
from chat_server.core.masks import parse_mask
from chat_server.core.phases import Phase
from protocol import (
    ErrorCode,
    Kill,
    Notice,
    ProtocolError,
    ServerBan,
    ServerBans,
    ServerUnban,
    Wall,
    encode,
)
from protocol.names import check_text

if TYPE_CHECKING:
    from chat_server.core.connection import Connection
    from chat_server.core.hub import Hub


def _as_admin(hub: Hub, conn: Connection) -> None:
    if conn.account_key is None or conn.account_key not in hub.admins:
        raise ProtocolError(ErrorCode.NOT_ADMIN, "only a server admin may do that")


def check_server_bans(hub: Hub, conn: Connection, nick: str, account_key: str | None) -> None:
    """`conn` is about to be welcomed as `nick` (logged in to `account_key`, if any): refuse
    it if a server ban matches, unless it is an admin."""
    if not hub.server_bans.entries or (account_key is not None and account_key in hub.admins):
        return
    found = hub.server_bans.match_person(nick, account_key, conn.ip, time.time())
    if found is not None:
        raise ProtocolError(ErrorCode.BANNED, banned_message(found, "this server"), fatal=True)


def kill(hub: Hub, conn: Connection, msg: Kill) -> None:
    _as_admin(hub, conn)
    target = hub.nicks.holder(msg.nick)
    if target is None or target.nick is None:
        raise ProtocolError(ErrorCode.NO_SUCH_NICK, f"no one is called {msg.nick}")
    if target.account_key is not None and target.account_key in hub.admins and target is not conn:
        raise ProtocolError(ErrorCode.NOT_ADMIN, f"{target.nick} is an admin too")
    reason = reason_of(hub, msg.reason)
    record(hub, None, conn, "kill", target.nick, reason)
    text = f"killed by {conn.nick}" + (f": {reason}" if reason else "")
    nick = target.nick
    hub.fail(target, ProtocolError(ErrorCode.KILLED, text))
    if not conn.closed:
        hub.outbox.send(conn, hub.notice(f"{nick} was killed"))


def server_ban(hub: Hub, conn: Connection, msg: ServerBan) -> None:
    _as_admin(hub, conn)
    mask = parse_mask(msg.mask)
    reason = reason_of(hub, msg.reason)
    entry = new_ban(hub, None, hub.server_bans, mask, conn, reason, msg.duration)
    hub.store.save_ban(stored("", "ban", entry))
    record(hub, None, conn, "server_ban", mask.text, reason)
    message = banned_message(entry, "this server")
    for other in list(hub.connections.values()):
        if other is conn or other.phase is not Phase.REGISTERED:
            continue
        if other.account_key is not None and other.account_key in hub.admins:
            continue
        if mask.matches(other):
            hub.fail(other, ProtocolError(ErrorCode.BANNED, message, fatal=True))
    hub.send(conn, ban_list(hub.server_bans, None))


def server_unban(hub: Hub, conn: Connection, msg: ServerUnban) -> None:
    _as_admin(hub, conn)
    mask = parse_mask(msg.mask)
    if hub.server_bans.remove(mask.text) is not None:
        hub.store.drop_ban("", "ban", mask.text)
        record(hub, None, conn, "server_unban", mask.text, None)
    hub.send(conn, ban_list(hub.server_bans, None))


def server_bans(hub: Hub, conn: Connection, msg: ServerBans) -> None:
    _as_admin(hub, conn)
    hub.send(conn, ban_list(hub.server_bans, None))


def wall(hub: Hub, conn: Connection, msg: Wall) -> None:
    _as_admin(hub, conn)
    try:
        text = check_text(msg.text, max_marks=hub.config.max_combining)
    except ValueError as exc:
        raise ProtocolError(ErrorCode.INVALID_TEXT, str(exc)) from None
    assert conn.nick is not None
    record(hub, None, conn, "wall", "everyone", None)
    notice = encode(Notice(text=text, sender=conn.nick, ts=hub.clock.stamp()))
    hub.outbox.broadcast(
        [c for c in hub.connections.values() if c.phase is Phase.REGISTERED], notice
    )
