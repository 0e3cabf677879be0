"""Moderation on the chat screen: the requests of `/op`, `/kick`, `/ban`... and what answers.

The requests are built by chat_client/moderation.py, the room's roles kept by
chat_client/roles.py and the lines worded by chat_client/modtext.py; this module puts them on
screen: lines in the room's log, the member list's marks, the header's badges.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text

from chat_client import modtext
from chat_client.conversations import SERVER_KEY, Conversation, Kind, room_key
from chat_client.moderation import is_empty_mode, request
from chat_client.render import nick_part, notice_line, quoted, system_line
from chat_client.text import inert
from protocol import (
    BanList,
    ClientMessage,
    Invited,
    Kicked,
    ModeChanged,
    Modes,
    ModLog,
    RoleChanged,
)
from protocol.names import name_key

if TYPE_CHECKING:
    from chat_client.screens.chat import ChatScreen

ModerationEvent = Kicked | RoleChanged | ModeChanged | Modes | BanList | Invited | ModLog
#: What the server may send a joiner between `joined` and `topic`, besides `history`/`members`.
JoinExtras = RoleChanged | Modes
#: What tab completes after `/mode `.
MODE_WORDS = ["invite_only", "moderated", "topic_lock", "secret", "limit", "on", "off"]


def render(ts: str | None, line: modtext.Line) -> Text:
    """A system line from parts: each untrusted part is appended inert, in its kind's style."""
    parts: list[str | tuple[str, str]] = []
    for part in line:
        if isinstance(part, str):
            parts.append(part)
        elif part[1] == modtext.NICK:
            parts.append(nick_part(part[0]))
        elif part[1] == modtext.QUOTE:
            parts.append(quoted(part[0]))
        else:
            parts.append((part[0], "bold"))
    return system_line(ts, *parts)


class Moderation:
    """The chat screen's moderation: builds the commands' requests, shows their answers."""

    def __init__(self, screen: ChatScreen) -> None:
        self.screen = screen
        # Rooms (room_key) whose `modes` was asked for with a bare /mode: shown even if known.
        self.modes_requested: set[str] = set()

    # ------------------------------------------------------------------ commands

    def request(self, name: str, arg: str) -> ClientMessage:
        """The request for `/name arg` on the current room; ValueError if it cannot be sent."""
        conv = self.screen.conversations.current
        room = conv.name if conv.kind is Kind.ROOM else None
        message = request(name, arg, room)
        if is_empty_mode(message):
            self.modes_requested.add(conv.key)
        return message

    def completions(self) -> dict[str, list[str]]:
        """Candidates for the arguments of some commands: `/unban` the masks banned here."""
        conv = self.screen.conversations.current
        masks = [m for m in conv.roles.bans if inert(m) == m and " " not in m]
        return {"/unban": masks, "/mode": MODE_WORDS}

    def badges(self, conv: Conversation) -> tuple[str, ...]:
        """The header's badges for a room: not a member, our role, muted, the modes."""
        if not conv.joined:
            return ("not a member: /join to rejoin",)
        roles, me = conv.roles, self.screen.me
        badges: list[str] = [] if roles.role(me) == "member" else [roles.role(me)]
        if roles.is_muted(me):
            badges.append("muted")
        flags = modtext.mode_flags(roles.modes)
        return (*badges, flags) if flags else tuple(badges)

    # ------------------------------------------------------------------ events

    def apply(self, event: ModerationEvent) -> None:
        match event:
            case Kicked():
                self._kicked(event)
            case RoleChanged():
                self._role_changed(event)
            case ModeChanged():
                self._mode_changed(event)
            case Modes():
                self._modes(event)
            case BanList():
                self._ban_list(event)
            case Invited():
                self._invited(event)
            case ModLog():
                self._lines(self._room_or_current(event.room), modtext.mod_log(event))

    def _me(self, nick: str) -> bool:
        return name_key(nick) == name_key(self.screen.me)

    def _room(self, room: str) -> Conversation | None:
        return self.screen.conversations.get(room_key(room))

    def _room_or_current(self, room: str | None) -> Conversation:
        conv = self._room(room) if room is not None else None
        return conv if conv is not None else self.screen.conversations.current

    def _lines(self, conv: Conversation, lines: list[modtext.Line]) -> None:
        for line in lines:
            self.screen.log_to(conv, render(None, line))

    def _kicked(self, event: Kicked) -> None:
        conv = self._room(event.room)
        if conv is None:
            return
        if not self._me(event.nick):
            conv.members = [n for n in conv.members if name_key(n) != name_key(event.nick)]
            conv.roles.forget(event.nick)
            self.screen.log_to(conv, render(event.ts, modtext.kicked(event, self.screen.me)))
            self.screen.refresh_members(conv)
            return
        # The room stays, with its log, marked as left: /join rejoins it.
        conv.joined = False
        conv.members = []
        conv.roles.clear()
        line = notice_line(modtext.plain(modtext.kicked(event, self.screen.me)), error=True)
        self.screen.log_to(conv, line, count=True, mention=True)
        current = self.screen.conversations.current
        if current is not conv:
            self.screen.log_to(current, line)
        self.screen.refresh_chrome()

    def _role_changed(self, event: RoleChanged) -> None:
        conv = self._room(event.room)
        if conv is None or not conv.joined:
            return
        change = conv.roles.change(event.nick, event.role, event.muted)
        for line in modtext.role_changed(event, change, self.screen.me):
            self.screen.log_to(conv, render(event.ts, line), count=self._me(event.nick))
        if self._me(event.nick):
            self.screen.refresh_chrome()
        else:
            self.screen.refresh_members(conv)

    def _mode_changed(self, event: ModeChanged) -> None:
        conv = self._room(event.room)
        if conv is None:
            return
        conv.roles.change_modes(event)
        self.screen.log_to(conv, render(event.ts, modtext.mode_changed(event)))
        self.screen.refresh_chrome()

    def _modes(self, event: Modes) -> None:
        conv = self._room(event.room)
        asked = room_key(event.room) in self.modes_requested
        self.modes_requested.discard(room_key(event.room))
        if conv is None:
            if asked:
                self._lines(self.screen.conversations.current, [modtext.modes(event)])
            return
        # Sent on every join when a mode is set: said again only when something changed.
        if conv.roles.set_modes(event) or asked:
            self._lines(conv, [modtext.modes(event)])
        self.screen.refresh_chrome()

    def _ban_list(self, event: BanList) -> None:
        conv = self._room(event.room) if event.room is not None else None
        if conv is not None:
            conv.roles.set_bans(event)
        self._lines(self._room_or_current(event.room), modtext.ban_list(event))

    def _invited(self, event: Invited) -> None:
        line = render(None, modtext.invited(event))
        if event.nick is not None:  # our own copy: in the room we invited to
            self.screen.log_to(self._room_or_current(event.room), line)
            return
        server = self.screen.conversations.get(SERVER_KEY)
        self.screen.log_to(server, line)
        current = self.screen.conversations.current
        if current is not server:
            self.screen.log_to(current, line)
        title = f"invitation to #{event.room}"
        self.screen.app.notify(
            inert(f"{event.by} invited you")[:200], title=inert(title), markup=False, timeout=6
        )


__all__ = ["MODE_WORDS", "JoinExtras", "Moderation", "ModerationEvent", "render"]
