"""What the client knows of a room's moderation: roles, mutes, modes and bans (no UI here).

`members` gives the roles and mutes of everyone listed, `role_changed` changes one member,
`left` and `kicked` forget one; `modes` gives every mode, `mode_changed` the ones it changed;
`ban_list` the bans. Nicks are kept by identity (`name_key`), as the server compares them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from protocol import BanList, Members, ModeChanged, Modes
from protocol.names import name_key

Role = Literal["owner", "op", "member"]
#: The mark before a nick in the member list, by role.
MARKS: dict[str, str] = {"owner": "~", "op": "@", "member": " "}
RANK: dict[str, int] = {"owner": 0, "op": 1, "member": 2}
MODE_FIELDS = ("key", "invite_only", "moderated", "topic_lock", "secret", "limit")


@dataclass(frozen=True, slots=True)
class RoleChange:
    """What one `role_changed` changed of what we knew: `role` and/or `muted` (None: not);
    `was` is the role before."""

    was: Role
    role: Role | None = None
    muted: bool | None = None


@dataclass(slots=True)
class RoomRoles:
    """One room's roles, mutes, modes and bans, as the server last said them."""

    roles: dict[str, Role] = field(default_factory=dict)  # name_key -> owner / op
    muted: set[str] = field(default_factory=set)  # name_keys
    modes: Modes | None = None  # None: never heard of (no mode set when we joined)
    bans: list[str] = field(default_factory=list)  # masks of the last ban_list
    said: Modes | None = None  # the modes last shown, so a rejoin does not repeat them

    def role(self, nick: str) -> Role:
        return self.roles.get(name_key(nick), "member")

    def is_muted(self, nick: str) -> bool:
        return name_key(nick) in self.muted

    def mark(self, nick: str) -> str:
        """`~` for an owner, `@` for an op, a space otherwise."""
        return MARKS[self.role(nick)]

    def rank(self, nick: str) -> int:
        return RANK[self.role(nick)]

    def reset(self, members: Members) -> None:
        """A `members` frame lists everyone: it replaces what was known of their roles."""
        self.roles = {name_key(n): r for n, r in (members.roles or {}).items()}
        self.muted = {name_key(n) for n in members.muted or ()}

    def change(self, nick: str, role: Role, muted: bool) -> RoleChange:
        """Apply a `role_changed`; returns what it changed."""
        key = name_key(nick)
        before_role, before_muted = self.role(nick), key in self.muted
        if role == "member":
            self.roles.pop(key, None)
        else:
            self.roles[key] = role
        if muted:
            self.muted.add(key)
        else:
            self.muted.discard(key)
        return RoleChange(
            before_role,
            role if role != before_role else None,
            muted if muted != before_muted else None,
        )

    def forget(self, nick: str) -> None:
        """`nick` is no longer a member (left, kicked)."""
        self.roles.pop(name_key(nick), None)
        self.muted.discard(name_key(nick))

    def rename(self, old: str, new: str) -> None:
        old_key, new_key = name_key(old), name_key(new)
        if old_key in self.roles:
            self.roles[new_key] = self.roles.pop(old_key)
        if old_key in self.muted:
            self.muted.discard(old_key)
            self.muted.add(new_key)

    def clear(self) -> None:
        """We are no longer a member: what we knew of the room is out of date."""
        self.roles.clear()
        self.muted.clear()
        self.modes = self.said = None

    def joined(self) -> None:
        """We (re)joined: the server sends `modes` now if any mode is set, so none is known."""
        self.modes = None

    def set_modes(self, modes: Modes) -> bool:
        """Every mode of the room; False if that is what was shown already."""
        changed = self.said is None or self.said.model_dump() != modes.model_dump()
        self.modes = self.said = modes
        return changed

    def change_modes(self, event: ModeChanged) -> None:
        """The modes a `mode_changed` names; the others stay as they were."""
        base = self.modes or Modes(
            room=event.room,
            key=False,
            invite_only=False,
            moderated=False,
            topic_lock=False,
            secret=False,
            limit=0,
        )
        update = {f: getattr(event, f) for f in MODE_FIELDS if getattr(event, f) is not None}
        self.modes = self.said = base.model_copy(update=update)

    def set_bans(self, bans: BanList) -> None:
        self.bans = [ban.mask for ban in bans.bans]


__all__ = ["MARKS", "RoleChange", "RoomRoles"]
