"""The rules room moderation applies: ranks, the checks `join`, `say` and `topic` make
(`admit`, `check_voice`, `check_topic`), and what the moderation requests share (telling a
room of a role, removing a member, bans, the moderation log). Who may do what is decided
here and in core.moderation, nowhere else."""

from __future__ import annotations

import hmac
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from chat_server.core.handlers.membership import left_room, room_of
from chat_server.core.interfaces import ModLogRecord
from chat_server.core.masks import Mask
from chat_server.core.moderation import (
    MAX_BANS,
    MEMBER,
    MODLOG_KEEP,
    OP,
    OWNER,
    ROLE_NAMES,
    BanBook,
    BanRecord,
    StoredBan,
    quick_key,
)
from protocol import (
    BanEntry,
    BanList,
    ErrorCode,
    Kicked,
    Modes,
    ProtocolError,
    RoleChanged,
    encode,
)
from protocol.names import check_text

if TYPE_CHECKING:
    from chat_server.core.connection import Connection
    from chat_server.core.hub import Hub
    from chat_server.core.rooms import Room

log = logging.getLogger("chat_server.moderation")


# ----------------------------------------------------------------- shared rules


def rank_of(hub: Hub, room: Room, conn: Connection) -> int:
    return room.mod.rank(conn, hub.admins)


def as_op(hub: Hub, conn: Connection, room_name: str) -> tuple[Room, int]:
    """The room (which `conn` must be in) and `conn`'s rank in it, which must be op or more."""
    room = room_of(hub, conn, room_name)
    rank = rank_of(hub, room, conn)
    if rank < OP:
        raise ProtocolError(ErrorCode.NOT_OP, f"you are not an op of {room.name}")
    return room, rank


def member_named(hub: Hub, room: Room, nick: str) -> Connection:
    holder = hub.nicks.holder(nick)
    if holder is None or holder not in room.members:
        raise ProtocolError(ErrorCode.NO_SUCH_NICK, f"{nick} is not in {room.name}")
    return holder


def outranked(hub: Hub, room: Room, rank: int, target: Connection, what: str) -> None:
    target_rank = rank_of(hub, room, target)
    if target_rank >= rank:
        raise ProtocolError(
            ErrorCode.NOT_OP,
            f"{target.nick} is {ROLE_NAMES[target_rank]} of {room.name}: you cannot {what} them",
        )


def reason_of(hub: Hub, reason: str | None) -> str | None:
    """A moderator's reason, held to the rules of a one-line text (or None)."""
    if reason is None or not reason.strip():
        return None
    try:
        text = check_text(reason, "reason", 256, max_marks=hub.config.max_combining)
    except ValueError as exc:
        raise ProtocolError(ErrorCode.INVALID_TEXT, str(exc)) from None
    if "\n" in text or "\t" in text:
        raise ProtocolError(ErrorCode.INVALID_TEXT, "a reason is one line, with no tabs")
    return text


def record(
    hub: Hub, room: Room | None, by: Connection, action: str, target: str, reason: str | None
) -> None:
    """One line in the server's log and one entry in the store's moderation log."""
    who = by.nick or "?"
    if by.account is not None:
        who += f" (account {by.account})"
    where = "server" if room is None else room.name
    log.info("%s: %s %s %s%s", where, who, action, target, f" ({reason})" if reason else "")
    entry = ModLogRecord(
        "" if room is None else room.key, hub.clock.stamp(), by.nick or "?", action, target, reason
    )
    hub.store.add_modlog(entry, MODLOG_KEEP)


def expiry_text(expires: float | None) -> str | None:
    if expires is None:
        return None
    stamp = datetime.fromtimestamp(expires, UTC).isoformat(timespec="milliseconds")
    return stamp.replace("+00:00", "Z")


def ban_list(book: BanBook, room: Room | None) -> BanList:
    entries = [
        BanEntry(
            mask=r.mask.text, by=r.by, reason=r.reason, ts=r.ts, expires=expiry_text(r.expires)
        )
        for r in book.active(time.time())
    ]
    return BanList(room=None if room is None else room.name, bans=entries)


def banned_message(record_: BanRecord, where: str) -> str:
    text = f"you are banned from {where}"
    if record_.reason:
        text += f": {record_.reason}"
    until = expiry_text(record_.expires)
    return text + (f" (until {until})" if until else " (until lifted)")


def new_ban(
    hub: Hub,
    scope: Room | None,
    book: BanBook,
    mask: Mask,
    by: Connection,
    reason: str | None,
    duration: int | None,
) -> BanRecord:
    if mask.text not in book.entries and len(book) >= MAX_BANS:
        raise ProtocolError(
            ErrorCode.LIMIT_REACHED, f"at most {MAX_BANS} bans: lift one (unban) first"
        )
    expires = None if duration is None else time.time() + duration
    entry = BanRecord(mask, by.nick or "?", reason, hub.clock.stamp(), expires)
    book.add(entry)
    if expires is not None:
        hub.expiring.add(scope)  # None: the server's own bans
    return entry


def stored(scope: str, kind: str, entry: BanRecord) -> StoredBan:
    return StoredBan(scope, kind, entry.mask.text, entry.by, entry.reason, entry.ts, entry.expires)


def announce_role(hub: Hub, room: Room, target: Connection, by: str) -> None:
    room.changed()
    assert target.nick is not None
    rank = rank_of(hub, room, target)
    changed = RoleChanged(
        room=room.name,
        nick=target.nick,
        role=ROLE_NAMES[rank],  # type: ignore[arg-type]
        muted=room.mod.muted(target, time.time()),
        by=by,
        ts=hub.clock.stamp(),
    )
    hub.bus.publish(room, encode(changed))


def kick_out(hub: Hub, room: Room, target: Connection, by: str, reason: str | None) -> None:
    """Kick `target` out of `room`: the room (`target` included) gets `kicked` first."""
    assert target.nick is not None
    kicked = Kicked(room=room.name, nick=target.nick, by=by, reason=reason, ts=hub.clock.stamp())
    hub.bus.publish(room, encode(kicked))
    if target in room.members and room.key in target.rooms:  # not dropped meanwhile
        del target.rooms[room.key]
        left_room(hub, room, target)


# ----------------------------------------------------------------- checks of other requests


def admit(
    hub: Hub, conn: Connection, room: Room, key: str | None, enter: Callable[[], None]
) -> None:
    """May `conn` join `room`? Bans, invitation, cap, then key; `enter()` when it may (later,
    after a key check that needs argon2)."""
    rank = rank_of(hub, room, conn)
    if rank >= OWNER:
        enter()
        return
    mod = room.mod
    ban = mod.bans.match(conn, time.time()) if mod.bans.entries else None
    if ban is not None:
        raise ProtocolError(ErrorCode.BANNED, banned_message(ban, room.name))
    now = hub.clock.monotonic()
    invited = bool(mod.invites) and mod.has_invite(conn, now)
    modes = mod.modes
    passes = invited or rank >= OP
    if modes.invite_only and not passes:
        raise ProtocolError(ErrorCode.INVITE_ONLY, f"{room.name} is invite-only: ask an op")
    if modes.limit and len(room.members) >= modes.limit and not passes:
        raise ProtocolError(ErrorCode.ROOM_FULL, f"{room.name} is full ({modes.limit} members)")
    if modes.key_hash is None or passes:
        if invited:
            mod.take_invite(conn, now)
        enter()
        return
    _check_key(hub, conn, room, key, enter)


def _check_key(
    hub: Hub, conn: Connection, room: Room, key: str | None, enter: Callable[[], None]
) -> None:
    address = conn.address
    now = hub.clock.monotonic()
    if address is not None:
        hub.guard.check_passwords(address, now, fatal=False)

    def refuse() -> None:
        if address is not None:
            hub.guard.password_failed(address, now)
        raise ProtocolError(ErrorCode.BAD_KEY, f"{room.name} needs its key (join with key)")

    if not key:
        refuse()
    assert key is not None
    known = room.mod.key_check
    if known is not None:
        if not hmac.compare_digest(quick_key(key), known):
            refuse()
        enter()
        return
    # Known only as its argon2 hash (the server restarted since it was set): check it once.
    key_hash = room.mod.modes.key_hash
    assert key_hash is not None
    passwords = hub.passwords
    if passwords.full(hub.config.max_password_checks):
        raise ProtocolError(ErrorCode.RATE_LIMITED, "too many checks at once", retry_after=1)

    def checked(ok: bool) -> None:
        if hub.rooms.get(room.key) is not room or room.mod.modes.key_hash != key_hash:
            raise ProtocolError(ErrorCode.BAD_KEY, f"{room.name} changed meanwhile: join again")
        if not ok:
            refuse()
        room.mod.key_check = quick_key(key)
        enter()

    hub.defer(
        conn,
        passwords,
        lambda: passwords.verify(key_hash, key),
        checked,
        ProtocolError(ErrorCode.INTERNAL_ERROR, "the key could not be checked"),
    )


def check_voice(hub: Hub, room: Room, conn: Connection, ref: str | None) -> None:
    """A `say` in a restricted room: refused from the muted, and from plain members when the
    room is moderated."""
    if room.mod.muted(conn, time.time()):
        raise ProtocolError(ErrorCode.MUTED, f"you are muted in {room.name}", ref=ref)
    if room.mod.modes.moderated and rank_of(hub, room, conn) < OP:
        raise ProtocolError(ErrorCode.MUTED, f"{room.name} is moderated: only ops speak", ref=ref)


def check_topic(hub: Hub, room: Room, conn: Connection) -> None:
    if room.mod.modes.topic_lock and rank_of(hub, room, conn) < OP:
        raise ProtocolError(ErrorCode.TOPIC_LOCKED, f"only ops set the topic of {room.name}")


def creator(hub: Hub, conn: Connection, room: Room) -> None:
    """`conn` just created `room`: its account owns it, or else it is op while there."""
    if conn.account_key is not None:
        room.mod.owner = conn.account_key
        room.kept = True
        hub.store.set_room_owner(room.key, conn.account_key)
    else:
        room.mod.op_conns.add(conn)


def announce_joiner(hub: Hub, room: Room, conn: Connection) -> None:
    """After `joined`: tell the others the joiner's role, when it has one or is muted (the
    joiner reads its own in `members`, keeping its answers in their documented order)."""
    rank = rank_of(hub, room, conn)
    muted = room.mod.muted(conn, time.time())
    if rank == MEMBER and not muted:
        return
    assert conn.nick is not None
    changed = RoleChanged(
        room=room.name,
        nick=conn.nick,
        role=ROLE_NAMES[rank],  # type: ignore[arg-type]
        muted=muted,
        by="server",
        ts=hub.clock.stamp(),
    )
    hub.bus.publish_to([m for m in room.members if m is not conn], encode(changed))


def modes_frame(room: Room) -> Modes:
    modes = room.mod.modes
    return Modes(
        room=room.name,
        key=modes.key_hash is not None,
        invite_only=modes.invite_only,
        moderated=modes.moderated,
        topic_lock=modes.topic_lock,
        secret=modes.secret,
        limit=modes.limit,
    )
