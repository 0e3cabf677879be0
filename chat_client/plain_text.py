"""What line mode prints for each server frame: one line (or a block), every untrusted part inert.

Text that other people control goes through `inert`, so it cannot move the cursor, retitle
the terminal or reorder a line; `--json` prints the frames instead (chat_client/plain.py).
"""

from __future__ import annotations

from chat_client.accounts import explain
from chat_client.modtext import ModerationFrame, members, plain
from chat_client.modtext import describe as describe_moderation
from chat_client.text import inert
from protocol import (
    Bye,
    ChatMessage,
    DirectMessage,
    Error,
    History,
    Joined,
    Left,
    Members,
    NickChanged,
    Notice,
    PasswdChanged,
    Pong,
    Registered,
    RoomList,
    SearchResults,
    ServerMessage,
    Topic,
    Unregistered,
    Welcome,
)
from protocol.names import name_key


def _time(ts: str) -> str:
    return inert(ts[11:19] if len(ts) >= 19 else ts)


def _date_time(ts: str) -> str:
    return inert(f"{ts[:10]} {ts[11:19]}" if len(ts) >= 19 else ts)


def describe(event: ServerMessage, me: str = "") -> str:
    """One human-readable line for an event (`me`: our nick, to tell our own DMs apart)."""
    if isinstance(event, ModerationFrame):
        return describe_moderation(event, me)
    match event:
        case ChatMessage(action=True):
            return (
                f"{_time(event.ts)} [{inert(event.room)}] * {inert(event.nick)} {inert(event.text)}"
            )
        case ChatMessage():
            return (
                f"{_time(event.ts)} [{inert(event.room)}] <{inert(event.nick)}> {inert(event.text)}"
            )
        case DirectMessage():
            line = f"{_time(event.ts)} [dm] <{inert(event.sender)} -> {inert(event.to)}> {inert(event.text)}"
            if event.offline and me and name_key(event.sender) == name_key(me):
                line += f" (stored: {inert(event.to)} is offline and gets it at next login)"
            elif event.offline:
                line += " (sent while you were offline)"
            return line
        case Joined():
            return f"{_time(event.ts)} [{inert(event.room)}] -> {inert(event.nick)} joined"
        case Left():
            why = f" ({inert(event.reason)})" if event.reason else ""
            return f"{_time(event.ts)} [{inert(event.room)}] <- {inert(event.nick)} left{why}"
        case History() if event.before is not None or event.complete is not None:
            room = inert(event.room)
            lines = [f"[{room}] older messages: {len(event.messages)}, oldest first"]
            lines += [f"  {describe(m)}" for m in event.messages]
            if event.complete:
                lines.append(f"[{room}] start of history")
            return "\n".join(lines)
        case History():
            lines = [f"[{inert(event.room)}] history: {len(event.messages)} messages"]
            lines += [f"  {describe(m)}" for m in event.messages]
            return "\n".join(lines)
        case SearchResults():
            room = inert(event.room)
            head = f"[{room}] search {inert(repr(event.query))}: {len(event.messages)} result(s)"
            lines = [head + (", newest first" if event.messages else "")]
            for m in event.messages:
                who = f"* {inert(m.nick)}" if m.action else f"<{inert(m.nick)}>"
                lines.append(f"  ? {_date_time(m.ts)} {who} {inert(m.text)}")
            lines.append(f"[{room}] end of search")
            return "\n".join(lines)
        case NickChanged():
            return f"* {inert(event.old)} is now {inert(event.new)}"
        case Members():
            return f"[{inert(event.room)}] members: {plain(members(event))}"
        case RoomList():
            rooms = [
                f"{inert(r.name)} ({r.members}) {inert(r.topic)}".rstrip() for r in event.rooms
            ]
            return "rooms: " + ("; ".join(rooms) if rooms else "none")
        case Topic():
            return f"[{inert(event.room)}] topic by {inert(event.nick)}: {inert(event.topic)}"
        case Welcome():
            motd = f" - {inert(event.motd)}" if event.motd else ""
            account = f", logged in as {inert(event.account)}" if event.account else ""
            return (
                f"* connected as {inert(event.nick)} to {inert(event.server.name)} "
                f"{inert(event.server.version)} ({inert(event.backend)}){account}{motd}"
            )
        case Notice():
            wall = "" if event.sender == "server" else "wall from "  # an admin's `wall`
            return f"{_time(event.ts)} -! {wall}{inert(event.sender)}: {inert(event.text)}"
        case Registered():
            return f"* registered: the nick {inert(event.account)} is your account (logged in)"
        case PasswdChanged():
            return "* account password changed"
        case Unregistered():
            return f"* account {inert(event.account)} deleted: the nick is free for anyone now"
        case Error():
            return f"! error {inert(explain(event, me or 'your nick', 'plain'))}"
        case Bye():
            return f"* server says bye: {inert(event.reason)}"
        case Pong():
            return f"* pong {inert(event.token)}"
    return inert(repr(event))  # pragma: no cover - every server message is handled above


__all__ = ["describe"]
