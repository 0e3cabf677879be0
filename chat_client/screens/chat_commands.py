"""Slash commands and chat lines typed in the chat screen, turned into requests to the server."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from chat_client.accounts import check_password
from chat_client.commands import (
    COMMANDS,
    MODERATION_HELP,
    away_request,
    history_limit,
    join_args,
    lookup,
    nick_arg,
    one_nick,
    one_room,
    passwd_args,
    request_error,
    say_text,
    split_command,
    whois_request,
)
from chat_client.conversations import Conversation, Kind, room_key
from chat_client.moderation import COMMANDS as MODERATION_COMMANDS
from chat_client.render import nick_part, quoted, separator_line, system_line
from chat_client.screens.history_pages import Refused, Why
from chat_client.settings import (
    check_name,
    same_nick,
    same_nick_in,
    with_highlight,
    with_ignored,
    with_value,
    without_highlight,
    without_ignored,
)
from chat_client.text import inert
from chat_client.widgets.bars import StatusBar
from chat_client.widgets.chat_log import text_pattern
from protocol import (
    Away,
    ChangeNick,
    ClientMessage,
    Join,
    Leave,
    ListRooms,
    Passwd,
    Register,
    Say,
    Search,
    SetTopic,
    Unregister,
    Who,
)

if TYPE_CHECKING:
    from chat_client.screens.chat import ChatScreen
    from chat_client.screens.presence import Presence


#: Commands whose text may have several lines (a multi-line draft): the others take one.
MULTILINE_COMMANDS = frozenset({"me", "msg"})


#: The most lines a `/lastlog` block shows (the newest).
LASTLOG_MAX = 100


class SlashCommands:
    """What the user types on the chat screen: a line to say, or `/name argument` to run."""

    def __init__(self, screen: ChatScreen) -> None:
        self.screen = screen

    def run_line(self, line: str) -> None:
        """Say a line in the current conversation, or run it if it is a slash command.

        A request that cannot be built (a name or text too long, a forbidden character)
        is reported as a one-line notice; no input ever ends in a traceback.
        """
        self.guarded(self._run_line, line)

    def guarded(self, handler: Callable[[str], None], arg: str) -> None:
        """Run `handler(arg)`, turning a request that cannot be built into a notice."""
        try:
            handler(arg)
        except ValueError as exc:  # includes pydantic's ValidationError
            self.screen.notice(f"not sent: {request_error(exc)}", error=True)

    def _run_line(self, line: str) -> None:
        split = split_command(line)
        conv = self.screen.conversations.current
        if split is None:
            text = say_text(line)
            if conv.kind is Kind.ROOM and not conv.joined:
                self.screen.notice(f"you are not in {conv.label} any more: /join to rejoin")
            elif conv.kind is Kind.ROOM:
                self._submit(Say(room=conv.name, text=text), text)
            elif conv.kind is Kind.DM:
                self._send_dm(conv.name, text)
            else:
                self.screen.notice("this is the server window: /join a room or /msg someone first")
            return
        name, arg = split
        spec = lookup(name)
        if spec is None:
            self.screen.notice(f"unknown command /{name} (try /help)", error=True)
            return
        if "\n" in line and spec.name not in MULTILINE_COMMANDS:
            self.screen.notice(
                f"/{spec.name} takes one line: not run (//TEXT says a message that starts with /)",
                error=True,
            )
            return
        if spec.name in MODERATION_COMMANDS:
            self._submit(self.screen.moderation.request(spec.name, arg))
            return
        handler: Callable[[str], None] = getattr(self, f"cmd_{spec.name}")
        handler(arg)

    def _submit(self, message: ClientMessage, text: str | None = None) -> bool:
        """Hand a request to the session, telling the user when it could not go out now."""
        try:
            sent = self.screen.session.submit(message)
        except ValueError:
            self.screen.notice(f"not connected: {message.type} was not sent", error=True)
            return False
        except OverflowError as exc:
            self.screen.notice(f"not sent: {exc}", error=True)
            return False
        if not sent:
            what = f": {text}" if text else ""
            self.screen.notice(f"offline, queued until reconnected{what}")
            status = self.screen.query_one(StatusBar)
            status.pending = self.screen.session.pending
            status.redraw()
        return sent

    @property
    def presence(self) -> Presence:
        return self.screen.events.presence

    def _send_dm(self, to: str, text: str, action: bool = False) -> None:
        """A DM with a ref of its own, so an answer of `no_such_nick` is matched to it."""
        message = self.presence.dm(to, text, action)
        shown = f"* {text}" if action else text
        self.presence.sent(message, self._submit(message, shown))

    def _current_room(self) -> Conversation | None:
        conv = self.screen.conversations.current
        return conv if conv.kind is Kind.ROOM else None

    def _usage(self, name: str) -> None:
        spec = lookup(name)
        assert spec is not None
        self.screen.notice(f"usage: {spec.usage}", error=True)

    def cmd_join(self, arg: str) -> None:
        current = self.screen.conversations.current
        if not arg and current.kind is Kind.ROOM and not current.joined:
            room, key = current.name, None  # in a room we were kicked from: rejoin it
        else:
            room, key = join_args(arg)
        conv = self.screen.conversations.get(room_key(room))
        if conv is not None and conv.joined:
            self.screen.switch_to(conv.key)
            return
        self.screen.switch_on_join.add(room_key(room))
        if key is not None:
            # Never the key itself: it is kept out of sight like a password.
            self.screen.notice(f"joining #{room} with the key given after its name")
        self._submit(Join(room=room, key=key))

    def cmd_leave(self, arg: str) -> None:
        current = self.screen.conversations.current
        if not arg and current.kind is Kind.DM:
            self.screen.drop_conversation(current)
            return
        if arg:
            room = one_room("leave", arg)
        elif current.kind is Kind.ROOM:
            room = current.name
        else:
            return self._usage("leave")
        self._submit(Leave(room=room))
        return None

    def cmd_msg(self, arg: str) -> None:
        nick, _, text = arg.partition(" ")
        if not nick:
            return self._usage("msg")
        nick = nick_arg(nick)
        conv = self.screen.conversations.dm(nick)
        self.screen.ensure_log(conv)
        self.screen.switch_to(conv.key)
        if text.strip():
            self._send_dm(nick, text)
        return None

    def cmd_me(self, arg: str) -> None:
        conv = self.screen.conversations.current
        if not arg:
            return self._usage("me")
        if conv.kind is Kind.DM:
            self._send_dm(conv.name, arg, action=True)
        elif conv.kind is Kind.ROOM:
            self._submit(Say(room=conv.name, text=arg, action=True), f"* {arg}")
        else:
            self.screen.notice("/me works in rooms and direct conversations", error=True)
        return None

    def cmd_whois(self, arg: str) -> None:
        if not arg:
            return self._usage("whois")
        self._submit(whois_request(arg))
        return None

    def cmd_away(self, arg: str) -> None:
        self._submit(away_request(arg))

    def cmd_back(self, arg: str) -> None:
        self._submit(Away())

    def cmd_close(self, arg: str) -> None:
        """Close the current window: a room we are in is left first (its `left` closes it),
        any other window just closes. The server window stays."""
        conv = self.screen.conversations.current
        if conv.kind is Kind.SERVER:
            self.screen.notice("the server window stays open", error=True)
        elif conv.kind is Kind.ROOM and conv.joined and self.screen.session.connected:
            self._submit(Leave(room=conv.name))
        else:
            if conv.kind is Kind.ROOM:
                self.screen.session.forget_room(conv.name)  # not rejoined on reconnecting
            self.screen.drop_conversation(conv)

    def cmd_resend(self, arg: str) -> None:
        conv = self.screen.conversations.current
        if arg:
            nick = one_nick("resend", arg)
        elif conv.kind is Kind.DM:
            nick = conv.name
        else:
            return self._usage("resend")
        kept = self.presence.take_kept(nick)
        if not kept:
            self.screen.notice(f"no message to {nick} is waiting to be sent again")
            return None
        target = self.screen.conversations.dm(nick)
        self.screen.ensure_log(target)
        self.screen.switch_to(target.key)
        for dm in kept:
            self._send_dm(nick, dm.text, dm.action)
        return None

    def cmd_nick(self, arg: str) -> None:
        if not arg:
            return self._usage("nick")
        self._submit(ChangeNick(nick=one_nick("nick", arg)))
        return None

    def cmd_who(self, arg: str) -> None:
        room = one_room("who", arg) if arg else getattr(self._current_room(), "name", "")
        if not room:
            return self._usage("who")
        self.screen.who_requested.add(room_key(room))
        self._submit(Who(room=room))
        return None

    def cmd_rooms(self, arg: str) -> None:
        self._submit(ListRooms())

    def cmd_topic(self, arg: str) -> None:
        room = self._current_room()
        if room is None:
            self.screen.notice("/topic works in rooms", error=True)
            return
        if not arg:
            if room.topic:
                line = system_line(
                    None, "topic: ", quoted(room.topic), " (set by ", nick_part(room.topic_by), ")"
                )
            else:
                line = system_line(None, "no topic is set; /topic TEXT sets one")
            self.screen.log_to(room, line)
            return
        self.screen.topic_on_join.discard(room.key)
        self._submit(SetTopic(room=room.name, topic=arg))

    def cmd_history(self, arg: str) -> None:
        room = self._current_room()
        if room is None:
            self.screen.notice("/history works in rooms", error=True)
            return
        limit = history_limit(arg)
        refused = self.screen.history.ask(room, Why.COMMAND, limit)
        if refused is not None:
            # Only not being connected or a full log is an error; the rest is a state.
            error = refused in (Refused.OFFLINE, Refused.LOG_FULL)
            self.screen.notice(self.screen.history.refused_text(room, refused), error=error)

    def cmd_search(self, arg: str) -> None:
        room = self._current_room()
        if room is None:
            self.screen.notice("/search works in rooms", error=True)
            return None
        if not arg:
            return self._usage("search")
        self._submit(Search(room=room.name, query=arg))
        return None

    def cmd_lastlog(self, arg: str) -> None:
        """The lines of the current conversation that hold `arg` (any case), as a block: the
        newest `LASTLOG_MAX` of them, copied below a rule, the text found reversed."""
        if not arg:
            return self._usage("lastlog")
        conv = self.screen.conversations.current
        log = self.screen.ensure_log(conv)
        found = log.matching(arg)
        shown = found[-LASTLOG_MAX:]
        where = conv.label or self.screen.server_label
        head = f"lastlog {arg!r} in {where}: {len(found)} line(s)"
        if len(shown) < len(found):
            head += f", the newest {len(shown)} shown (ctrl+f finds the others)"
        log.add(separator_line(inert(head)), quoted=True)
        pattern = text_pattern(arg)
        for text, at in shown:
            copy = text.copy()
            copy.highlight_regex(pattern, "reverse")
            log.add(copy, at, quoted=True)
        log.add(separator_line("end of lastlog"), quoted=True)
        return None

    # Account commands: the argument is a password. It is never echoed (usage and errors
    # never quote it), and ChatInput keeps these lines out of the input history.

    def cmd_login(self, arg: str) -> None:
        if not arg:
            return self._usage("login")
        session = self.screen.session
        session.login(check_password(arg))
        if session.connected:
            self.screen.notice(f"logging in as {session.nick}: reconnecting with the password")
        else:
            self.screen.notice(f"logging in as {session.nick} when connecting")
        return None

    def cmd_register(self, arg: str) -> None:
        if not arg:
            return self._usage("register")
        self._submit(Register(password=arg))
        return None

    def cmd_passwd(self, arg: str) -> None:
        old, new = passwd_args(arg)
        self._submit(Passwd(old=old, new=new))

    def cmd_unregister(self, arg: str) -> None:
        if not arg:
            return self._usage("unregister")
        self._submit(Unregister(password=arg))
        return None

    # Settings: changed at once and saved in the settings file (chat_client/settings.py).
    # A bad name or value raises ValueError, which `guarded` shows as `not sent: ...`.

    def _say(self, *parts: str | tuple[str, str]) -> None:
        self.screen.log_to(self.screen.conversations.current, system_line(None, *parts))

    def cmd_set(self, arg: str) -> None:
        settings = self.screen.settings
        name, _, value = arg.partition(" ")
        if not name:
            self._say("settings (saved in ", (str(self.screen.settings_file.path), ""), "):")
            for key, shown, help_text in settings.listing():
                self._say(f"  {key} = ", quoted(shown), f"  ({help_text})")
            self._say("  /set NAME VALUE changes one; lists are comma-separated, - for none")
            return
        key = check_name(name)
        if not value.strip():
            self._say(f"{key} = ", quoted(settings.shown(key)))
            return
        new = with_value(settings, key, value)
        if key == "theme" and new.theme not in self.screen.app.available_themes:
            themes = ", ".join(sorted(self.screen.app.available_themes))
            raise ValueError(f"no theme {new.theme!r}: one of {themes}")
        if self.screen.change_settings(new, key):
            self._say(f"{key} = ", quoted(new.shown(key)), " (saved)")

    def cmd_ignore(self, arg: str) -> None:
        settings = self.screen.settings
        follows = self.screen.ignore_followed
        if not arg:
            if settings.ignore or follows:
                parts: list[str | tuple[str, str]] = []
                if settings.ignore:
                    parts += ["ignoring: ", quoted(", ".join(settings.ignore))]
                if follows:
                    parts += ["; " if parts else "", "for this run, after a nick change: "]
                    parts.append(quoted(", ".join(follows)))
                self._say(*parts, " (/unignore NICK)")
            else:
                self._say("ignoring no one; /ignore NICK hides what NICK says")
            return
        nick = one_nick("ignore", arg)
        if same_nick(nick, self.screen.me):
            raise ValueError("you cannot ignore yourself")
        if settings.ignores(nick):
            self._say(nick_part(nick), " is ignored already")
            return
        followed = same_nick_in(nick, follows)
        if followed is not None:
            del follows[followed]  # saved from now on, not only for this run
        self.screen.change_settings(with_ignored(settings, nick))
        self._say(
            "ignoring ",
            nick_part(nick),
            ": their messages, actions, DMs, joins and parts are not shown (/unignore ",
            quoted(nick),
            ")",
        )

    def cmd_unignore(self, arg: str) -> None:
        if not arg:
            return self._usage("unignore")
        nick = one_nick("unignore", arg)
        follows = self.screen.ignore_followed
        followed = same_nick_in(nick, follows)
        if followed is not None:
            del follows[followed]
        new, entry = without_ignored(self.screen.settings, nick)
        if entry is None and followed is None:
            self._say(nick_part(nick), " is not ignored")
            return None
        if entry is not None:
            # The nicks they changed to in this run go with it (`change_settings`).
            self.screen.change_settings(new)
        self._say("no longer ignoring ", nick_part(entry or followed or nick))
        return None

    def cmd_highlight(self, arg: str) -> None:
        settings = self.screen.settings
        if not arg:
            if settings.highlights:
                words = ", ".join(settings.highlights)
                self._say("highlights: ", quoted(words), " (and your nick)")
            else:
                self._say("no highlight words: only your nick is a mention; /highlight WORD")
            return
        new = with_highlight(settings, arg)
        if new == settings:
            self._say(quoted(arg.strip()), " is a highlight already")
            return
        self.screen.change_settings(new)
        self._say("highlight: a line with ", quoted(new.highlights[-1]), " counts as a mention")

    def cmd_unhighlight(self, arg: str) -> None:
        if not arg:
            return self._usage("unhighlight")
        new, entry = without_highlight(self.screen.settings, arg)
        if entry is None:
            self._say(quoted(arg.strip()), " is not a highlight")
            return None
        self.screen.change_settings(new)
        self._say(quoted(entry), " no longer counts as a mention")
        return None

    def cmd_clear(self, arg: str) -> None:
        self.screen.action_clear()

    def cmd_help(self, arg: str) -> None:
        conv = self.screen.conversations.current
        self.screen.log_to(conv, system_line(None, "commands:"))
        for spec in COMMANDS:
            if spec.group:
                self.screen.log_to(conv, system_line(None, f"{spec.group}:"))
            aliases = f"  (also /{', /'.join(spec.aliases)})" if spec.aliases else ""
            self.screen.log_to(conv, system_line(None, f"  {spec.usage:<21} {spec.help}{aliases}"))
        for text in MODERATION_HELP:
            self.screen.log_to(conv, system_line(None, f"  {text}"))
        self.screen.log_to(
            conv,
            system_line(
                None,
                "  tab completes nicks, commands and rooms; up/down recall lines; "
                "//text says a line starting with /",
            ),
        )
        self.screen.log_to(
            conv,
            system_line(
                None,
                "  alt+enter (or ctrl+j) starts a new line of the message, enter sends it all; "
                "ctrl+f finds in this log",
            ),
        )
        self.screen.log_to(
            conv,
            system_line(
                None,
                "  PASSWORD is the rest of the line; lines with a password are not echoed "
                "or kept in the input history",
            ),
        )

    def cmd_quit(self, arg: str) -> None:
        self.screen.leave_app(arg or None)
