"""Older history from the server: `/history`, scrolling up past the oldest line, and jumping to
a search result that is older than what the log holds.

Each page asked for (`history` with `before` set to the oldest id shown) is put above the log.
A page asked for by `/history` shows the top of the log and says what came; one asked for by
scrolling up keeps the view where it is, so the next PgUp (or wheel turn) reads on into it.
A jump asks for pages of `JUMP_PAGE` until the message is in the log, then shows it the way
ctrl+f shows what it finds.

The log holds `ChatLog.max_lines` lines and older lines never push newer ones out: a page is
cut to what the log has room for (its oldest messages left out, and not counted as shown, so
they can be asked for again), and a full log asks for no more (and says so, once). One page at
a time per room: another ask while one is on its way (for up to `ASK_TIMEOUT` seconds: an
answer can be lost with the connection) does nothing, and a page that nobody is waiting for
any more (the log was cleared, the room left, the connection lost) is dropped.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING

from rich.text import Text

from chat_client.commands import NEWEST
from chat_client.conversations import Conversation, Kind, room_key
from chat_client.render import message_line, notice_line, separator_line
from chat_client.text import inert
from chat_client.wrapping import local_time
from protocol import ChatMessage, GetHistory, History

if TYPE_CHECKING:
    from chat_client.screens.chat import ChatScreen

#: Messages per page asked for by scrolling up, and by a jump (the protocol's most).
SCROLL_PAGE = 100
JUMP_PAGE = 200
#: Seconds after which an unanswered ask no longer holds back the next.
ASK_TIMEOUT = 10.0


class Why(StrEnum):
    """Who asked for a page: what is done with it."""

    COMMAND = "command"  # /history: show the top of the log, and say what came
    SCROLL = "scroll"  # scrolling up at the top: keep the view, say nothing
    JUMP = "jump"  # on the way to a search result


class Refused(StrEnum):
    """Why a page was not asked for."""

    NOT_IN_ROOM = "not in the room"
    COMPLETE = "the start of history is shown"
    ON_ITS_WAY = "a page is on its way"
    OFFLINE = "not connected"
    LOG_FULL = "the log is full"


@dataclass(slots=True)
class _Asked:
    why: Why
    at: float


class HistoryPages:
    """Asks for older pages of a room's history, and shows them when they come."""

    def __init__(self, screen: ChatScreen) -> None:
        self.screen = screen
        self.clock = time.monotonic
        self._asked: dict[str, _Asked] = {}  # conversation key -> the page on its way
        self._jumps: dict[str, int] = {}  # conversation key -> the message id to reach
        self._full_said: set[str] = set()  # conversations told that their log is full

    # ------------------------------------------------------------------ asking

    def refusal(self, conv: Conversation) -> Refused | None:
        """Why no page can be asked for `conv` now, or None if one can."""
        if conv.kind is not Kind.ROOM or not conv.joined:
            return Refused.NOT_IN_ROOM
        if conv.history_complete:
            return Refused.COMPLETE
        asked = self._asked.get(conv.key)
        if asked is not None and self.clock() - asked.at <= ASK_TIMEOUT:
            return Refused.ON_ITS_WAY
        if not self.screen.session.connected:
            return Refused.OFFLINE
        if self._room_for(conv, Why.COMMAND) <= 0:
            return Refused.LOG_FULL
        return None

    def _room_for(self, conv: Conversation, why: Why) -> int:
        """How many messages a page may bring: the log's room, less its rules and notice."""
        reserve = 3 if why is Why.COMMAND else 1  # start-of-history rule, page rule, notice
        return self.screen.ensure_log(conv).room_left - reserve

    def ask(self, conv: Conversation, why: Why, limit: int) -> Refused | None:
        """Ask for the page before the oldest message shown; why not, if it was not."""
        refused = self.refusal(conv)
        if refused is Refused.LOG_FULL and conv.key not in self._full_said:
            self._full_said.add(conv.key)
            lines = self.screen.ensure_log(conv).max_lines
            self.screen.app.notify(
                f"{conv.label}'s log holds its last {lines} lines: /search finds older "
                "messages, ctrl+l clears the log",
                title="log full",
            )
        if refused is not None:
            return refused
        room = self._room_for(conv, why)
        request = GetHistory(
            room=conv.name, before=conv.oldest_id or NEWEST, limit=min(limit, room)
        )
        try:
            self.screen.session.submit(request)
        except (ValueError, OverflowError):
            return Refused.OFFLINE
        self._asked[conv.key] = _Asked(why, self.clock())
        return None

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
        self._jumps[conv.key] = message_id
        refused = self.ask(conv, Why.JUMP, JUMP_PAGE)
        if refused is Refused.ON_ITS_WAY:
            return  # the page on its way goes on towards the message when it comes
        if refused is not None:
            del self._jumps[conv.key]
            self.screen.notice(self._cannot_reach(conv, refused), error=True)

    def refused_text(self, conv: Conversation, refused: Refused) -> str:
        """What to tell the user when a page for `conv` was not asked for."""
        lines = self.screen.ensure_log(conv).max_lines
        match refused:
            case Refused.NOT_IN_ROOM:
                return f"you are not in {conv.label} any more: /join to rejoin"
            case Refused.COMPLETE:
                return f"the start of {conv.label}'s history is shown already"
            case Refused.ON_ITS_WAY:
                return f"older messages of {conv.label} are on their way"
            case Refused.OFFLINE:
                return "not connected: history was not asked for"
            case Refused.LOG_FULL:
                return f"{conv.label}'s log holds its last {lines} lines: ctrl+l clears it"

    def _cannot_reach(self, conv: Conversation, refused: Refused) -> str:
        if refused is Refused.LOG_FULL:
            lines = self.screen.ensure_log(conv).max_lines
            return (
                f"that message is further back than {conv.label}'s log holds ({lines} lines): "
                "ctrl+l clears the log, then pick it again"
            )
        return f"cannot reach that message: {self.refused_text(conv, refused)}"

    def forget(self, conv: Conversation) -> None:
        """Nothing is on its way for `conv` any more (left, cleared, reconnected)."""
        self._asked.pop(conv.key, None)
        self._jumps.pop(conv.key, None)
        self._full_said.discard(conv.key)

    def forget_all(self) -> None:
        self._asked.clear()
        self._jumps.clear()

    # ------------------------------------------------------------------ answers

    def got_page(self, event: History) -> None:
        """An answer to `history` with `before`: older messages, put above the log."""
        conv = self.screen.conversations.get(room_key(event.room))
        if conv is None or not conv.joined:
            return  # the room was left or closed meanwhile
        asked = self._asked.pop(conv.key, None)
        if asked is None:
            return  # nobody waits for it: cleared, or asked on an earlier connection
        why = asked.why
        # The page's newest messages first, as far as the log has room for them.
        page = [m for m in sorted(event.messages, key=lambda m: m.id) if m.id not in conv.ids]
        room = max(0, self._room_for(conv, why))
        complete = bool(event.complete)
        if len(page) > room:
            page, complete = page[len(page) - room :], False
        for msg in page:
            conv.hold(msg.id)
        fresh = [m for m in page if not self.screen.ignored(m.nick)]
        log = self.screen.ensure_log(conv)
        lines = self._page_lines(conv, fresh, why, complete)
        if complete:
            conv.history_complete = True
        if lines:
            log.prepend(lines, keep_view=why is not Why.COMMAND)
        if why is Why.COMMAND:
            self._say_what_came(conv, len(fresh), complete)
        if conv.key in self._jumps:
            self._jump_on(conv, complete)

    def _page_lines(
        self, conv: Conversation, fresh: list[ChatMessage], why: Why, complete: bool
    ) -> list[tuple[Text, datetime | None] | tuple[Text, datetime | None, int]]:
        lines: list[tuple[Text, datetime | None] | tuple[Text, datetime | None, int]] = []
        if complete and not conv.history_complete:
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
        return lines

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
        message_id = self._jumps[conv.key]
        if self.screen.ensure_log(conv).show_message(message_id):
            del self._jumps[conv.key]
            return
        if complete:
            del self._jumps[conv.key]
            self.screen.notice("that message is not in the log (ignored, or cleared)")
            return
        refused = self.ask(conv, Why.JUMP, JUMP_PAGE)
        if refused is not None:
            del self._jumps[conv.key]
            self.screen.notice(self._cannot_reach(conv, refused), error=True)
