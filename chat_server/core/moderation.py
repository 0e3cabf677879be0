"""Who may do what in a room: roles and ranks, bans and mutes, modes, invitations.

The state of one room's moderation lives in its `RoomModeration`; the server's own bans in a
`BanBook` held by the Hub. This module decides (ranks, matches, expiry); the handlers in
`core.handlers.moderation` and `core.handlers.admin` act and tell; the store keeps it all
(`Store.save_ban`, `set_room_modes`, ...).

Ranks: owner (the room's owning account, or a server admin) > op > member. Expiry is
wall-clock (`time.time()` seconds), so a ban set for a day lasts a day across restarts.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, NamedTuple

from chat_server.core.masks import Mask, ip_matches, parse_mask

if TYPE_CHECKING:
    from chat_server.core.connection import Connection

MEMBER, OP, OWNER = 0, 1, 2
ROLE_NAMES = {MEMBER: "member", OP: "op", OWNER: "owner"}
#: Bans (and, separately, mutes) one room holds at most: `limit_reached` beyond.
MAX_BANS = 500
#: How long an invitation lets its nick in, in seconds.
INVITE_SECONDS = 3600.0
#: Entries of the moderation log the store keeps per room (and for the server).
MODLOG_KEEP = 1000

#: A secret of this server run: room keys are checked against a keyed hash of the key that
#: was set (`RoomModeration.key_check`) without argon2 on every join (argon2 protects the
#: copy at rest).
_RUN_SECRET = secrets.token_bytes(32)


def quick_key(key: str) -> bytes:
    return hmac.new(_RUN_SECRET, key.encode(), hashlib.sha256).digest()


class BanRecord(NamedTuple):
    mask: Mask
    by: str
    reason: str | None
    ts: str
    expires: float | None  # wall-clock seconds; None: until lifted

    def expired(self, now: float) -> bool:
        return self.expires is not None and self.expires <= now


class StoredBan(NamedTuple):
    """A ban or mute as the store keeps it; `scope` is a room key, or "" for the server."""

    scope: str
    kind: str  # "ban" or "mute"
    mask: str
    by: str
    reason: str | None
    ts: str
    expires: float | None


class BanBook:
    """Masks with their reasons and expiry, by canonical text (a room's bans or mutes, or the
    server's bans). Expired entries are dropped when met (`active`, `purge`)."""

    def __init__(self) -> None:
        self.entries: dict[str, BanRecord] = {}

    def __len__(self) -> int:
        return len(self.entries)

    def add(self, record: BanRecord) -> None:
        self.entries[record.mask.text] = record

    def remove(self, mask_text: str) -> BanRecord | None:
        return self.entries.pop(mask_text, None)

    def match(self, conn: Connection, now: float) -> BanRecord | None:
        """The first unexpired entry matching `conn`."""
        for record in self.entries.values():
            if not record.expired(now) and record.mask.matches(conn):
                return record
        return None

    def match_person(
        self, nick: str, account_key: str | None, ip: str | None, now: float
    ) -> BanRecord | None:
        """The first unexpired entry matching someone not yet welcomed: by nick, account or
        address."""
        for record in self.entries.values():
            if record.expired(now):
                continue
            mask = record.mask
            if mask.kind == "account":
                if account_key == mask.key:
                    return record
            elif mask.kind == "nick":
                if mask.matches_nick(nick):
                    return record
            elif ip_matches(mask.key, ip):
                return record
        return None

    def purge(self, now: float) -> list[BanRecord]:
        """Drop and return the entries that have expired."""
        gone = [r for r in self.entries.values() if r.expired(now)]
        for record in gone:
            del self.entries[record.mask.text]
        return gone

    def active(self, now: float) -> list[BanRecord]:
        self.purge(now)
        return list(self.entries.values())

    def load(self, stored: StoredBan) -> None:
        try:
            mask = parse_mask(stored.mask)
        except Exception:  # a mask an older rule accepted: keep it out rather than guess
            return
        self.add(BanRecord(mask, stored.by, stored.reason, stored.ts, stored.expires))


@dataclass
class Modes:
    """A room's modes as stored (JSON): the key is kept as its argon2 hash only."""

    key_hash: str | None = None
    invite_only: bool = False
    moderated: bool = False
    topic_lock: bool = False
    secret: bool = False
    limit: int = 0

    def dumps(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def loads(cls, text: str | None) -> Modes:
        if not text:
            return cls()
        raw = json.loads(text)
        known = {k: v for k, v in raw.items() if k in cls.__dataclass_fields__}
        return cls(**known)

    def any_set(self) -> bool:
        return bool(self.key_hash or self.invite_only or self.moderated or self.topic_lock) or bool(
            self.secret or self.limit
        )


@dataclass
class RoomModeration:
    """One room's roles, bans, mutes, modes and invitations."""

    owner: str | None = None  # the owning account's key: a registered room
    op_accounts: set[str] = field(default_factory=set)  # ops by account (registered rooms)
    op_conns: set[Connection] = field(default_factory=set)  # ops by connection (the others)
    modes: Modes = field(default_factory=Modes)
    # hmac of the key set during this run (None: unknown since a restart, check the hash)
    key_check: bytes | None = None
    bans: BanBook = field(default_factory=BanBook)
    mutes: BanBook = field(default_factory=BanBook)
    # The connections muted (with the mute's expiry): a guest's mute is by nick, and renaming
    # must not lift it.
    muted_conns: dict[Connection, float | None] = field(default_factory=dict)
    invites: dict[str, float] = field(default_factory=dict)  # identity -> monotonic expiry

    def rank(self, conn: Connection, admins: frozenset[str]) -> int:
        account = conn.account_key
        if account is not None and (account == self.owner or account in admins):
            return OWNER
        if conn in self.op_conns or (account is not None and account in self.op_accounts):
            return OP
        return MEMBER

    def muted(self, conn: Connection, now: float) -> bool:
        if conn in self.muted_conns:
            until = self.muted_conns[conn]
            if until is None or until > now:
                return True
        return bool(self.mutes.entries) and self.mutes.match(conn, now) is not None

    def mute_connection(self, conn: Connection, record: BanRecord) -> None:
        """`record`, already in `mutes`, also holds `conn` itself (a rename does not lift it)."""
        self.muted_conns[conn] = record.expires

    def unmute(self, conn: Connection) -> list[BanRecord]:
        """Lift every mute of `conn`; the entries lifted."""
        self.muted_conns.pop(conn, None)
        lifted = [r for r in self.mutes.entries.values() if r.mask.matches(conn)]
        for record in lifted:
            self.mutes.remove(record.mask.text)
        return lifted

    def expire_mutes(self, now: float) -> list[BanRecord]:
        for conn, until in list(self.muted_conns.items()):
            if conn.closed or (until is not None and until <= now):
                del self.muted_conns[conn]
        return self.mutes.purge(now)

    def invite(self, conn: Connection, until: float) -> None:
        for identity in _identities(conn):
            self.invites[identity] = until

    def take_invite(self, conn: Connection, now: float) -> bool:
        """Whether `conn` holds an unexpired invitation; it is used up."""
        found = False
        for identity in _identities(conn):
            until = self.invites.pop(identity, None)
            if until is not None and until > now:
                found = True
        return found

    def has_invite(self, conn: Connection, now: float) -> bool:
        return any(self.invites.get(i, 0.0) > now for i in _identities(conn))

    def forget_account(self, account: str) -> bool:
        """An account is gone: it owns and ops nothing any more. True if anything changed."""
        changed = account in self.op_accounts or self.owner == account
        self.op_accounts.discard(account)
        if self.owner == account:
            self.owner = None
        return changed


def _identities(conn: Connection) -> list[str]:
    found = []
    if conn.key is not None:
        found.append("nick:" + conn.key)
    if conn.account_key is not None:
        found.append("account:" + conn.account_key)
    return found
