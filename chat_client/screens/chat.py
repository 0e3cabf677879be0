"""The chat screen: room list, log, members, status and input, driven by a Session worker."""

from __future__ import annotations

import asyncio
import time

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.message import Message
from textual.screen import Screen
from textual.widgets import ContentSwitcher, Footer

from chat_client.commands import COMMANDS, command_names, lookup, say_text, split_command
from chat_client.conversations import SERVER_KEY, Conversation, Conversations, Kind, room_key
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
    Rejected,
    RoundTrip,
    Session,
    SessionEvent,
    StateChanged,
)
from chat_client.text import inert
from chat_client.widgets.bars import StatusBar, TopicBar
from chat_client.widgets.chat_input import ChatInput
from chat_client.widgets.chat_log import ChatLog
from chat_client.widgets.member_list import MemberList
from chat_client.widgets.room_list import RoomList
from protocol import (
    Bye,
    ChangeNick,
    ChatMessage,
    DirectMessage,
    Error,
    History,
    Join,
    Joined,
    Leave,
    Left,
    ListRooms,
    Members,
    NickChanged,
    Say,
    SendDm,
    SetTopic,
    Topic,
    Who,
)
from protocol import (
    RoomList as RoomListing,
)
from protocol.messages import _Message
from protocol.names import name_key


class ChatScreen(Screen[None]):
    """Everything a connected user sees. Network events arrive through `handle`."""

    BINDINGS = [
        Binding("ctrl+n", "next_conversation", "Next room"),
        Binding("ctrl+b", "previous_conversation", "Prev room"),
        Binding("alt+down", "next_conversation", "Next room", show=False),
        Binding("alt+up", "previous_conversation", "Prev room", show=False),
        Binding("ctrl+r", "reconnect", "Reconnect"),
        Binding("ctrl+l", "clear", "Clear log", show=False),
        Binding("ctrl+q", "quit", "Quit", priority=True),
    ]

    def __init__(self, session: Session, server_label: str, *, cursor_blink: bool = True) -> None:
        super().__init__()
        self.session = session
        self.server_label = server_label
        self.cursor_blink = cursor_blink
        self.conversations = Conversations(server_label)
        self.me = session.nick
        self._mention = mention_pattern(self.me)
        self._switch_on_join: set[str] = {room_key(r) for r in session.initial_rooms}
        self._who_requested: set[str] = set()
        self._topic_on_join: set[str] = set()
        self._was_connected = False
        self._room_list_dirty = False

    # ------------------------------------------------------------------ layout

    def compose(self) -> ComposeResult:
        yield StatusBar(self.server_label, id="status")
        yield TopicBar(id="topic")
        with Horizontal(id="main"):
            yield RoomList(id="rooms")
            server = self.conversations.current
            with ContentSwitcher(initial=server.widget_id, id="logs"):
                yield ChatLog(id=server.widget_id)
            yield MemberList(id="members")
        yield ChatInput(id="input", placeholder="type a message, or /help")
        yield Footer()

    def on_mount(self) -> None:
        chat_input = self.query_one(ChatInput)
        chat_input.cursor_blink = self.cursor_blink
        chat_input.source.commands = command_names
        chat_input.source.nicks = self._completion_nicks
        chat_input.source.rooms = self.conversations.room_names
        chat_input.focus()
        self.log_to(
            self.conversations.current,
            notice_line(f"connecting to {self.server_label} as {self.me} ..."),
        )
        self._refresh_chrome()
        self.run_network()

    # ------------------------------------------------------------------ network worker

    @work(exclusive=True, group="net")
    async def run_network(self) -> None:
        """Run the session; it reconnects by itself, and an unexpected error restarts it."""
        while True:
            try:
                await self.session.run(self.handle)
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # keep the UI alive whatever the network layer does
                self.notice(f"network error: {type(exc).__name__}: {exc}; retrying", error=True)
                await asyncio.sleep(1.0)

    def handle(self, event: SessionEvent) -> None:
        """One event from the session, applied to the model and the widgets."""
        try:
            self._handle(event)
        except Exception as exc:  # a bad event must not take the client down
            self.notice(f"could not show an event: {type(exc).__name__}: {exc}", error=True)

    def _handle(self, event: SessionEvent) -> None:
        if not isinstance(event, Members | Topic | History | Joined):
            # The server sends `topic` right after `members` on join, or not at all.
            self._topic_on_join.clear()
        match event:
            case StateChanged():
                self._got_state(event)
            case Connected():
                self._got_connected(event)
            case RoundTrip():
                status = self.query_one(StatusBar)
                status.rtt = event.seconds
                status.redraw()
            case Rejected():
                self.post_message(ChatScreen.Refused(f"{event.error.code}: {event.error.message}"))
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
                self.notice(f"{event.code}: {event.message}", error=True)
            case Bye():
                self.notice(f"server says goodbye: {event.reason}")

    class Refused(Message):
        """The server refused our nick or password; the app shows the connect form again."""

        def __init__(self, reason: str) -> None:
            super().__init__()
            self.reason = reason

    # ------------------------------------------------------------------ event handlers

    def _got_state(self, event: StateChanged) -> None:
        status = self.query_one(StatusBar)
        status.state = event.state
        status.retry_at = time.monotonic() + event.retry_in if event.retry_in is not None else None
        status.pending = self.session.pending
        status.redraw()
        if event.state is ConnState.RECONNECTING and event.retry_in is not None:
            if self._was_connected:
                self._was_connected = False
                for conv in self._joined_rooms():
                    self.log_to(conv, notice_line(f"disconnected: {event.reason}", error=True))
            self.log_to(
                self.conversations.get(SERVER_KEY),
                notice_line(f"{event.reason}; reconnecting in {event.retry_in:.1f}s"),
            )

    def _got_connected(self, event: Connected) -> None:
        self._was_connected = True
        self.me = event.welcome.nick
        self._mention = mention_pattern(self.me)
        status = self.query_one(StatusBar)
        status.backend = event.welcome.backend
        status.nick = self.me
        status.pending = self.session.pending
        status.redraw()
        server = self.conversations.get(SERVER_KEY)
        info = event.welcome.server
        line = system_line(
            None,
            "connected to ",
            (f"{info.name} {info.version}", "bold"),
            " (backend ",
            (event.welcome.backend, "bold"),
            ") as ",
            nick_part(self.me),
        )
        self.log_to(server, line)
        if event.welcome.motd:
            self.log_to(server, system_line(None, "motd: ", quoted(event.welcome.motd)))
        if event.reconnect:
            why = "reconnected (the server restarted)" if event.restarted else "reconnected"
            for conv in self._joined_rooms():
                self.log_to(conv, notice_line(why))
                conv.live_marked = False
        if event.flushed:
            self.notice(f"sending {event.flushed} queued message(s)")

    def _got_joined(self, event: Joined) -> None:
        conv = self.conversations.room(event.room)
        if name_key(event.nick) == name_key(self.me):
            first = not conv.joined
            conv.joined = True
            conv.live_marked = False
            self._topic_on_join.add(conv.key)
            self._ensure_log(conv)
            if first:
                self.log_to(conv, system_line(event.ts, "you joined ", (conv.label, "bold")))
            if conv.key in self._switch_on_join:
                self._switch_on_join.discard(conv.key)
                self.switch_to(conv.key)
            self._refresh_chrome()
            return
        if event.nick not in conv.members:
            conv.members.append(event.nick)
        self.log_to(conv, system_line(event.ts, nick_part(event.nick), " joined"))
        self._refresh_members(conv)

    def _got_history(self, event: History) -> None:
        conv = self.conversations.room(event.room)
        if not event.messages:
            return
        count = len(event.messages)
        self.log_to(conv, separator_line(f"history: {count} earlier message(s)"), count=False)
        for msg in event.messages:
            line = message_line(
                msg.ts, msg.nick, msg.text, action=msg.action, mention=self._mention, history=True
            )
            self.log_to(conv, line, count=False)
        self.log_to(conv, separator_line("live"), count=False)
        conv.live_marked = True

    def _got_members(self, event: Members) -> None:
        key = room_key(event.room)
        conv = self.conversations.get(key)
        if conv is not None and conv.joined:
            conv.members = list(event.nicks)
            self._refresh_members(conv)
        if key in self._who_requested:
            self._who_requested.discard(key)
            parts: list[str | tuple[str, str]] = [f"{len(event.nicks)} in ", (event.room, "bold")]
            for index, nick in enumerate(event.nicks):
                parts += [": " if index == 0 else ", ", nick_part(nick)]
            self.log_to(self.conversations.current, system_line(None, *parts))

    def _got_left(self, event: Left) -> None:
        conv = self.conversations.get(room_key(event.room))
        if conv is None:
            return
        if name_key(event.nick) == name_key(self.me):
            self._drop_conversation(conv)
            self.notice(f"you left #{event.room}")
            return
        conv.members = [n for n in conv.members if name_key(n) != name_key(event.nick)]
        parts: list[str | tuple[str, str]] = [nick_part(event.nick), " left"]
        if event.reason:
            parts += [" (", quoted(event.reason), ")"]
        self.log_to(conv, system_line(event.ts, *parts))
        self._refresh_members(conv)

    def _got_message(self, event: ChatMessage) -> None:
        conv = self.conversations.room(event.room)
        self._topic_on_join.discard(conv.key)
        own = name_key(event.nick) == name_key(self.me)
        mention = not own and bool(self._mention.search(event.text))
        line = message_line(
            event.ts,
            event.nick,
            event.text,
            action=event.action,
            mention=None if own else self._mention,
        )
        self.log_to(conv, line, count=True, mention=mention)
        if mention:
            self._notify(f"{event.nick} in #{event.room}", event.text)

    def _got_dm(self, event: DirectMessage) -> None:
        own = name_key(event.sender) == name_key(self.me)
        other = event.to if own else event.sender
        conv = self.conversations.dm(other)
        self._ensure_log(conv)
        line = message_line(event.ts, event.sender, event.text, mention=None)
        self.log_to(conv, line, count=True, mention=not own)
        if not own:
            self._notify(f"direct message from {event.sender}", event.text)

    def _got_nick(self, event: NickChanged) -> None:
        if name_key(event.old) == name_key(self.me):
            self.me = event.new
            self._mention = mention_pattern(self.me)
            status = self.query_one(StatusBar)
            status.nick = self.me
            status.redraw()
            self.notice_to(
                self.conversations.get(SERVER_KEY),
                system_line(None, "you are now ", nick_part(event.new)),
            )
        line = system_line(None, nick_part(event.old), " is now ", nick_part(event.new))
        for conv in self._joined_rooms():
            if any(name_key(n) == name_key(event.old) for n in conv.members):
                conv.members = [
                    event.new if name_key(n) == name_key(event.old) else n for n in conv.members
                ]
                self.log_to(conv, line, count=False)
        dm = self.conversations.rename_dm(event.old, event.new)
        if dm is not None:
            self.log_to(dm, line, count=False)
        self._refresh_chrome()

    def _got_topic(self, event: Topic) -> None:
        conv = self.conversations.room(event.room)
        conv.topic, conv.topic_by = event.topic, event.nick
        if conv.key in self._topic_on_join:
            self._topic_on_join.discard(conv.key)
            line = system_line(
                None, "topic: ", quoted(event.topic), " (set by ", nick_part(event.nick), ")"
            )
        elif event.topic:
            line = system_line(
                None, nick_part(event.nick), " set the topic to ", quoted(event.topic)
            )
        else:
            line = system_line(None, nick_part(event.nick), " cleared the topic")
        self.log_to(conv, line, count=False)
        self._refresh_chrome()

    def _got_room_list(self, event: RoomListing) -> None:
        target = self.conversations.current
        if not event.rooms:
            self.log_to(target, system_line(None, "no rooms yet: /join one"))
            return
        self.log_to(target, system_line(None, f"{len(event.rooms)} room(s):"))
        for room in event.rooms:
            parts: list[str | tuple[str, str]] = [
                "  ",
                (f"#{room.name}", "bold"),
                f" ({room.members})",
            ]
            if room.topic:
                parts += ["  ", quoted(room.topic)]
            self.log_to(target, system_line(None, *parts))

    # ------------------------------------------------------------------ input

    def on_chat_input_line(self, event: ChatInput.Line) -> None:
        event.stop()
        self.run_line(event.text)

    def run_line(self, line: str) -> None:
        """Say a line in the current conversation, or run it if it is a slash command."""
        split = split_command(line)
        conv = self.conversations.current
        if split is None:
            text = say_text(line)
            if conv.kind is Kind.ROOM:
                self._submit(Say(room=conv.name, text=text), text)
            elif conv.kind is Kind.DM:
                self._submit(SendDm(to=conv.name, text=text), text)
            else:
                self.notice("this is the server window: /join a room or /msg someone first")
            return
        name, arg = split
        spec = lookup(name)
        if spec is None:
            self.notice(f"unknown command /{name} (try /help)", error=True)
            return
        handler = getattr(self, f"_cmd_{spec.name}")
        handler(arg)

    def _submit(self, message: _Message, text: str | None = None) -> bool:
        """Hand a request to the session, telling the user when it could not go out now."""
        try:
            sent = self.session.submit(message)
        except ValueError:
            self.notice(f"not connected: {message.type} was not sent", error=True)
            return False
        except OverflowError as exc:
            self.notice(f"not sent: {exc}", error=True)
            return False
        if not sent:
            what = f": {text}" if text else ""
            self.notice(f"offline, queued until reconnected{what}")
            status = self.query_one(StatusBar)
            status.pending = self.session.pending
            status.redraw()
        return sent

    def _current_room(self) -> Conversation | None:
        conv = self.conversations.current
        return conv if conv.kind is Kind.ROOM else None

    def _usage(self, name: str) -> None:
        spec = lookup(name)
        assert spec is not None
        self.notice(f"usage: {spec.usage}", error=True)

    def _cmd_join(self, arg: str) -> None:
        if not arg:
            return self._usage("join")
        room = arg.split()[0]
        conv = self.conversations.get(room_key(room))
        if conv is not None and conv.joined:
            self.switch_to(conv.key)
            return None
        self._switch_on_join.add(room_key(room))
        self._submit(Join(room=room))
        return None

    def _cmd_leave(self, arg: str) -> None:
        current = self.conversations.current
        if not arg and current.kind is Kind.DM:
            self._drop_conversation(current)
            return
        room = arg.split()[0] if arg else (current.name if current.kind is Kind.ROOM else "")
        if not room:
            return self._usage("leave")
        self._submit(Leave(room=room))
        return None

    def _cmd_msg(self, arg: str) -> None:
        nick, _, text = arg.partition(" ")
        if not nick:
            return self._usage("msg")
        conv = self.conversations.dm(nick)
        self._ensure_log(conv)
        self.switch_to(conv.key)
        if text.strip():
            self._submit(SendDm(to=nick, text=text), text)
        return None

    def _cmd_me(self, arg: str) -> None:
        room = self._current_room()
        if not arg:
            return self._usage("me")
        if room is None:
            self.notice("/me works in rooms", error=True)
            return None
        self._submit(Say(room=room.name, text=arg, action=True), f"* {arg}")
        return None

    def _cmd_nick(self, arg: str) -> None:
        if not arg:
            return self._usage("nick")
        self._submit(ChangeNick(nick=arg.split()[0]))
        return None

    def _cmd_who(self, arg: str) -> None:
        room = arg.split()[0] if arg else getattr(self._current_room(), "name", "")
        if not room:
            return self._usage("who")
        self._who_requested.add(room_key(room))
        self._submit(Who(room=room))
        return None

    def _cmd_rooms(self, arg: str) -> None:
        self._submit(ListRooms())

    def _cmd_topic(self, arg: str) -> None:
        room = self._current_room()
        if room is None:
            self.notice("/topic works in rooms", error=True)
            return
        if not arg:
            if room.topic:
                line = system_line(
                    None, "topic: ", quoted(room.topic), " (set by ", nick_part(room.topic_by), ")"
                )
            else:
                line = system_line(None, "no topic is set; /topic TEXT sets one")
            self.log_to(room, line)
            return
        self._topic_on_join.discard(room.key)
        self._submit(SetTopic(room=room.name, topic=arg))

    def _cmd_clear(self, arg: str) -> None:
        self.action_clear()

    def _cmd_help(self, arg: str) -> None:
        conv = self.conversations.current
        self.log_to(conv, system_line(None, "commands:"))
        for spec in COMMANDS:
            aliases = f"  (also /{', /'.join(spec.aliases)})" if spec.aliases else ""
            self.log_to(conv, system_line(None, f"  {spec.usage:<18} {spec.help}{aliases}"))
        self.log_to(
            conv,
            system_line(
                None,
                "  tab completes nicks, commands and rooms; up/down recall lines; "
                "//text says a line starting with /",
            ),
        )

    def _cmd_quit(self, arg: str) -> None:
        self.leave_app(arg or None)

    # ------------------------------------------------------------------ actions

    def action_next_conversation(self) -> None:
        self.switch_to(self.conversations.neighbour(1))

    def action_previous_conversation(self) -> None:
        self.switch_to(self.conversations.neighbour(-1))

    def action_reconnect(self) -> None:
        if self.session.state is ConnState.CONNECTED:
            self.notice("already connected")
        else:
            self.session.retry_now()

    def action_clear(self) -> None:
        conv = self.conversations.current
        self.query_one(f"#{conv.widget_id}", ChatLog).clear_lines()

    def action_quit(self) -> None:
        self.leave_app(None)

    @work(group="quit")
    async def leave_app(self, reason: str | None) -> None:
        """Say goodbye to the server (briefly) and exit."""
        await self.session.quit(reason)
        self.app.exit()

    def on_room_list_picked(self, event: RoomList.Picked) -> None:
        self.switch_to(event.key)
        self.query_one(ChatInput).focus()

    def on_member_list_picked(self, event: MemberList.Picked) -> None:
        self._cmd_msg(event.nick)
        self.query_one(ChatInput).focus()

    def prefill(self, text: str) -> None:
        """Put `text` in the input line (used by the command palette)."""
        chat_input = self.query_one(ChatInput)
        chat_input.value = text
        chat_input.cursor_position = len(text)
        chat_input.focus()

    # ------------------------------------------------------------------ helpers

    def switch_to(self, key: str) -> None:
        if self.conversations.get(key) is None:
            return
        conv = self.conversations.activate(key)
        self._ensure_log(conv)
        self.query_one(ContentSwitcher).current = conv.widget_id
        self._refresh_chrome()

    def _ensure_log(self, conv: Conversation) -> ChatLog:
        switcher = self.query_one(ContentSwitcher)
        found = switcher.query(f"#{conv.widget_id}")
        if found:
            return found.first(ChatLog)
        log = ChatLog(id=conv.widget_id)
        log.display = switcher.current == conv.widget_id  # the switcher shows one child only
        switcher.mount(log)
        return log

    def _drop_conversation(self, conv: Conversation) -> None:
        was_active = self.conversations.active == conv.key
        self.conversations.remove(conv.key)
        for log in self.query(f"#{conv.widget_id}"):
            log.remove()
        if was_active:
            self.switch_to(SERVER_KEY)
        self._refresh_chrome()

    def _joined_rooms(self) -> list[Conversation]:
        return [c for c in self.conversations.items.values() if c.kind is Kind.ROOM and c.joined]

    def _completion_nicks(self) -> list[str]:
        conv = self.conversations.current
        nicks = list(conv.members)
        nicks += [c.name for c in self.conversations.items.values() if c.kind is Kind.DM]
        return [n for n in nicks if name_key(n) != name_key(self.me)] or nicks

    def log_to(
        self, conv: Conversation | None, line: Text, *, count: bool = False, mention: bool = False
    ) -> None:
        """Append a line to a conversation's log; `count` it as unread if it is not shown."""
        if conv is None:
            return
        self._ensure_log(conv).add(line)
        if count or mention:
            before = (conv.unread, conv.mention)
            self.conversations.bump(conv, mention)
            if (conv.unread, conv.mention) != before:
                self._schedule_room_list()

    def _schedule_room_list(self) -> None:
        """Redraw the room list once after a burst of lines, not once per line."""
        if not self._room_list_dirty:
            self._room_list_dirty = True
            self.call_after_refresh(self._redraw_room_list)

    def _redraw_room_list(self) -> None:
        self._room_list_dirty = False
        self.query_one(RoomList).show(self.conversations)

    def notice_to(self, conv: Conversation | None, line: Text) -> None:
        self.log_to(conv, line, count=False)

    def notice(self, text: str, *, error: bool = False) -> None:
        """A one-line notice in the current conversation."""
        self.log_to(self.conversations.current, notice_line(text, error=error), count=False)

    def _notify(self, title: str, text: str) -> None:
        self.app.notify(inert(text)[:200], title=inert(title), markup=False, timeout=6)

    def _refresh_members(self, conv: Conversation) -> None:
        if conv.key == self.conversations.active:
            self.query_one(MemberList).show(conv.members, self.me)

    def _refresh_chrome(self) -> None:
        conv = self.conversations.current
        self.query_one(RoomList).show(self.conversations)
        self.query_one(MemberList).show(conv.members if conv.kind is Kind.ROOM else [], self.me)
        if conv.kind is Kind.ROOM:
            self.query_one(TopicBar).show(conv.label, conv.topic, conv.topic_by)
        elif conv.kind is Kind.DM:
            self.query_one(TopicBar).show(conv.label, "direct messages")
        else:
            self.query_one(TopicBar).show(self.server_label, "server messages")
