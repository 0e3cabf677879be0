"""The wire messages of room moderation and server administration (added later in version 1).

Requests name a room and a member by nick (`op`, `kick`, `mute`...) or a ban mask (`ban`,
`server_ban`): `nick:NAME`, `account:NAME`, `ip:ADDRESS` or `ip:CIDR`. Who may send each, and
what it answers, is in docs/protocol.md ("Moderation"); the rules live in the core.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from protocol.base import Short, WireMessage

#: The longest ban or mute: ten years, in seconds.
MAX_DURATION = 10 * 365 * 24 * 3600
Duration = Annotated[int, Field(ge=1, le=MAX_DURATION)]
Reason = Annotated[str, Field(max_length=256)]
Role = Literal["owner", "op", "member"]

# ----------------------------------------------------------------- client to server


class Op(WireMessage):
    type: Literal["op"] = "op"
    room: Short
    nick: Short


class Deop(WireMessage):
    type: Literal["deop"] = "deop"
    room: Short
    nick: Short


class Kick(WireMessage):
    type: Literal["kick"] = "kick"
    room: Short
    nick: Short
    reason: Reason | None = None


class Ban(WireMessage):
    type: Literal["ban"] = "ban"
    room: Short
    mask: Short
    reason: Reason | None = None
    duration: Duration | None = None


class Unban(WireMessage):
    type: Literal["unban"] = "unban"
    room: Short
    mask: Short


class Bans(WireMessage):
    type: Literal["bans"] = "bans"
    room: Short


class Mute(WireMessage):
    type: Literal["mute"] = "mute"
    room: Short
    nick: Short
    duration: Duration | None = None


class Unmute(WireMessage):
    type: Literal["unmute"] = "unmute"
    room: Short
    nick: Short


class Mode(WireMessage):
    """Set any of a room's modes; with none given, the answer is the room's `modes`."""

    type: Literal["mode"] = "mode"
    room: Short
    key: Short | None = None  # "" clears it
    invite_only: bool | None = None
    moderated: bool | None = None
    topic_lock: bool | None = None
    secret: bool | None = None
    limit: Annotated[int, Field(ge=0, le=1_000_000)] | None = None  # 0: no cap


class Invite(WireMessage):
    type: Literal["invite"] = "invite"
    room: Short
    nick: Short


class Kill(WireMessage):
    type: Literal["kill"] = "kill"
    nick: Short
    reason: Reason | None = None


class ServerBan(WireMessage):
    type: Literal["server_ban"] = "server_ban"
    mask: Short
    reason: Reason | None = None
    duration: Duration | None = None


class ServerUnban(WireMessage):
    type: Literal["server_unban"] = "server_unban"
    mask: Short


class ServerBans(WireMessage):
    type: Literal["server_bans"] = "server_bans"


class Wall(WireMessage):
    type: Literal["wall"] = "wall"
    text: str


class GetModLog(WireMessage):
    type: Literal["modlog"] = "modlog"
    room: Short
    limit: Annotated[int, Field(ge=1, le=200)] = 50


# ----------------------------------------------------------------- server to client


class Kicked(WireMessage):
    type: Literal["kicked"] = "kicked"
    room: str
    nick: str
    by: str
    reason: str | None = None
    ts: str


class RoleChanged(WireMessage):
    type: Literal["role_changed"] = "role_changed"
    room: str
    nick: str
    role: Role
    muted: bool
    by: str
    ts: str


class ModeChanged(WireMessage):
    """The modes a `mode` request changed (only those); `key` says whether one is set now."""

    type: Literal["mode_changed"] = "mode_changed"
    room: str
    by: str
    ts: str
    key: bool | None = None
    invite_only: bool | None = None
    moderated: bool | None = None
    topic_lock: bool | None = None
    secret: bool | None = None
    limit: int | None = None


class Modes(WireMessage):
    """Every mode of a room: to a joiner when any is set, and the answer to a bare `mode`."""

    type: Literal["modes"] = "modes"
    room: str
    key: bool
    invite_only: bool
    moderated: bool
    topic_lock: bool
    secret: bool
    limit: int


class BanEntry(WireMessage):
    mask: str
    by: str
    reason: str | None = None
    ts: str
    expires: str | None = None  # absent: until lifted


class BanList(WireMessage):
    type: Literal["ban_list"] = "ban_list"
    room: str | None = None  # absent: the server's bans
    bans: list[BanEntry]


class Invited(WireMessage):
    type: Literal["invited"] = "invited"
    room: str
    by: str
    nick: str | None = None  # who was invited (on the inviter's copy)


class ModLogEntry(WireMessage):
    ts: str
    by: str
    action: str
    target: str
    reason: str | None = None


class ModLog(WireMessage):
    type: Literal["mod_log"] = "mod_log"
    room: str
    entries: list[ModLogEntry]  # newest first


CLIENT_MODERATION = (
    Op,
    Deop,
    Kick,
    Ban,
    Unban,
    Bans,
    Mute,
    Unmute,
    Mode,
    Invite,
    Kill,
    ServerBan,
    ServerUnban,
    ServerBans,
    Wall,
    GetModLog,
)
SERVER_MODERATION = (Kicked, RoleChanged, ModeChanged, Modes, BanList, Invited, ModLog)
