"""Presence on the chat screen: away messages, /whois, and direct messages that did not arrive.

- `away_changed` is shown in the rooms we share with its nick (and in its DM window), and the
  member list marks who is away (`members.away` and `away_changed` keep the set).
- `whois_reply` is shown, a few lines, in the current window.
- Every `dm` we send carries a `ref`, so a `no_such_nick` that answers it is matched to it.
  The message is kept for `/resend`. When the window was opened for a nick that has never
  answered (a `/msg` to a nick that is neither online nor registered), the window is marked
  as reaching no one (`/close` closes it); a DM typed while we were offline is kept with a
  word that its nick may not have reconnected yet. When a nick with kept messages shows up
  again (it joins a room, speaks, comes back), the user is told that `/resend` sends them.

The lines are worded by chat_client/presence_text.py, parts that others control kept inert.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import TYPE_CHECKING

from textual.css.query import NoMatches

from chat_client import presence_text
from chat_client.conversations import SERVER_KEY, Conversation, Kind, dm_key
from chat_client.render import notice_line
from chat_client.screens.moderation import render
from chat_client.session import Connected, SessionEvent
from chat_client.widgets.member_list import MemberList
from protocol import (
    AwayChanged,
    ChatMessage,
    DirectMessage,
    Error,
    ErrorCode,
    Joined,
    Members,
    NickChanged,
    SendDm,
    WhoisReply,
)
from protocol.names import name_key

if TYPE_CHECKING:
    from chat_client.screens.chat import ChatScreen

#: Refs of our own DMs start with this (the server echoes the ref to us alone).
REF_PREFIX = "dm-"


@dataclass(frozen=True, slots=True)
class SentDm:
    """A DM we sent, until its echo (or its `no_such_nick`) comes back."""

    to: str
    text: str
    action: bool
    queued: bool  # typed while offline, sent on reconnecting


class Presence:
    """The chat screen's presence: who is away, whois answers, DMs kept for /resend."""

    def __init__(self, screen: ChatScreen) -> None:
        self.screen = screen
        self.away: dict[str, str] = {}  # name_key -> away message ("" when only `members` said)
        self._refs = itertools.count(1)
        self._sent: dict[str, SentDm] = {}  # ref -> DM in flight
        self.kept: dict[str, list[SentDm]] = {}  # name_key -> DMs that did not get through
        self.answered: set[str] = set()  # name_keys a DM went to or came from
        self.unreachable: set[str] = set()  # name_keys of DM windows that reach no one
        self._told: set[str] = set()  # name_keys told that /resend can send their DMs now
        self._attached = False

    # ------------------------------------------------------------------ commands

    def dm(self, to: str, text: str, action: bool = False) -> SendDm:
        """The `dm` request to send, with a ref of its own; `sent` records it once submitted."""
        return SendDm(
            to=to, text=text, ref=f"{REF_PREFIX}{next(self._refs)}", action=action or None
        )

    def sent(self, message: SendDm, went_out: bool) -> None:
        if message.ref is not None:
            self._sent[message.ref] = SentDm(
                message.to, message.text, bool(message.action), not went_out
            )

    def take_kept(self, nick: str) -> list[SentDm]:
        """The DMs kept for `nick` (forgotten here: /resend sends them again)."""
        key = name_key(nick)
        self.unreachable.discard(key)
        self._told.discard(key)
        return self.kept.pop(key, [])

    # ------------------------------------------------------------------ events

    def observe(self, event: SessionEvent) -> bool:
        """Note what `event` says of presence; True if it is shown here and nowhere else."""
        self._attach()
        match event:
            case AwayChanged():
                self._away_changed(event)
                return True
            case WhoisReply():
                target = self.screen.conversations.current
                for line in presence_text.whois(event):
                    self.screen.log_to(target, render(None, line))
                return True
            case Error() if event.code == ErrorCode.NO_SUCH_NICK and event.ref in self._sent:
                self._undelivered(self._sent.pop(event.ref))
                return True
            case Members():
                self._members(event)
            case DirectMessage():
                if event.ref is not None:
                    self._sent.pop(event.ref, None)
                own = name_key(event.sender) == name_key(self.screen.me)
                other = event.to if own else event.sender
                key = name_key(other)
                self.answered.add(key)
                self.unreachable.discard(key)
                if not own:
                    self._seen(other)
            case Joined():
                self._seen(event.nick)
            case ChatMessage():
                self._seen(event.nick)
            case NickChanged():
                message = self.away.pop(name_key(event.old), None)
                if message is not None:
                    self.away[name_key(event.new)] = message
                self._seen(event.new)
            case Connected():
                self.away.clear()  # the rejoins' `members` say it again
        return False

    def _attach(self) -> None:
        """Give the member list the away set (once the screen has one)."""
        if self._attached:
            return
        try:
            self.screen.query_one(MemberList).away = self.away
        except NoMatches:
            return
        self._attached = True

    def _members(self, event: Members) -> None:
        away = {name_key(nick) for nick in event.away or ()}
        for nick in event.nicks:
            key = name_key(nick)
            if key in away:
                self.away.setdefault(key, "")
            else:
                self.away.pop(key, None)

    def _away_changed(self, event: AwayChanged) -> None:
        key = name_key(event.nick)
        if event.message is None:
            self.away.pop(key, None)
        else:
            self.away[key] = event.message
        line = render(None, presence_text.away_changed(event, self.screen.me))
        if key == name_key(self.screen.me):
            server = self.screen.conversations.get(SERVER_KEY)
            self.screen.log_to(server, line)
            current = self.screen.conversations.current
            if current is not server:
                self.screen.log_to(current, line)
        else:
            for conv in self._shared(event.nick):
                self.screen.log_to(conv, line)
            if event.message is None:
                self._seen(event.nick)
        self.screen.refresh_chrome()

    def _shared(self, nick: str) -> list[Conversation]:
        """The rooms we are in with `nick`, and our DM window with it."""
        key = name_key(nick)
        convs = [
            c for c in self.screen.joined_rooms() if any(name_key(n) == key for n in c.members)
        ]
        dm = self.screen.conversations.get(dm_key(nick))
        return [*convs, dm] if dm is not None else convs

    def _undelivered(self, dm: SentDm) -> None:
        """A DM of ours came back `no_such_nick`: keep it, and say what that means here."""
        key = name_key(dm.to)
        kept = self.kept.setdefault(key, [])
        kept.append(dm)
        self._told.discard(key)
        conv = self.screen.conversations.get(dm_key(dm.to))
        count = f"{len(kept)} message(s)" if len(kept) > 1 else "the message"
        if dm.queued:
            text = (
                f"not delivered: {dm.to} is not online (they may not have reconnected yet); "
                f"{count} kept: /resend sends it again"
            )
        elif key not in self.answered:
            self.unreachable.add(key)
            text = (
                f"no_such_nick: no one called {dm.to} is online or registered, so this window "
                f"reaches no one: /close closes it ({count} kept: /resend sends it if they "
                "turn up)"
            )
        else:
            text = f"not delivered: {dm.to} is not online now; {count} kept: /resend sends it again"
        line = notice_line(text, error=True)
        self.screen.log_to(conv, line)
        current = self.screen.conversations.current
        if conv is None or current is not conv:
            self.screen.log_to(current, line)

    def _seen(self, nick: str) -> None:
        """`nick` is online: if we keep DMs for it, say that /resend sends them now."""
        key = name_key(nick)
        kept = self.kept.get(key)
        if not kept or key in self._told:
            return
        self._told.add(key)
        conv = self.screen.conversations.get(dm_key(nick)) or self.screen.conversations.current
        text = f"{nick} is online: /resend sends the {len(kept)} kept message(s)"
        self.screen.log_to(conv, notice_line(text))
        if conv.kind is Kind.DM:
            self.unreachable.discard(key)


__all__ = ["REF_PREFIX", "Presence", "SentDm"]
