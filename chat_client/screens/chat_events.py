"""Server and connection events shown on the chat screen: logs, members, topics and status."""

from __future__ import annotations

import re
import time
from typing import TYPE_CHECKING

from chat_client import modtext
from chat_client.accounts import explain
from chat_client.conversations import SERVER_KEY, Conversation, Kind, room_key
from chat_client.render import (
    mention_pattern,
    message_line,
    nick_part,
    notice_line,
    quoted,
    search_line,
    separator_line,
    server_notice_line,
    system_line,
)
from chat_client.screens.moderation import JoinExtras, ModerationEvent, render
from chat_client.screens.presence import Presence
from chat_client.session import (
    Connected,
    ConnState,
    Halted,
    OutboxDrained,
    Rejected,
    RoundTrip,
    SessionEvent,
    StateChanged,
    Unreachable,
    Untrusted,
    halts,
)
from chat_client.text import inert
from chat_client.widgets.bars import StatusBar
from chat_client.wrapping import local_time
from protocol import (
    Bye,
    ChatMessage,
    DirectMessage,
    Error,
    ErrorCode,
    History,
    Joined,
    Left,
    Members,
    NickChanged,
    Notice,
    PasswdChanged,
    Registered,
    SearchResults,
    Topic,
    Unregistered,
)
from protocol import (
    RoomList as RoomListing,
)
from protocol.names import name_key

if TYPE_CHECKING:
    from chat_client.screens.chat import ChatScreen


class ServerEvents:
    """Applies each session event to the screen's conversations and widgets."""

    def __init__(self, screen: ChatScreen) -> None:
        self.screen = screen
        self._mention = mention_pattern(screen.me, screen.settings.highlights)
        #: The time now, in seconds since the epoch (tests move it).
        self.clock = time.time
        self._was_connected = False
        # Rooms rejoined after a reconnect: their next `history` is what was missed meanwhile.
        self._gap_fill: set[str] = set()
        self.presence = Presence(screen)  # away, whois, DMs kept for /resend

    @property
    def mention(self) -> re.Pattern[str]:
        """What marks a line as a mention of us: our nick and the highlight words."""
        return self._mention

    def refresh_mention(self) -> None:
        """What counts as a mention: our nick, and the highlight words of the settings."""
        self._mention = mention_pattern(self.screen.me, self.screen.settings.highlights)

    def _filtered(self, conv: Conversation, nick: str) -> bool:
        """Whether a join or part of `nick` in `conv` is left out of its log: `nick` is
        ignored, or (the smart filter) has said nothing there for smart_filter_delay minutes."""
        if self.screen.ignored(nick):
            return True
        settings = self.screen.settings
        if not settings.smart_filter:
            return False
        return not conv.spoke_since(nick, self.clock() - settings.smart_filter_delay * 60)

    def apply(self, event: SessionEvent) -> None:
        """Show one event; the screen catches and reports anything that goes wrong."""
        if not isinstance(event, Members | Topic | History | Joined | OutboxDrained | JoinExtras):
            # The server sends `topic` right after `members` on join, or not at all.
            self.screen.topic_on_join.clear()
        if self.presence.observe(event):
            return
        if isinstance(event, ModerationEvent):
            self.screen.moderation.apply(event)
            return
        match event:
            case StateChanged():
                self._got_state(event)
            case Connected():
                self._got_connected(event)
            case OutboxDrained():
                status = self.screen.query_one(StatusBar)
                status.pending = self.screen.session.pending
                status.redraw()
            case RoundTrip():
                status = self.screen.query_one(StatusBar)
                status.rtt = event.seconds
                status.redraw()
            case Rejected():
                self.screen.post_message(
                    self.screen.Refused(explain(event.error, self.screen.me, "form"), event.error)
                )
            case Halted():
                self._got_halted(event)
            case Unreachable():
                self.screen.post_message(self.screen.Unreachable(event.reason))
            case Untrusted():
                self.screen.post_message(self.screen.Untrusted(event.error))
            case Joined():
                self._got_joined(event)
            case History():
                self._got_history(event)
            case Members():
                self._got_members(event)
            case Left():
                self._got_left(event)
            case ChatMessage():
                self._got_message(event)
            case DirectMessage():
                self._got_dm(event)
            case NickChanged():
                self._got_nick(event)
            case Topic():
                self._got_topic(event)
            case RoomListing():
                self._got_room_list(event)
            case SearchResults():
                self._got_search(event)
            case Notice():
                self._got_notice(event)
            case Registered() | PasswdChanged() | Unregistered():
                self._got_account(event)
            case Error() if halts(event):
                pass  # the session halts next: `Halted` says it everywhere
            case Error():
                self.screen.notice(explain(event, self.screen.me), error=True)
            case Bye():
                self.screen.notice(f"server says goodbye: {event.reason}")

    def _got_state(self, event: StateChanged) -> None:
        status = self.screen.query_one(StatusBar)
        status.state = event.state
        status.retry_at = time.monotonic() + event.retry_in if event.retry_in is not None else None
        status.pending = self.screen.session.pending
        status.redraw()
        if event.state is ConnState.RECONNECTING and event.retry_in is not None:
            if self._was_connected:
                self._was_connected = False
                for conv in self.screen.joined_rooms():
                    self.screen.log_to(
                        conv, notice_line(f"disconnected: {event.reason}", error=True)
                    )
            self.screen.log_to(
                self.screen.conversations.get(SERVER_KEY),
                notice_line(f"{event.reason}; reconnecting in {event.retry_in:.1f}s"),
            )

    def _got_connected(self, event: Connected) -> None:
        self._was_connected = True
        self.screen.me = event.welcome.nick
        self.refresh_mention()
        status = self.screen.query_one(StatusBar)
        status.backend = event.welcome.backend
        status.nick = self.screen.me
        status.account = event.welcome.account
        status.pending = self.screen.session.pending
        status.redraw()
        server = self.screen.conversations.get(SERVER_KEY)
        info = event.welcome.server
        line = system_line(
            None,
            "connected to ",
            (f"{info.name} {info.version}", "bold"),
            " (backend ",
            (event.welcome.backend, "bold"),
            ") as ",
            nick_part(self.screen.me),
        )
        self.screen.log_to(server, line)
        if event.welcome.account:
            self.screen.log_to(
                server, system_line(None, "logged in as ", nick_part(event.welcome.account))
            )
        if event.welcome.motd:
            self.screen.log_to(server, system_line(None, "motd: ", quoted(event.welcome.motd)))
        self._gap_fill.clear()
        self.screen.history.forget_all()  # pages asked for went with the old connection
        if event.restarted:
            # A clean slate: ids, members, topics, roles and modes of the old instance mean
            # nothing to the new one. The rejoins say the new server's; the logs stay.
            for conv in self.screen.conversations.items.values():
                if conv.kind is Kind.ROOM:
                    conv.forget_room()
                else:
                    conv.forget_ids()
        elif event.reconnect:
            # The server sends a room's topic on join only when one is set: one cleared while
            # we were away would otherwise stay on screen.
            for conv in self.screen.joined_rooms():
                conv.topic = conv.topic_by = ""
        if event.reconnect:
            self.screen.refresh_chrome()
            why = "reconnected (the server restarted)" if event.restarted else "reconnected"
            for conv in self.screen.joined_rooms():
                self._gap_fill.add(conv.key)
                self.screen.log_to(conv, notice_line(why))
                conv.live_marked = False
        if event.flushed:
            self.screen.notice(f"sending {event.flushed} queued message(s)")

    def _got_joined(self, event: Joined) -> None:
        conv = self.screen.conversations.room(event.room)
        if name_key(event.nick) == name_key(self.screen.me):
            first = not conv.joined
            conv.joined = True
            conv.roles.joined()
            conv.live_marked = False
            self.screen.topic_on_join.add(conv.key)
            self.screen.ensure_log(conv)
            if first:
                line = system_line(event.ts, "you joined ", (conv.label, "bold"))
                self.screen.log_to(conv, line, ts=event.ts)
            if conv.key in self.screen.switch_on_join:
                self.screen.switch_on_join.discard(conv.key)
                self.screen.switch_to(conv.key)
            self.screen.refresh_chrome()
            return
        if event.nick not in conv.members:
            conv.members.append(event.nick)
        if not self._filtered(conv, event.nick):
            line = system_line(event.ts, nick_part(event.nick), " joined")
            self.screen.log_to(conv, line, ts=event.ts)
        self.screen.refresh_members(conv)

    def _got_history(self, event: History) -> None:
        if event.before is not None or event.complete is not None:
            self.screen.history.got_page(event)
            return
        conv = self.screen.conversations.room(event.room)
        # After a reconnect the history is the gap: messages missed while disconnected,
        # which count as unread (and as mentions) like live ones.
        gap = conv.key in self._gap_fill
        self._gap_fill.discard(conv.key)
        now = self.clock()
        for msg in event.messages:
            conv.hold(msg.id)
            conv.note_spoke(msg.nick, min(now, local_time(msg.ts).timestamp()))
        # What the ignored said is left out (their ids are held all the same).
        shown = [m for m in event.messages if not self.screen.ignored(m.nick)]
        if not shown:
            return
        count = len(shown)
        label = (
            f"missed while disconnected: {count} message(s)"
            if gap
            else f"history: {count} earlier message(s)"
        )
        self.screen.log_to(conv, separator_line(label), count=False)
        mentioned: ChatMessage | None = None
        for msg in shown:
            own = name_key(msg.nick) == name_key(self.screen.me)
            line = message_line(
                msg.ts,
                msg.nick,
                msg.text,
                action=msg.action,
                mention=self._mention,
                history=True,
            )
            mention = gap and not own and bool(self._mention.search(msg.text))
            if mention:
                mentioned = msg
            self.screen.log_to(
                conv, line, count=gap and not own, mention=mention, ts=msg.ts, message_id=msg.id
            )
        self.screen.log_to(conv, separator_line("live"), count=False)
        conv.live_marked = True
        if mentioned is not None:
            self._notify(conv, f"{mentioned.nick} in #{mentioned.room}", mentioned.text)

    def _got_search(self, event: SearchResults) -> None:
        """Search results: a marked block, newest first, in the room's log, and a list to
        jump into (what the ignored said is left out of both)."""
        conv = self.screen.conversations.get(room_key(event.room))
        target = conv if conv is not None else self.screen.conversations.current
        shown = [m for m in event.messages if not self.screen.ignored(m.nick)]
        count = len(shown)
        head = f"search {event.query!r} in #{event.room}: {count} result(s)"
        if count:
            head += ", newest first"
        if len(event.messages) > count:
            head += f" ({len(event.messages) - count} from ignored nicks left out)"
        self.screen.log_to(target, separator_line(inert(head)))
        for msg in shown:
            # Each result shows its date: no day rows between them (dated as the search).
            self.screen.log_to(target, search_line(msg.ts, msg.nick, msg.text, action=msg.action))
        self.screen.log_to(target, separator_line("end of search"))
        # The list to jump into, where it cannot get in the way: over the chat screen only
        # (not over a prompt), for the room being read, while we are in it.
        screen = self.screen
        if (
            shown
            and conv is not None
            and conv.joined
            and conv is screen.conversations.current
            and screen.app.screen is screen
        ):
            screen.show_search_results(conv, event.query, shown)

    def _got_notice(self, event: Notice) -> None:
        """A line from the server itself: in the server window, and where the user is."""
        line = server_notice_line(event.ts, event.sender, event.text)
        server = self.screen.conversations.get(SERVER_KEY)
        self.screen.log_to(server, line, ts=event.ts)
        current = self.screen.conversations.current
        if current is not server:
            self.screen.log_to(current, line, ts=event.ts)

    def _got_account(self, event: Registered | PasswdChanged | Unregistered) -> None:
        match event:
            case Registered():
                text = f"registered: the nick {event.account} is your account; you are logged in"
            case PasswdChanged():
                text = "account password changed; the next logins use the new one"
            case Unregistered():
                text = f"account {event.account} deleted: the nick is free for anyone now"
        self.screen.notice(text)
        self._show_account()

    def _show_account(self) -> None:
        status = self.screen.query_one(StatusBar)
        status.account = self.screen.session.account
        status.redraw()

    def _got_halted(self, event: Halted) -> None:
        """The session stopped reconnecting: say why in every room, and how to go on."""
        text = explain(event.error, self.screen.me)
        if event.error.code in (ErrorCode.NICK_REGISTERED, ErrorCode.BAD_LOGIN):
            text += "; not reconnecting until /login PASSWORD (or ctrl+r)"
        elif event.error.code != ErrorCode.REPLACED:
            text += "; not reconnecting by itself: ctrl+r connects again"
        targets: list[Conversation] = [
            c
            for c in (self.screen.conversations.get(SERVER_KEY), *self.screen.joined_rooms())
            if c is not None
        ]
        current = self.screen.conversations.current
        if current not in targets:
            targets.append(current)
        for conv in targets:
            self.screen.log_to(conv, notice_line(text, error=True))
        self._was_connected = False
        status = self.screen.query_one(StatusBar)
        status.account = None  # not logged in to anything while offline
        status.redraw()

    def _got_members(self, event: Members) -> None:
        key = room_key(event.room)
        conv = self.screen.conversations.get(key)
        if conv is not None and conv.joined:
            conv.members = list(event.nicks)
            conv.roles.reset(event)
            self.screen.refresh_chrome()  # the member list, and our role in the header
        if key in self.screen.who_requested:
            self.screen.who_requested.discard(key)
            line = render(None, modtext.who(event))
            self.screen.log_to(self.screen.conversations.current, line)

    def _got_left(self, event: Left) -> None:
        conv = self.screen.conversations.get(room_key(event.room))
        if conv is None:
            return
        if name_key(event.nick) == name_key(self.screen.me):
            self.screen.drop_conversation(conv)
            self.screen.notice(f"you left #{event.room}")
            return
        conv.members = [n for n in conv.members if name_key(n) != name_key(event.nick)]
        conv.roles.forget(event.nick)
        self.screen.unfollow_if_gone(event.nick)
        if self._filtered(conv, event.nick):
            self.screen.refresh_members(conv)
            return
        parts: list[str | tuple[str, str]] = [nick_part(event.nick), " left"]
        if event.reason:
            parts += [" (", quoted(event.reason), ")"]
        self.screen.log_to(conv, system_line(event.ts, *parts), ts=event.ts)
        self.screen.refresh_members(conv)

    def _got_message(self, event: ChatMessage) -> None:
        conv = self.screen.conversations.room(event.room)
        self.screen.topic_on_join.discard(conv.key)
        conv.hold(event.id)
        own = name_key(event.nick) == name_key(self.screen.me)
        conv.note_spoke(event.nick, self.clock())
        if not own and self.screen.ignored(event.nick):
            return
        mention = not own and bool(self._mention.search(event.text))
        line = message_line(
            event.ts,
            event.nick,
            event.text,
            action=event.action,
            mention=None if own else self._mention,
        )
        # Your own lines are never unread, even when they arrive in a room you left the view of.
        self.screen.log_to(
            conv, line, count=not own, mention=mention, ts=event.ts, message_id=event.id
        )
        self.screen.record(conv, event.ts, event.nick, event.text, action=event.action)
        if mention:
            self._notify(conv, f"{event.nick} in #{event.room}", event.text)

    def _got_dm(self, event: DirectMessage) -> None:
        own = name_key(event.sender) == name_key(self.screen.me)
        if not own and self.screen.ignored(event.sender):
            return
        other = event.to if own else event.sender
        conv = self.screen.conversations.dm(other)
        self.screen.ensure_log(conv)
        note = "sent while you were offline" if event.offline and not own else None
        line = message_line(
            event.ts, event.sender, event.text, action=bool(event.action), mention=None, note=note
        )
        self.screen.log_to(conv, line, count=not own, mention=not own, ts=event.ts)
        self.screen.record(conv, event.ts, event.sender, event.text, action=bool(event.action))
        if own and event.offline:
            text = f"stored: {event.to} is offline and gets it at next login"
            self.screen.log_to(conv, notice_line(text))
        if not own and not event.offline:
            # Stored messages arrive in a burst at login: counted as unread, not notified.
            self._notify(conv, f"direct message from {event.sender}", event.text)

    def _got_nick(self, event: NickChanged) -> None:
        if name_key(event.old) == name_key(self.screen.me):
            self.screen.me = event.new
            self.refresh_mention()
            status = self.screen.query_one(StatusBar)
            status.nick = self.screen.me
            status.redraw()
            self.screen.notice_to(
                self.screen.conversations.get(SERVER_KEY),
                system_line(None, "you are now ", nick_part(event.new)),
            )
        parts: list[str | tuple[str, str]] = [
            nick_part(event.old),
            " is now ",
            nick_part(event.new),
        ]
        if self.screen.follow_ignore(event.old, event.new):
            # An ignore by nick alone would end with a /nick: it follows them for this run.
            parts += [
                " (ignored: hidden under the new nick too, for this run; /unignore ",
                quoted(event.new),
                " shows them)",
            ]
        line = system_line(None, *parts)
        for conv in self.screen.joined_rooms():
            if any(name_key(n) == name_key(event.old) for n in conv.members):
                conv.roles.rename(event.old, event.new)
                conv.rename_speaker(event.old, event.new)
                conv.members = [
                    event.new if name_key(n) == name_key(event.old) else n for n in conv.members
                ]
                self.screen.log_to(conv, line, count=False)
        dm = self.screen.conversations.rename_dm(event.old, event.new)
        if dm is not None:
            self.screen.log_to(dm, line, count=False)
        self.screen.refresh_chrome()

    def _got_topic(self, event: Topic) -> None:
        conv = self.screen.conversations.room(event.room)
        conv.topic, conv.topic_by = event.topic, event.nick
        if conv.key in self.screen.topic_on_join:
            self.screen.topic_on_join.discard(conv.key)
            line = system_line(
                None, "topic: ", quoted(event.topic), " (set by ", nick_part(event.nick), ")"
            )
        elif event.topic:
            line = system_line(
                None, nick_part(event.nick), " set the topic to ", quoted(event.topic)
            )
        else:
            line = system_line(None, nick_part(event.nick), " cleared the topic")
        self.screen.log_to(conv, line, count=False)
        self.screen.refresh_chrome()

    def _got_room_list(self, event: RoomListing) -> None:
        target = self.screen.conversations.current
        if not event.rooms:
            self.screen.log_to(target, system_line(None, "no rooms yet: /join one"))
            return
        self.screen.log_to(target, system_line(None, f"{len(event.rooms)} room(s):"))
        for room in event.rooms:
            parts: list[str | tuple[str, str]] = [
                "  ",
                (f"#{room.name}", "bold"),
                f" ({room.members})",
            ]
            if room.topic:
                parts += ["  ", quoted(room.topic)]
            self.screen.log_to(target, system_line(None, *parts))

    def _notify(self, conv: Conversation, title: str, text: str) -> None:
        """A mention or a DM: a toast and the bell, unless it is in the conversation being read
        (the line is in front of the user already)."""
        if conv.key == self.screen.conversations.active:
            return
        self.screen.app.notify(inert(text)[:200], title=inert(title), markup=False, timeout=6)
        if self.screen.bell:
            self.screen.app.bell()
