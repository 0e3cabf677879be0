"""Room moderation requests: `op`, `deop`, `kick`, `ban`, `unban`, `bans`, `mute`, `unmute`,
`mode`, `invite` and `modlog`, and the lifting of bans and mutes whose time is up. The rules
they apply are in `policy`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from chat_server.core.handlers.membership import room_of
from chat_server.core.handlers.policy import (
    announce_role,
    as_op,
    ban_list,
    kick_out,
    member_named,
    modes_frame,
    new_ban,
    outranked,
    rank_of,
    reason_of,
    record,
    stored,
)
from chat_server.core.interfaces import ModLogRecord
from chat_server.core.masks import parse_mask, person_mask
from chat_server.core.moderation import (
    INVITE_SECONDS,
    OP,
    OWNER,
    quick_key,
)
from protocol import (
    Ban,
    Bans,
    Deop,
    ErrorCode,
    GetModLog,
    Invite,
    Invited,
    Kick,
    Mode,
    ModeChanged,
    ModLog,
    ModLogEntry,
    Mute,
    Op,
    ProtocolError,
    Unban,
    Unmute,
    encode,
)
from protocol.names import check_text

if TYPE_CHECKING:
    from chat_server.core.connection import Connection
    from chat_server.core.hub import Hub
    from chat_server.core.rooms import Room

_MODE_FIELDS = ("key", "invite_only", "moderated", "topic_lock", "secret", "limit")

_MODE_FIELDS = ("key", "invite_only", "moderated", "topic_lock", "secret", "limit")


# ----------------------------------------------------------------- requests


def op(hub: Hub, conn: Connection, msg: Op) -> None:
    room = room_of(hub, conn, msg.room)
    if rank_of(hub, room, conn) < OWNER:
        raise ProtocolError(ErrorCode.NOT_OP, f"only an owner of {room.name} gives op")
    target = member_named(hub, room, msg.nick)
    if rank_of(hub, room, target) >= OP:
        announce_role(hub, room, target, conn.nick or "?")
        return
    if room.mod.owner is not None:
        if target.account_key is None:
            raise ProtocolError(
                ErrorCode.NOT_LOGGED_IN,
                f"{target.nick} is not logged in: op in a registered room goes to an account",
            )
        room.mod.op_accounts.add(target.account_key)
        hub.store.set_op(room.key, target.account_key, True)
    else:
        room.mod.op_conns.add(target)
    record(hub, room, conn, "op", target.nick or "?", None)
    announce_role(hub, room, target, conn.nick or "?")


def deop(hub: Hub, conn: Connection, msg: Deop) -> None:
    room = room_of(hub, conn, msg.room)
    rank = rank_of(hub, room, conn)
    target = member_named(hub, room, msg.nick)
    if target is not conn or rank != OP:
        if rank < OWNER:
            raise ProtocolError(ErrorCode.NOT_OP, f"only an owner of {room.name} takes op")
        outranked(hub, room, rank, target, "deop")
    mod = room.mod
    mod.op_conns.discard(target)
    if target.account_key is not None and target.account_key in mod.op_accounts:
        mod.op_accounts.discard(target.account_key)
        hub.store.set_op(room.key, target.account_key, False)
    record(hub, room, conn, "deop", target.nick or "?", None)
    announce_role(hub, room, target, conn.nick or "?")


def kick(hub: Hub, conn: Connection, msg: Kick) -> None:
    room, rank = as_op(hub, conn, msg.room)
    target = member_named(hub, room, msg.nick)
    outranked(hub, room, rank, target, "kick")
    reason = reason_of(hub, msg.reason)
    record(hub, room, conn, "kick", target.nick or "?", reason)
    kick_out(hub, room, target, conn.nick or "?", reason)


def ban(hub: Hub, conn: Connection, msg: Ban) -> None:
    room, rank = as_op(hub, conn, msg.room)
    mask = parse_mask(msg.mask)
    reason = reason_of(hub, msg.reason)
    entry = new_ban(hub, room, room.mod.bans, mask, conn, reason, msg.duration)
    hub.store.save_ban(stored(room.key, "ban", entry))
    record(hub, room, conn, "ban", mask.text, reason)
    for member in list(room.members):
        if member is not conn and mask.matches(member) and rank_of(hub, room, member) < rank:
            kick_out(hub, room, member, conn.nick or "?", reason)
    hub.send(conn, ban_list(room.mod.bans, room))


def unban(hub: Hub, conn: Connection, msg: Unban) -> None:
    room, _ = as_op(hub, conn, msg.room)
    mask = parse_mask(msg.mask)
    if room.mod.bans.remove(mask.text) is not None:
        hub.store.drop_ban(room.key, "ban", mask.text)
        record(hub, room, conn, "unban", mask.text, None)
    hub.send(conn, ban_list(room.mod.bans, room))


def bans(hub: Hub, conn: Connection, msg: Bans) -> None:
    room, _ = as_op(hub, conn, msg.room)
    hub.send(conn, ban_list(room.mod.bans, room))


def mute(hub: Hub, conn: Connection, msg: Mute) -> None:
    room, rank = as_op(hub, conn, msg.room)
    target = member_named(hub, room, msg.nick)
    outranked(hub, room, rank, target, "mute")
    entry = new_ban(hub, room, room.mod.mutes, person_mask(target), conn, None, msg.duration)
    room.mod.mute_connection(target, entry)
    hub.store.save_ban(stored(room.key, "mute", entry))
    room.update_restricted()
    record(hub, room, conn, "mute", target.nick or "?", None)
    announce_role(hub, room, target, conn.nick or "?")


def unmute(hub: Hub, conn: Connection, msg: Unmute) -> None:
    room, rank = as_op(hub, conn, msg.room)
    target = member_named(hub, room, msg.nick)
    outranked(hub, room, rank, target, "unmute")
    for entry in room.mod.unmute(target):
        hub.store.drop_ban(room.key, "mute", entry.mask.text)
    room.update_restricted()
    record(hub, room, conn, "unmute", target.nick or "?", None)
    announce_role(hub, room, target, conn.nick or "?")


def mode(hub: Hub, conn: Connection, msg: Mode) -> None:
    room = room_of(hub, conn, msg.room)
    changes = {name: getattr(msg, name) for name in _MODE_FIELDS if getattr(msg, name) is not None}
    if not changes:
        hub.send(conn, modes_frame(room))
        return
    if rank_of(hub, room, conn) < OP:
        raise ProtocolError(ErrorCode.NOT_OP, f"you are not an op of {room.name}")
    key = changes.get("key")
    if not key:
        _apply_modes(hub, conn, room, changes, None)
        return
    try:
        check_text(key, "key", 256, max_marks=hub.config.max_combining)
    except ValueError as exc:
        raise ProtocolError(ErrorCode.INVALID_TEXT, str(exc)) from None
    if "\n" in key:
        raise ProtocolError(ErrorCode.INVALID_TEXT, "a key is one line")
    passwords = hub.passwords
    if passwords.full(hub.config.max_password_checks):
        raise ProtocolError(ErrorCode.RATE_LIMITED, "too many checks at once", retry_after=1)
    hub.defer(
        conn,
        passwords,
        lambda: passwords.hash(key),
        lambda key_hash: _apply_modes(hub, conn, room, changes, key_hash),
        ProtocolError(ErrorCode.INTERNAL_ERROR, "the key could not be hashed"),
    )


def _apply_modes(
    hub: Hub, conn: Connection, room: Room, changes: dict[str, object], key_hash: str | None
) -> None:
    if hub.rooms.get(room.key) is not room or conn not in room.members:
        raise ProtocolError(ErrorCode.NOT_IN_ROOM, f"you are no longer in {room.name}")
    mod = room.mod
    modes = mod.modes
    shown: dict[str, object] = {}
    for name, value in changes.items():
        if name == "key":
            modes.key_hash = key_hash
            mod.key_check = None if key_hash is None else quick_key(str(value))
            shown["key"] = key_hash is not None
        else:
            setattr(modes, name, value)
            shown[name] = value
    if "secret" in changes:
        hub.rooms.relisted()
    room.update_restricted()
    room.kept = True
    hub.store.set_room_modes(room.key, modes.dumps())
    summary = " ".join(f"{name}={_shown(name, value)}" for name, value in shown.items())
    record(hub, room, conn, "mode", summary, None)
    changed = ModeChanged(room=room.name, by=conn.nick or "?", ts=hub.clock.stamp(), **shown)  # type: ignore[arg-type]
    hub.bus.publish(room, encode(changed))


def invite(hub: Hub, conn: Connection, msg: Invite) -> None:
    room = room_of(hub, conn, msg.room)
    if room.mod.modes.invite_only and rank_of(hub, room, conn) < OP:
        raise ProtocolError(ErrorCode.NOT_OP, f"only ops invite to {room.name}")
    target = hub.nicks.holder(msg.nick)
    if target is None or target.nick is None:
        raise ProtocolError(ErrorCode.NO_SUCH_NICK, f"no one is called {msg.nick}")
    room.mod.invite(target, hub.clock.monotonic() + INVITE_SECONDS)
    by = conn.nick or "?"
    hub.send(target, Invited(room=room.name, by=by))
    if target is not conn:
        hub.send(conn, Invited(room=room.name, by=by, nick=target.nick))
    record(hub, room, conn, "invite", target.nick, None)


def modlog(hub: Hub, conn: Connection, msg: GetModLog) -> None:
    room, _ = as_op(hub, conn, msg.room)
    store = hub.store

    def answer(rows: list[ModLogRecord]) -> None:
        entries = [
            ModLogEntry(ts=r.ts, by=r.by, action=r.action, target=r.target, reason=r.reason)
            for r in rows
        ]
        hub.send(conn, ModLog(room=room.name, entries=entries))

    hub.defer(
        conn,
        store.reads,
        lambda: store.reader().modlog(room.key, msg.limit),
        answer,
        ProtocolError(ErrorCode.STORE_UNAVAILABLE, f"the log of {room.name} is unreadable"),
    )


def expire_bans(hub: Hub, now: float) -> None:
    """Lift the bans and mutes whose time is up (the Hub calls this every second while any
    such is set): the store forgets them, and a room learns of each lifted mute."""
    for scope in list(hub.expiring):
        if scope is None:
            for entry in hub.server_bans.purge(now):
                hub.store.drop_ban("", "ban", entry.mask.text)
            books = [hub.server_bans]
        elif hub.rooms.get(scope.key) is not scope:
            hub.expiring.discard(scope)
            continue
        else:
            for entry in scope.mod.bans.purge(now):
                hub.store.drop_ban(scope.key, "ban", entry.mask.text)
            lifted = scope.mod.expire_mutes(now)
            for entry in lifted:
                hub.store.drop_ban(scope.key, "mute", entry.mask.text)
                for member in list(scope.members):
                    if entry.mask.matches(member):
                        announce_role(hub, scope, member, "server")
            if lifted:
                scope.update_restricted()
                scope.changed()
            books = [scope.mod.bans, scope.mod.mutes]
        if not any(e.expires is not None for book in books for e in book.entries.values()):
            hub.expiring.discard(scope)


def _shown(name: str, value: object) -> str:
    """A mode's new value as the moderation log writes it: on/off, set/cleared, a number."""
    if name == "key":
        return "set" if value else "cleared"
    if isinstance(value, bool):
        return "on" if value else "off"
    return str(value)
