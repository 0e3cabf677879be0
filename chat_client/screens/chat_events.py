"""Server and connection events shown on the chat screen: logs, members, topics and status."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from chat_client.conversations import SERVER_KEY, room_key
from chat_client.render import (
    mention_pattern,
    message_line,
    nick_part,
    notice_line,
    quoted,
    separator_line,
    system_line,
)
from chat_client.session import (
    Connected,
    ConnState,
    OutboxDrained,
    Rejected,
    RoundTrip,
    SessionEvent,
    StateChanged,
)
from chat_client.text import inert
from chat_client.widgets.bars import StatusBar
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
    Topic,
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
        self._mention = mention_pattern(screen.me)
        self._was_connected = False
        # Rooms rejoined after a reconnect: their next `history` is what was missed meanwhile.
        self._gap_fill: set[str] = set()

    def apply(self, event: SessionEvent) -> None:
        """Show one event; the screen catches and reports anything that goes wrong."""
        if not isinstance(event, Members | Topic | History | Joined | OutboxDrained):
            # The server sends `topic` right after `members` on join, or not at all.
            self.screen.topic_on_join.clear()
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
                    self.screen.Refused(f"{event.error.code}: {event.error.message}")
                )
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
            case Error():
                self.screen.notice(f"{event.code}: {event.message}", error=True)
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
        self._mention = mention_pattern(self.screen.me)
        status = self.screen.query_one(StatusBar)
        status.backend = event.welcome.backend
        status.nick = self.screen.me
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
        if event.welcome.motd:
            self.screen.log_to(server, system_line(None, "motd: ", quoted(event.welcome.motd)))
        self._gap_fill.clear()
        if event.reconnect:
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
            conv.live_marked = False
            self.screen.topic_on_join.add(conv.key)
            self.screen.ensure_log(conv)
            if first:
                self.screen.log_to(conv, system_line(event.ts, "you joined ", (conv.label, "bold")))
            if conv.key in self.screen.switch_on_join:
                self.screen.switch_on_join.discard(conv.key)
                self.screen.switch_to(conv.key)
            self.screen.refresh_chrome()
            return
        if event.nick not in conv.members:
            conv.members.append(event.nick)
        self.screen.log_to(conv, system_line(event.ts, nick_part(event.nick), " joined"))
        self.screen.refresh_members(conv)

    def _got_history(self, event: History) -> None:
        conv = self.screen.conversations.room(event.room)
        # After a reconnect the history is the gap: messages missed while disconnected,
        # which count as unread (and as mentions) like live ones.
        gap = conv.key in self._gap_fill
        self._gap_fill.discard(conv.key)
        if not event.messages:
            return
        count = len(event.messages)
        label = (
            f"missed while disconnected: {count} message(s)"
            if gap
            else f"history: {count} earlier message(s)"
        )
        self.screen.log_to(conv, separator_line(label), count=False)
        mentioned: ChatMessage | None = None
        for msg in event.messages:
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
            self.screen.log_to(conv, line, count=gap and not own, mention=mention)
        self.screen.log_to(conv, separator_line("live"), count=False)
        conv.live_marked = True
        if mentioned is not None:
            self._notify(f"{mentioned.nick} in #{mentioned.room}", mentioned.text)

    def _got_members(self, event: Members) -> None:
        key = room_key(event.room)
        conv = self.screen.conversations.get(key)
        if conv is not None and conv.joined:
            conv.members = list(event.nicks)
            self.screen.refresh_members(conv)
        if key in self.screen.who_requested:
            self.screen.who_requested.discard(key)
            parts: list[str | tuple[str, str]] = [f"{len(event.nicks)} in ", (event.room, "bold")]
            for index, nick in enumerate(event.nicks):
                parts += [": " if index == 0 else ", ", nick_part(nick)]
            self.screen.log_to(self.screen.conversations.current, system_line(None, *parts))

    def _got_left(self, event: Left) -> None:
        conv = self.screen.conversations.get(room_key(event.room))
        if conv is None:
            return
        if name_key(event.nick) == name_key(self.screen.me):
            self.screen.drop_conversation(conv)
            self.screen.notice(f"you left #{event.room}")
            return
        conv.members = [n for n in conv.members if name_key(n) != name_key(event.nick)]
        parts: list[str | tuple[str, str]] = [nick_part(event.nick), " left"]
        if event.reason:
            parts += [" (", quoted(event.reason), ")"]
        self.screen.log_to(conv, system_line(event.ts, *parts))
        self.screen.refresh_members(conv)

    def _got_message(self, event: ChatMessage) -> None:
        conv = self.screen.conversations.room(event.room)
        self.screen.topic_on_join.discard(conv.key)
        own = name_key(event.nick) == name_key(self.screen.me)
        mention = not own and bool(self._mention.search(event.text))
        line = message_line(
            event.ts,
            event.nick,
            event.text,
            action=event.action,
            mention=None if own else self._mention,
        )
        # Your own lines are never unread, even when they arrive in a room you left the view of.
        self.screen.log_to(conv, line, count=not own, mention=mention)
        if mention:
            self._notify(f"{event.nick} in #{event.room}", event.text)

    def _got_dm(self, event: DirectMessage) -> None:
        own = name_key(event.sender) == name_key(self.screen.me)
        other = event.to if own else event.sender
        conv = self.screen.conversations.dm(other)
        self.screen.ensure_log(conv)
        line = message_line(event.ts, event.sender, event.text, mention=None)
        self.screen.log_to(conv, line, count=not own, mention=not own)
        if not own:
            self._notify(f"direct message from {event.sender}", event.text)

    def _got_nick(self, event: NickChanged) -> None:
        if name_key(event.old) == name_key(self.screen.me):
            self.screen.me = event.new
            self._mention = mention_pattern(self.screen.me)
            status = self.screen.query_one(StatusBar)
            status.nick = self.screen.me
            status.redraw()
            self.screen.notice_to(
                self.screen.conversations.get(SERVER_KEY),
                system_line(None, "you are now ", nick_part(event.new)),
            )
        line = system_line(None, nick_part(event.old), " is now ", nick_part(event.new))
        for conv in self.screen.joined_rooms():
            if any(name_key(n) == name_key(event.old) for n in conv.members):
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

    def _notify(self, title: str, text: str) -> None:
        self.screen.app.notify(inert(text)[:200], title=inert(title), markup=False, timeout=6)
