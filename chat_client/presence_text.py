"""How presence frames read (`away_changed`, `whois_reply`), as lines of parts both clients
render, like chat_client/modtext.py: a plain string is the client's own wording, a `(text,
kind)` pair is something someone else controls and is only ever shown inert."""

from __future__ import annotations

from datetime import datetime

from chat_client.modtext import Line, Part, name, nick, plain, quote, room
from protocol import Members
from protocol.names import name_key
from protocol.presence import AwayChanged, WhoisReply


def _is(who: str, me: str) -> bool:
    return bool(me) and name_key(who) == name_key(me)


def duration(seconds: int) -> str:
    """`42s`, `3m 20s`, `2h 5m`, `3d 4h`: the two largest units."""
    seconds = max(0, seconds)
    units = (("d", 86400), ("h", 3600), ("m", 60), ("s", 1))
    parts: list[str] = []
    for unit, size in units:
        if seconds >= size or (unit == "s" and not parts):
            parts.append(f"{seconds // size}{unit}")
            seconds %= size
        if len(parts) == 2:
            break
    return " ".join(parts)


def _when(ts: str) -> Part:
    """`YYYY-MM-DD HH:MM` in local time; a timestamp that does not parse is shown inert."""
    try:
        when = datetime.fromisoformat(ts.replace("Z", "+00:00"))
    except ValueError:
        return name(ts[:32])
    return when.astimezone().strftime("%Y-%m-%d %H:%M")


def away_changed(event: AwayChanged, me: str) -> Line:
    """`alice is away: lunch` / `alice is back`; `you are ...` for our own."""
    you = _is(event.nick, me)
    who: Part = "you" if you else nick(event.nick)
    be = " are" if you else " is"
    if event.message is None:
        return [who, be, " back"]
    return [who, be, " away: ", quote(event.message)]


def whois(event: WhoisReply) -> list[Line]:
    """The answer to /whois, a few lines: who, away, rooms, idle and connected."""
    head: Line = ["whois ", nick(event.nick)]
    about: Line = []
    if event.account:
        about += ["logged in as ", name(event.account)]
    if event.local_user:
        about += [", " if about else "", "local user ", name(event.local_user)]
    if about:
        head += [" (", *about, ")"]
    lines = [head]
    if event.away is not None:
        lines.append(["  away: ", quote(event.away)])
    if event.rooms:
        rooms: Line = ["  in "]
        for index, joined in enumerate(event.rooms):
            rooms += [", " if index else "", room(joined)]
        lines.append(rooms)
    else:
        lines.append(["  in no room you can see"])
    idle = "said nothing lately" if event.idle is None else f"idle {duration(event.idle)}"
    lines.append([f"  {idle}, connected ", _when(event.connected)])
    return lines


def away_note(event: Members) -> str:
    """Line mode's addition to a `members` line: `; away: alice, bob` (or nothing)."""
    if not event.away:
        return ""
    return "; away: " + plain([p for n in event.away for p in (", ", nick(n))][1:])


__all__ = ["away_changed", "away_note", "duration", "whois"]
