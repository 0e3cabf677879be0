"""The chat screen: room list, log, members, status and input, driven by a Session worker."""

from __future__ import annotations

import asyncio

from rich.text import Text
from textual import events, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.message import Message
from textual.screen import Screen
from textual.widgets import ContentSwitcher, Footer

from chat_client.commands import command_names
from chat_client.conversations import SERVER_KEY, Conversation, Conversations, Kind, room_key
from chat_client.keys import DIGITS, window_number
from chat_client.logfiles import LogWriter, conversation_file, log_line
from chat_client.render import notice_line
from chat_client.screens.chat_commands import SlashCommands
from chat_client.screens.chat_events import ServerEvents
from chat_client.screens.history_pages import HistoryPages
from chat_client.screens.moderation import Moderation
from chat_client.screens.search_results import SearchResultsScreen
from chat_client.session import ConnState, Session, SessionEvent
from chat_client.settings import NAMES, Settings, SettingsFile, same_nick, same_nick_in
from chat_client.text import inert, printable
from chat_client.trust import TrustError
from chat_client.widgets.bars import StatusBar, TopicBar
from chat_client.widgets.chat_input import ChatInput, DraftRows
from chat_client.widgets.chat_log import ChatLog
from chat_client.widgets.find_bar import FindBar
from chat_client.widgets.member_list import MemberList
from chat_client.widgets.room_list import RoomList
from chat_client.wrapping import local_time
from protocol import ChatMessage, Error
from protocol.names import name_key

#: Below these widths (columns) the member list, then the room list, are hidden to give
#: the log room; F8 and F7 show or hide them whatever the width.
MEMBERS_MIN_WIDTH = 100
ROOMS_MIN_WIDTH = 70


def _typeable(name: str) -> bool:
    """Whether a name from the server is safe to put in the input line as is (no controls)."""
    return inert(name) == name


class ChatScreen(Screen[None]):
    """Everything a connected user sees; network events arrive through `handle`.

    `ServerEvents` (`chat_events.py`) shows what arrives, `SlashCommands` (`chat_commands.py`)
    runs what the user types, and `Moderation` (`moderation.py`) does both for moderation;
    they work through the conversation and log helpers here.
    """

    # Previous is ctrl+o, not ctrl+b: ctrl+b is tmux's prefix (and ctrl+a screen's), and
    # ctrl+p is Textual's command palette. alt+N and alt+a are irssi's window keys.
    BINDINGS = [
        Binding("ctrl+n", "next_conversation", "Next room"),
        Binding("ctrl+o", "previous_conversation", "Prev room"),
        Binding("alt+a", "next_activity", "Activity"),
        Binding("alt+down", "next_conversation", "Next room", show=False),
        Binding("alt+up", "previous_conversation", "Prev room", show=False),
        *(
            Binding(f"alt+{d}", f"window({window_number(d)})", f"Window {d}", show=False)
            for d in DIGITS
        ),
        # Scrollback: the log scrolls while the input keeps the focus.
        Binding("pageup,shift+pageup", "scroll_log('page_up')", "Scroll up", show=False),
        Binding("pagedown,shift+pagedown", "scroll_log('page_down')", "Scroll down", show=False),
        Binding("ctrl+home", "scroll_log('to_top')", "Top of log", show=False),
        Binding("ctrl+end", "scroll_log('to_bottom')", "Bottom of log", show=False),
        Binding("f6", "toggle_seconds", "Seconds", show=False),
        Binding("f7", "toggle_sidebar('rooms')", "Rooms"),
        Binding("f8", "toggle_sidebar('members')", "Members"),
        Binding("ctrl+r", "reconnect", "Reconnect"),
        Binding("ctrl+l", "clear", "Clear log", show=False),
        Binding("ctrl+f", "find", "Find", show=False),
        Binding("ctrl+q", "quit", "Quit", priority=True),
    ]

    def __init__(
        self,
        session: Session,
        server_label: str,
        *,
        cursor_blink: bool = True,
        seconds: bool = False,
        bell: bool = True,
        settings: SettingsFile | None = None,
    ) -> None:
        super().__init__()
        #: The settings of `/set` and the file they are saved in (the app's, shared).
        self.settings_file = settings if settings is not None else SettingsFile()
        #: Ring the terminal bell on a mention or a DM in another conversation.
        self.bell = bell
        #: Timestamps as HH:MM:SS (F6 turns it on and off).
        self.seconds = seconds
        self.session = session
        self.server_label = server_label
        self.cursor_blink = cursor_blink
        self.conversations = Conversations(server_label)
        self.me = session.nick
        # Requests in flight whose replies are shown specially (keys from `room_key`):
        # rooms to switch to once joined, /who replies to print, joins awaiting their topic.
        self.switch_on_join: set[str] = {room_key(r) for r in session.initial_rooms}
        self.who_requested: set[str] = set()
        self.topic_on_join: set[str] = set()
        self._room_list_dirty = False
        # A sidebar shown or hidden with F7/F8: (shown, what the width said then). It holds
        # until a resize changes what the width says, then the width decides again.
        self._sidebar_choice: dict[str, tuple[bool, bool]] = {}
        #: Nicks that ignored nicks changed to in this run, hidden as they are (`ignored`),
        #: each with the ignore entry it came from (its /unignore shows them again too).
        self.ignore_followed: dict[str, str] = {}
        self.moderation = Moderation(self)
        self.history = HistoryPages(self)
        self.events = ServerEvents(self)
        self.commands = SlashCommands(self)

    # ------------------------------------------------------------------ layout

    def compose(self) -> ComposeResult:
        yield StatusBar(self.server_label, id="status")
        yield TopicBar(id="topic")
        with Horizontal(id="main"):
            yield RoomList(id="rooms")
            server = self.conversations.current
            with ContentSwitcher(initial=server.widget_id, id="logs"):
                server_log = ChatLog(id=server.widget_id)
                server_log.seconds = self.seconds
                yield server_log
            yield MemberList(id="members")
        yield FindBar(id="find")
        yield DraftRows(above=True, id="draft-above")
        yield ChatInput(id="input", placeholder="type a message, or /help")
        yield DraftRows(above=False, id="draft-below")
        yield Footer()

    def on_mount(self) -> None:
        chat_input = self.query_one(ChatInput)
        chat_input.cursor_blink = self.cursor_blink
        chat_input.source.commands = command_names
        chat_input.source.nicks = self._completion_nicks
        chat_input.source.rooms = self._completion_rooms
        chat_input.above_view = self.query_one("#draft-above", DraftRows)
        chat_input.below_view = self.query_one("#draft-below", DraftRows)
        logs = self.conversation_logs
        if logs is not None:
            loop = asyncio.get_running_loop()

            def report(text: str) -> None:
                loop.call_soon_threadsafe(self._log_failed, text)

            logs.on_error = report
        chat_input.source.arguments = self._completion_arguments
        chat_input.focus()
        self.log_to(
            self.conversations.current,
            notice_line(f"connecting to {self.server_label} as {self.me} ..."),
        )
        for warning in self.settings_file.warnings:
            self.notice(f"settings: {warning}", error=True)
        self.settings_file.warnings = []  # said once, not on every new chat screen
        self.apply_sidebars()
        self.refresh_chrome()
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
        if not self.app.is_running:
            # The app is shutting down and its widgets may be gone already; the network
            # worker is cancelled soon, and until then what arrives has nowhere to go.
            return
        try:
            self.events.apply(event)
        except Exception as exc:  # a bad event must not take the client down
            self.notice(f"could not show an event: {type(exc).__name__}: {exc}", error=True)

    class Refused(Message):
        """The server refused our nick or password; the app shows the connect form again.

        `reason` says so in a line for the form; `error` is what the server sent.
        """

        def __init__(self, reason: str, error: Error | None = None) -> None:
            super().__init__()
            self.reason = reason
            self.error = error

    class Unreachable(Message):
        """The first connection found no server (`reason` says why); the app shows the connect
        form again."""

        def __init__(self, reason: str) -> None:
            super().__init__()
            self.reason = reason

    class Untrusted(Message):
        """The server's TLS certificate is not trusted (`error`, chat_client/trust.py): the
        app asks whether to pin it, or shows the refusal."""

        def __init__(self, error: TrustError) -> None:
            super().__init__()
            self.error = error

    # ------------------------------------------------------------------ input

    def on_chat_input_line(self, event: ChatInput.Line) -> None:
        event.stop()
        self.run_line(event.text)

    def run_line(self, line: str) -> None:
        """Say a line in the current conversation, or run it if it is a slash command."""
        self.commands.run_line(line)

    # ------------------------------------------------------------------ actions

    def action_next_conversation(self) -> None:
        self.switch_to(self.conversations.neighbour(1))

    def action_previous_conversation(self) -> None:
        self.switch_to(self.conversations.neighbour(-1))

    def action_window(self, number: int) -> None:
        """alt+N: the Nth conversation of the room list (alt+0: the tenth)."""
        key = self.conversations.nth(number)
        if key is None:
            self.app.bell()
        else:
            self.switch_to(key)

    def action_next_activity(self) -> None:
        """alt+a: the next conversation with unread lines, those that mention us first."""
        key = self.conversations.next_activity()
        if key is None:
            self.app.bell()
        else:
            self.switch_to(key)

    def action_scroll_log(self, how: str) -> None:
        """PgUp/PgDn (shift too), ctrl+home/ctrl+end: scroll the current log, not the input."""
        log = self.ensure_log(self.conversations.current)
        moves = {
            "page_up": log.page_up,
            "page_down": log.page_down,
            "to_top": log.to_top,
            "to_bottom": log.to_bottom,
        }
        # Reaching the top (or pressing PgUp there) loads the page before it from the server.
        reaches_top = how == "to_top" or (how == "page_up" and log.scroll_y <= log.size.height)
        moves[how]()
        if reaches_top:
            self.history.scrolled_to_top(self.conversations.current)

    def show_search_results(self, conv: Conversation, query: str, found: list[ChatMessage]) -> None:
        """The list of a search's results; the one picked is shown in the room's log."""

        def picked(message_id: int | None) -> None:
            self.query_one(ChatInput).focus()
            if message_id is not None and self.conversations.get(conv.key) is conv:
                self.history.jump(conv, message_id)

        self.app.push_screen(SearchResultsScreen(conv.name, query, found), picked)

    def on_chat_log_top_reached(self, event: ChatLog.TopReached) -> None:
        """The mouse wheel turned up at the top of the log: load older history."""
        conv = self.conversations.current
        if event.log.id == conv.widget_id:
            self.history.scrolled_to_top(conv)

    def _sidebar_fits(self, name: str) -> bool:
        """Whether the width leaves room for a sidebar (`rooms` or `members`)."""
        limit = ROOMS_MIN_WIDTH if name == "rooms" else MEMBERS_MIN_WIDTH
        return self.app.size.width >= limit

    def apply_sidebars(self) -> None:
        """Show or hide the room and member lists for the terminal's width (and F7/F8)."""
        changed = False
        for name in ("rooms", "members"):
            fits = self._sidebar_fits(name)
            choice = self._sidebar_choice.get(name)
            if choice is not None and choice[1] != fits:
                del self._sidebar_choice[name]
                choice = None
            chosen = getattr(self.settings, name)  # auto, on, off
            shown = (fits if chosen == "auto" else chosen == "on") if choice is None else choice[0]
            widget = self.query_one(f"#{name}")
            if widget.display != shown:
                widget.display = shown
                changed = True
        if changed:
            self.refresh_chrome()

    def on_resize(self, event: events.Resize) -> None:
        self.apply_sidebars()

    def action_toggle_sidebar(self, name: str) -> None:
        """F7 / F8: show or hide the room list / the member list."""
        shown = not self.query_one(f"#{name}").display
        self._sidebar_choice[name] = (shown, self._sidebar_fits(name))
        self.apply_sidebars()

    def action_toggle_seconds(self) -> None:
        """F6: timestamps as HH:MM:SS, or back to HH:MM, in every log."""
        self.seconds = not self.seconds
        for log in self.query(ChatLog):
            log.set_seconds(self.seconds)

    # ------------------------------------------------------------------ settings

    @property
    def settings(self) -> Settings:
        return self.settings_file.current

    def ignored(self, nick: str) -> bool:
        """Whether what `nick` says, and their joins and parts, are hidden (never our own):
        an ignore entry, or a nick an ignored nick changed to in this run."""
        hidden = self.settings.ignores(nick) or same_nick_in(nick, self.ignore_followed) is not None
        return hidden and not same_nick(nick, self.me)

    def follow_ignore(self, old: str, new: str) -> bool:
        """An ignored `old` is now `new`: `new` is hidden too, for this run (not saved).
        True if it is followed so (False too when `new` is ignored anyway, and for our own
        nick)."""
        if not self.ignored(old) or same_nick(new, self.me):
            return False
        follows = self.ignore_followed
        was = same_nick_in(old, follows)
        origin = follows.pop(was) if was is not None else same_nick_in(old, self.settings.ignore)
        stale = same_nick_in(new, follows)
        if stale is not None:
            del follows[stale]
        if origin is None or self.settings.ignores(new):
            return False
        follows[new] = origin
        return True

    def unfollow_if_gone(self, nick: str) -> None:
        """A followed nick left a room: once it shares none with us, the follow ends (someone
        else may take that nick later)."""
        followed = same_nick_in(nick, self.ignore_followed)
        if followed is None:
            return
        for conv in self.joined_rooms():
            if same_nick_in(nick, conv.members) is not None:
                return
        del self.ignore_followed[followed]

    def change_settings(self, new: Settings, name: str | None = None) -> bool:
        """Use `new` from now on and save them: what changed (and the setting `name`, set
        again, over what F6/F7/F8 chose for this run) takes effect at once. False if the file
        could not be written (said; the settings hold for this run all the same)."""
        old = self.settings
        touched = {n for n in NAMES if getattr(new, n) != getattr(old, n) or n == name}
        saved = True
        try:
            self.settings_file.change(new)
        except OSError as exc:
            self.notice(f"not saved in {self.settings_file.path}: {exc}", error=True)
            saved = False
        if "bell" in touched:
            self.bell = new.bell
        if "seconds" in touched and new.seconds != self.seconds:
            self.action_toggle_seconds()
        for sidebar in ("rooms", "members"):
            if sidebar in touched:
                self._sidebar_choice.pop(sidebar, None)  # the setting decides, not F7/F8
        self.apply_sidebars()
        if "highlights" in touched:
            self.events.refresh_mention()
        if "ignore" in touched:
            # Nicks followed from an entry that is gone are shown again with it.
            self.ignore_followed = {
                nick: origin for nick, origin in self.ignore_followed.items() if new.ignores(origin)
            }
        if "theme" in touched and new.theme != self.app.theme:
            self.app.theme = new.theme
        # The next chat screen (after the connect form) starts from the same switches.
        for setting, attribute in (("bell", "bell_on"), ("seconds", "seconds")):
            if setting in touched and hasattr(self.app, attribute):
                setattr(self.app, attribute, getattr(new, setting))
        return saved

    def action_reconnect(self) -> None:
        if self.session.state is ConnState.CONNECTED:
            self.notice("already connected")
        else:
            self.session.retry_now()  # also after a halt (`replaced`, a refused login)

    def action_find(self) -> None:
        """ctrl+f: the find prompt over the current log (enter/up older, down newer, esc)."""
        bar = self.query_one(FindBar)
        bar.finder = self._find
        bar.on_close = self._find_closed
        bar.open()

    def _find(self, text: str, older: bool) -> str:
        found = self.ensure_log(self.conversations.current).find(text, older=older)
        if found is None:
            return "no match"
        return f"{found[0]}/{found[1]}"

    def _find_closed(self) -> None:
        for log in self.query(ChatLog):
            log.clear_found()
        self.query_one(ChatInput).focus()

    def action_clear(self) -> None:
        conv = self.conversations.current
        self.query_one(f"#{conv.widget_id}", ChatLog).clear_lines()
        conv.forget_ids()  # /history pages back from what is shown: from the newest now
        self.history.forget(conv)

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
        self.commands.guarded(self.commands.cmd_msg, event.nick)
        self.query_one(ChatInput).focus()

    def prefill(self, text: str) -> None:
        """Put `text` in the input line (used by the command palette)."""
        chat_input = self.query_one(ChatInput)
        chat_input.set_text(text)
        chat_input.focus()

    # ------------------------------------------------------------------ helpers

    def switch_to(self, key: str) -> None:
        if self.conversations.get(key) is None:
            return
        if key != self.conversations.active:
            left = self.conversations.current
            for log in self.query(f"#{left.widget_id}").results(ChatLog):
                log.mark_read()  # the `new` row goes there, shown when the user comes back
        conv = self.conversations.activate(key)
        log = self.ensure_log(conv)
        self.query_one(ContentSwitcher).current = conv.widget_id
        log.came_back()
        self.refresh_chrome()

    def ensure_log(self, conv: Conversation) -> ChatLog:
        switcher = self.query_one(ContentSwitcher)
        found = switcher.query(f"#{conv.widget_id}")
        if found:
            return found.first(ChatLog)
        log = ChatLog(id=conv.widget_id)
        log.seconds = self.seconds
        log.display = switcher.current == conv.widget_id  # the switcher shows one child only
        switcher.mount(log)
        return log

    def drop_conversation(self, conv: Conversation) -> None:
        was_active = self.conversations.active == conv.key
        self.history.forget(conv)
        self.conversations.remove(conv.key)
        for log in self.query(f"#{conv.widget_id}"):
            log.remove()
        if was_active:
            self.switch_to(SERVER_KEY)
        self.refresh_chrome()

    def joined_rooms(self) -> list[Conversation]:
        return [c for c in self.conversations.items.values() if c.kind is Kind.ROOM and c.joined]

    def _completion_nicks(self) -> list[str]:
        conv = self.conversations.current
        nicks = list(conv.members)
        nicks += [c.name for c in self.conversations.items.values() if c.kind is Kind.DM]
        others = [n for n in nicks if name_key(n) != name_key(self.me)] or nicks
        return [n for n in others if _typeable(n)]

    def _completion_arguments(self) -> dict[str, list[str]]:
        """Candidates for some commands' arguments: moderation's, the settings' names, the
        ignored nicks and the highlight words."""
        settings = self.settings
        return {
            **self.moderation.completions(),
            "/set": list(NAMES),
            "/unignore": [n for n in (*settings.ignore, *self.ignore_followed) if _typeable(n)],
            "/unhighlight": [w for w in settings.highlights if _typeable(w)],
        }

    def _completion_rooms(self) -> list[str]:
        return [r for r in self.conversations.room_names() if _typeable(r)]

    def log_to(
        self,
        conv: Conversation | None,
        line: Text,
        *,
        count: bool = False,
        mention: bool = False,
        ts: str | None = None,
        message_id: int | None = None,
    ) -> None:
        """Append a line to a conversation's log; `count` it as unread if it is not shown.

        `ts`: the server's timestamp of what the line shows (its date and seconds), if not now;
        `message_id`: the id of the room message it shows (to jump to it from a search).
        """
        if conv is None:
            return
        at = local_time(ts) if ts is not None else None
        self.ensure_log(conv).add(line, at, message_id=message_id)
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
        self.show_title()

    def title_text(self) -> str:
        """The terminal's title: `[!1 5] #lobby - wirechat` (mentions and unread lines in the
        other conversations), `#lobby - wirechat` when nothing is unread."""
        current = self.conversations.current
        others = [c for c in self.conversations.items.values() if c is not current]
        unread = sum(c.unread for c in others)
        mentions = sum(1 for c in others if c.mention)
        label = current.label if current.kind is not Kind.SERVER else self.server_label
        title = f"{label} - wirechat"
        if unread or mentions:
            counts = f"!{mentions} {unread}" if mentions else f"{unread}"
            title = f"[{counts}] {title}"
        return printable(title)[:120]

    def show_title(self) -> None:
        set_title = getattr(self.app, "set_terminal_title", None)
        if set_title is not None:
            set_title(self.title_text())

    @property
    def conversation_logs(self) -> LogWriter | None:
        """The app's log files writer (chat_client/logfiles.py), None when not logging."""
        return getattr(self.app, "conversation_logs", None)

    def record(
        self, conv: Conversation, ts: str | None, nick: str, text: str, *, action: bool = False
    ) -> None:
        """Append a message to its conversation's log file (rooms and DMs), when logging."""
        logs = self.conversation_logs
        if logs is None or conv.kind is Kind.SERVER:
            return
        path = conversation_file(self.server_label, conv.name, dm=conv.kind is Kind.DM)
        logs.write(path, log_line(local_time(ts), nick, text, action=action))

    def _log_failed(self, text: str) -> None:
        if self.is_mounted and self.app.is_running:
            self.notice(text, error=True)

    def notice_to(self, conv: Conversation | None, line: Text) -> None:
        self.log_to(conv, line, count=False)

    def notice(self, text: str, *, error: bool = False) -> None:
        """A one-line notice in the current conversation."""
        self.log_to(self.conversations.current, notice_line(text, error=error), count=False)

    def refresh_members(self, conv: Conversation) -> None:
        if conv.key == self.conversations.active:
            self.query_one(MemberList).show(conv.members, self.me, conv.roles)

    def refresh_chrome(self) -> None:
        conv = self.conversations.current
        room_list = self.query_one(RoomList)
        room_list.show(self.conversations)
        members = conv.members if conv.kind is Kind.ROOM else []
        self.query_one(MemberList).show(members, self.me, conv.roles)
        label = conv.label if conv.kind is not Kind.SERVER else self.server_label
        if not room_list.display:
            # No room list: say where this window is among them, `#lobby (2/3)`.
            keys = list(self.conversations.items)
            if conv.key in keys:
                label = f"{label} ({keys.index(conv.key) + 1}/{len(keys)})"
        if conv.kind is Kind.ROOM:
            badges = self.moderation.badges(conv)
            self.query_one(TopicBar).show(label, conv.topic, conv.topic_by, badges)
        elif conv.kind is Kind.DM:
            self.query_one(TopicBar).show(label, "direct messages")
        else:
            self.query_one(TopicBar).show(label, "server messages")
        self.show_title()
