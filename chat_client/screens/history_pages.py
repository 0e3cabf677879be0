"""Older history from the server: `/history`, scrolling up past the oldest line, and jumping to
a search result that is older than what the log holds.

Each page asked for (`history` with `before` set to the oldest id shown) is put above the log.
A page asked for by `/history` shows the top of the log and says what came; one asked for by
scrolling up keeps the view where it is, so the next PgUp (or wheel turn) reads on into it.
A jump asks for pages of `JUMP_PAGE` until the message is in the log or `JUMP_PAGES` pages
were loaded, then shows it the way ctrl+f shows what it finds.

The log holds `ChatLog.max_lines` lines and older lines never push newer ones out, so a full
log asks for no more (and says so). One page at a time per room: another ask while one is on its way (for up to `ASK_TIMEOUT`
seconds: an answer can be lost with the connection) does nothing.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING

from rich.text import Text

from chat_client.commands import NEWEST
from chat_client.conversations import Conversation, Kind
from chat_client.render import message_line, notice_line, separator_line
from chat_client.text import inert
from chat_client.wrapping import local_time
from protocol import GetHistory, History

if TYPE_CHECKING:
    from chat_client.screens.chat import ChatScreen

#: Messages per page asked for by scrolling up, and by a jump (the protocol's most).
SCROLL_PAGE = 100
JUMP_PAGE = 200
#: A jump loads at most this many pages (JUMP_PAGES * JUMP_PAGE messages) to reach a message.
JUMP_PAGES = 25
#: Seconds after which an unanswered ask no longer holds back the next.
ASK_TIMEOUT = 10.0


class Why(StrEnum):
    """Who asked for a page: what is done with it."""

    COMMAND = "command"  # /history: show the top of the log, and say what came
    SCROLL = "scroll"  # scrolling up at the top: keep the view, say nothing
    JUMP = "jump"  # on the way to a search result


@dataclass(slots=True)
class _Asked:
    why: Why
    at: float


@dataclass(slots=True)
class _Jump:
    message_id: int
    pages: int = 0


class HistoryPages:
    """Asks for older pages of a room's history, and shows them when they come."""

    def __init__(self, screen: ChatScreen) -> None:
        self.screen = screen
        self.clock = time.monotonic
        self._asked: dict[str, _Asked] = {}  # conversation key -> the page on its way
        self._jumps: dict[str, _Jump] = {}  # conversation key -> the message to reach

    # ------------------------------------------------------------------ asking

    def can_ask(self, conv: Conversation) -> bool:
        """A room we are in, whose start of history is not shown, with no page on its way."""
        if conv.kind is not Kind.ROOM or not conv.joined or conv.history_complete:
            return False
        asked = self._asked.get(conv.key)
        return asked is None or self.clock() - asked.at > ASK_TIMEOUT

    def ask(self, conv: Conversation, why: Why, limit: int) -> bool:
        """Ask for the page before the oldest message shown; False if it was not asked."""
        if not self.can_ask(conv) or not self.screen.session.connected:
            return False
        # Older lines never push out newer ones: a full log asks for no more (see module doc).
        room = self.screen.ensure_log(conv).room_left - 2  # the page's rules
        if room <= 0:
            self.screen.app.notify(
                f"{conv.label}'s log holds its last {self.screen.ensure_log(conv).max_lines} "
                "lines: /search finds older messages",
                title="log full",
            )
            return False
        request = GetHistory(
            room=conv.name, before=conv.oldest_id or NEWEST, limit=min(limit, room)
        )
        try:
            self.screen.session.submit(request)
        except (ValueError, OverflowError):
            return False
        self._asked[conv.key] = _Asked(why, self.clock())
        return True

    def scrolled_to_top(self, conv: Conversation) -> None:
        """The user scrolled up at (or to) the top of `conv`'s log: load what is before it."""
        self.ask(conv, Why.SCROLL, SCROLL_PAGE)

    def jump(self, conv: Conversation, message_id: int) -> None:
        """Show the line of message `message_id` of room `conv`, loading older pages to it."""
        self.screen.switch_to(conv.key)
        log = self.screen.ensure_log(conv)
        if log.show_message(message_id):
            return
        oldest = conv.oldest_id
        if conv.history_complete or (oldest is not None and message_id > oldest):
            # In the room's span but not in the log: left out (someone ignored) or cut.
            self.screen.notice("that message is not in the log (ignored, or cleared)")
            return
        self._jumps[conv.key] = _Jump(message_id)
        if not self.ask(conv, Why.JUMP, JUMP_PAGE):
            del self._jumps[conv.key]
            self.screen.notice("cannot load older history now: try again", error=True)
            return
        self.screen.notice("loading older history to reach that message…")

    def forget(self, conv: Conversation) -> None:
        """Nothing is on its way for `conv` any more (left, cleared, reconnected)."""
        self._asked.pop(conv.key, None)
        self._jumps.pop(conv.key, None)

    def forget_all(self) -> None:
        self._asked.clear()
        self._jumps.clear()

    # ------------------------------------------------------------------ answers

    def got_page(self, event: History) -> None:
        """An answer to `history` with `before`: older messages, put above the log."""
        conv = self.screen.conversations.room(event.room)
        asked = self._asked.pop(conv.key, None)
        why = asked.why if asked is not None else Why.COMMAND
        fresh = [m for m in sorted(event.messages, key=lambda m: m.id) if conv.hold(m.id)]
        fresh = [m for m in fresh if not self.screen.ignored(m.nick)]
        lines: list[tuple[Text, datetime | None] | tuple[Text, datetime | None, int]] = []
        if event.complete and not conv.history_complete:
            rule = separator_line(f"start of history of {inert(conv.label)}")
            lines.append((rule, local_time(fresh[0].ts) if fresh else None))
        mention = self.screen.events.mention
        for msg in fresh:
            line = message_line(
                msg.ts, msg.nick, msg.text, action=msg.action, mention=mention, history=True
            )
            lines.append((line, local_time(msg.ts), msg.id))
        if fresh and why is Why.COMMAND:
            rule = separator_line(f"{len(fresh)} older message(s), from /history")
            lines.append((rule, local_time(fresh[-1].ts)))
        if event.complete:
            conv.history_complete = True
        log = self.screen.ensure_log(conv)
        if lines:
            log.prepend(lines, keep_view=why is not Why.COMMAND)
        if why is Why.COMMAND:
            self._say_what_came(conv, len(fresh), bool(event.complete))
        elif why is Why.JUMP:
            self._jump_on(conv, bool(event.complete))

    def _say_what_came(self, conv: Conversation, count: int, complete: bool) -> None:
        if count:
            more = "; that is the start of history" if complete else ""
            text = f"{count} older message(s) of {conv.label} shown above{more}"
        elif complete:
            text = f"no older messages: this is the start of {conv.label}'s history"
        else:
            text = f"no older messages of {conv.label} that are not shown already"
        self.screen.log_to(conv, notice_line(text))

    def _jump_on(self, conv: Conversation, complete: bool) -> None:
        jump = self._jumps.get(conv.key)
        if jump is None:
            return
        jump.pages += 1
        if self.screen.ensure_log(conv).show_message(jump.message_id):
            del self._jumps[conv.key]
            return
        if complete:
            del self._jumps[conv.key]
            self.screen.notice("that message is not in the log (ignored, or cleared)")
            return
        if jump.pages >= JUMP_PAGES:
            del self._jumps[conv.key]
            loaded = JUMP_PAGES * JUMP_PAGE
            self.screen.notice(
                f"that message is more than {loaded} messages back: "
                "scroll up or /history to read on towards it"
            )
            return
        if not self.ask(conv, Why.JUMP, JUMP_PAGE):
            del self._jumps[conv.key]
            self.screen.notice("cannot load older history now: try again", error=True)
