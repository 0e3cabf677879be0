"""How moderation frames read, as lines of parts both clients render (no UI here).

A line is a list of parts: a plain string is the client's own wording, a `(text, kind)` pair
is something someone else controls (a nick, a reason, a mask, a room name, a timestamp) and is
only ever shown as inert text. The Textual screen styles each kind (chat_client/screens/
moderation.py); line mode joins the parts with `plain`.
"""

from __future__ import annotations

from datetime import datetime

from chat_client.roles import MARKS, RoleChange
from chat_client.text import inert
from protocol import BanList, Invited, Kicked, Members, ModeChanged, Modes, ModLog, RoleChanged
from protocol.names import name_key

NICK, QUOTE, NAME = "nick", "quote", "name"
Part = str | tuple[str, str]
Line = list[Part]
#: What `by` says when the server itself made a change (a role given at join, a mute expired).
SERVER = "server"


def nick(text: str) -> tuple[str, str]:
    return (text, NICK)


def quote(text: str) -> tuple[str, str]:
    return (text, QUOTE)


def name(text: str) -> tuple[str, str]:
    return (text, NAME)


def room(text: str) -> tuple[str, str]:
    return ("#" + text, NAME)


def plain(line: Line) -> str:
    """The line as one string, every untrusted part inert (line mode)."""
    return "".join(part if isinstance(part, str) else inert(part[0]) for part in line)


def _reason(reason: str | None) -> Line:
    return [" (", quote(reason), ")"] if reason else []


def _by(by: str) -> Line:
    return [] if by == SERVER else [" by ", nick(by)]


def _when(ts: str) -> Part:
    """`YYYY-MM-DD HH:MM` in local time; a timestamp that does not parse is shown inert."""
    try:
        when = datetime.fromisoformat(ts.replace("Z", "+00:00"))
    except ValueError:
        return name(ts[:32])
    return when.astimezone().strftime("%Y-%m-%d %H:%M")


def _is(who: str, me: str) -> bool:
    return name_key(who) == name_key(me)


# ------------------------------------------------------------------ one event, one line


def kicked(event: Kicked, me: str) -> Line:
    if _is(event.nick, me):
        return [
            "you were kicked from ",
            room(event.room),
            *_by(event.by),
            *_reason(event.reason),
            "; you are no longer a member: /join to rejoin",
        ]
    return [nick(event.nick), " was kicked", *_by(event.by), *_reason(event.reason)]


def role_changed(event: RoleChanged, change: RoleChange, me: str) -> list[Line]:
    """One line per thing that changed (none when the server repeats what was known).

    `alice made bob an op`, `alice took op from bob`, `alice muted you`; a change by the
    server itself (a role given at join, a mute that expired) says the new state instead:
    `bob is an op`, `you may speak again`.
    """
    you = _is(event.nick, me)
    who: Part = "you" if you else nick(event.nick)
    be = " are" if you else " is"
    by: Part | None = None if event.by == SERVER else nick(event.by)
    themself = by is not None and _is(event.by, event.nick)
    lines: list[Line] = []
    if change.role in ("owner", "op"):
        what = " an owner of this room" if change.role == "owner" else " an op"
        lines.append([by, " made ", who, what] if by is not None else [who, be, what])
    elif change.role == "member":
        was = "ownership" if change.was == "owner" else "op"
        if by is None or themself:
            lines.append([who, be, f" no longer {'an owner' if was == 'ownership' else 'an op'}"])
        else:
            lines.append([by, f" took {was} from ", who])
    if change.muted is not None:
        verb = " muted " if change.muted else " unmuted "
        state = [be, " muted"] if change.muted else [" may speak again"]
        lines.append([by, verb, who] if by is not None else [who, *state])
    return lines


def _changes(event: ModeChanged) -> list[str]:
    """`invite_only on`, `limit 20`, `key set`...: the words `/mode` takes, for each change."""
    words = []
    for field in ("invite_only", "moderated", "topic_lock", "secret"):
        value = getattr(event, field)
        if value is not None:
            words.append(f"{field} {'on' if value else 'off'}")
    if event.limit is not None:
        words.append(f"limit {event.limit}" if event.limit else "limit off")
    if event.key is not None:
        words.append("key set" if event.key else "key removed")
    return words


def mode_changed(event: ModeChanged) -> Line:
    changes = _changes(event)
    return [nick(event.by), " set the modes: " + (", ".join(changes) or "none changed")]


def mode_words(modes: Modes) -> str:
    """The modes that are on, in words: `invite_only, topic_lock, limit 20, key`."""
    words = [f for f in ("invite_only", "moderated", "topic_lock", "secret") if getattr(modes, f)]
    if modes.limit:
        words.append(f"limit {modes.limit}")
    if modes.key:
        words.append("key")
    return ", ".join(words)


def mode_flags(modes: Modes | None) -> str:
    """The modes that are on as IRC-like flags, for a header: `+ikt limit 20`."""
    if modes is None:
        return ""
    letters = "".join(
        letter
        for letter, on in (
            ("i", modes.invite_only),
            ("k", modes.key),
            ("m", modes.moderated),
            ("s", modes.secret),
            ("t", modes.topic_lock),
        )
        if on
    )
    flags = f"+{letters}" if letters else ""
    if modes.limit:
        flags += f"{' ' if flags else ''}limit {modes.limit}"
    return flags


def modes(event: Modes) -> Line:
    words = mode_words(event)
    return ["modes of ", room(event.room), ": " + (words or "none set")]


def invited(event: Invited) -> Line:
    """The inviter's copy names who was invited; the invitee's does not."""
    if event.nick is not None:
        return ["you invited ", nick(event.nick), " to ", room(event.room)]
    return [nick(event.by), " invited you to ", room(event.room), ": /join it to accept"]


# ------------------------------------------------------------------ lists


def members(event: Members) -> Line:
    """`~alice, @bob, carol (muted)`: the nicks of a `members` frame with their roles' marks."""
    roles = {name_key(n): role for n, role in (event.roles or {}).items()}
    muted = {name_key(n) for n in event.muted or ()}
    line: Line = []
    for index, member in enumerate(event.nicks):
        mark = MARKS.get(roles.get(name_key(member), "member"), "").strip()
        line += [", " if index else "", mark, nick(member)]
        line += [" (muted)"] if name_key(member) in muted else []
    return line


def who(event: Members) -> Line:
    """`3 in lobby: ~alice, @bob, carol`: the answer to /who."""
    return [f"{len(event.nicks)} in ", name(event.room), ": ", *members(event)]


def ban_list(event: BanList) -> list[Line]:
    """A heading, then one line per ban: mask, who set it, since and until when, why."""
    where: Line = ["bans of ", room(event.room)] if event.room is not None else ["server bans"]
    if not event.bans:
        return [[*where, ": none"]]
    lines: list[Line] = [[*where, f": {len(event.bans)}"]]
    for ban in event.bans:
        until: Line = [", until ", _when(ban.expires)] if ban.expires else [", until lifted"]
        line: Line = ["  ", name(ban.mask), " by ", nick(ban.by), ", since ", _when(ban.ts)]
        lines.append([*line, *until, *_reason(ban.reason)])
    return lines


def mod_log(event: ModLog) -> list[Line]:
    """A heading, then one line per action, newest first."""
    head: Line = ["moderation log of ", room(event.room)]
    if not event.entries:
        return [[*head, ": empty"]]
    lines: list[Line] = [[*head, f": {len(event.entries)} action(s), newest first"]]
    for entry in event.entries:
        line: Line = ["  ", _when(entry.ts), " ", nick(entry.by), " ", name(entry.action)]
        if entry.target:
            line += [" ", name(entry.target)]
        lines.append([*line, *_reason(entry.reason)])
    return lines


# ------------------------------------------------------------------ line mode

ModerationFrame = Kicked | RoleChanged | ModeChanged | Modes | BanList | Invited | ModLog
_ROLE_WORDS = {"owner": "an owner", "op": "an op", "member": "a member"}


def describe(event: ModerationFrame, me: str) -> str:
    """The line (or lines) line mode prints for a moderation frame, every part inert.

    Line mode keeps no roles, so a `role_changed` says the member's state, not what changed.
    """
    match event:
        case Kicked():
            lines = [["[", name(event.room), "] ", *kicked(event, me)]]
        case RoleChanged():
            state = _ROLE_WORDS[event.role] + (", muted" if event.muted else "")
            by: Line = [] if event.by == SERVER else [" (by ", nick(event.by), ")"]
            lines = [["[", name(event.room), "] ", nick(event.nick), f" is {state}", *by]]
        case ModeChanged():
            lines = [["[", name(event.room), "] ", *mode_changed(event)]]
        case Modes():
            lines = [modes(event)]
        case BanList():
            lines = ban_list(event)
        case Invited():
            lines = [invited(event)]
        case ModLog():
            lines = mod_log(event)
    return "\n".join(plain(line) for line in lines)


__all__ = [
    "NAME",
    "NICK",
    "QUOTE",
    "Line",
    "ModerationFrame",
    "Part",
    "ban_list",
    "describe",
    "invited",
    "kicked",
    "members",
    "mod_log",
    "mode_changed",
    "mode_flags",
    "mode_words",
    "modes",
    "plain",
    "role_changed",
    "who",
]
