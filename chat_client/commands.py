"""The slash commands both clients understand: their names, aliases, usage and help."""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import ValidationError

from protocol.names import check_text, normalize_nick, normalize_room
from protocol.presence import MAX_AWAY_LENGTH, Away, Whois


@dataclass(frozen=True, slots=True)
class CommandSpec:
    """One slash command as shown in /help, completion and the command palette."""

    name: str
    usage: str
    help: str
    aliases: tuple[str, ...] = ()
    takes_argument: bool = True
    #: The argument holds a password: never echoed, logged or kept in the input history.
    secret: bool = False
    #: A heading in /help for the commands from here on (set on the first of a group).
    group: str = ""


COMMANDS: tuple[CommandSpec, ...] = (
    CommandSpec("join", "/join ROOM [KEY]", "join a room (KEY: the room's key, if set)", ("j",)),
    CommandSpec("leave", "/leave [ROOM]", "leave the current room, or ROOM", ("part",)),
    CommandSpec("msg", "/msg NICK [TEXT]", "open a direct conversation with NICK", ("query",)),
    CommandSpec("me", "/me ACTION", "say an action in the third person (rooms and DMs)"),
    CommandSpec("nick", "/nick NEW", "change your nick"),
    CommandSpec("who", "/who [ROOM]", "list the members of a room", ("names",)),
    CommandSpec("rooms", "/rooms", "list the rooms on the server", ("list",), False),
    CommandSpec("whois", "/whois NICK", "who NICK is: account, away, rooms, idle time"),
    CommandSpec("away", "/away [MESSAGE]", "mark yourself away with MESSAGE (none: back)"),
    CommandSpec("back", "/back", "you are back: clear your away message", (), False),
    CommandSpec("topic", "/topic [TEXT]", "show or set the topic of the current room"),
    CommandSpec(
        "history", "/history [N]", "fetch N (50) older messages of the current room", ("more",)
    ),
    CommandSpec("search", "/search WORDS", "search the current room's messages", ("find",)),
    CommandSpec("lastlog", "/lastlog TEXT", "this conversation's lines with TEXT (ctrl+f: find)"),
    CommandSpec(
        "login", "/login PASSWORD", "log in to your nick's account (reconnects)", (), True, True
    ),
    CommandSpec(
        "register", "/register PASSWORD", "make your nick an account (8+ chars)", (), True, True
    ),
    CommandSpec("passwd", "/passwd OLD NEW", "change your account password", (), True, True),
    CommandSpec(
        "unregister", "/unregister PASSWORD", "delete your account (frees the nick)", (), True, True
    ),
    CommandSpec("clear", "/clear", "clear the current conversation's log", (), False),
    CommandSpec("close", "/close", "close this window (a room: leave it first)", (), False),
    CommandSpec("resend", "/resend [NICK]", "send again the DMs to NICK that did not get through"),
    CommandSpec("set", "/set [NAME [VALUE]]", "list the settings, or set one (saved)"),
    CommandSpec("ignore", "/ignore [NICK]", "hide NICK's lines; alone: who is ignored"),
    CommandSpec("unignore", "/unignore NICK", "show NICK's lines again"),
    CommandSpec("highlight", "/highlight [WORD]", "WORD counts as a mention; alone: the words"),
    CommandSpec("unhighlight", "/unhighlight WORD", "WORD no longer counts as a mention"),
    CommandSpec("help", "/help", "show this help", (), False),
    CommandSpec("quit", "/quit [REASON]", "leave the server and exit", ("exit",)),
    # Moderation (chat_client/moderation.py builds the requests): the current room's ops and
    # owners, then the server's admins.
    CommandSpec(
        "op", "/op NICK", "make NICK an op of this room", group="room moderation (ops, owners)"
    ),
    CommandSpec("deop", "/deop NICK", "take NICK's op role (yourself too)"),
    CommandSpec("kick", "/kick NICK [REASON]", "remove NICK from this room"),
    CommandSpec("ban", "/ban MASK [DURATION] [REASON]", "ban MASK (a NICK: nick:NICK)"),
    CommandSpec("unban", "/unban MASK", "lift a ban"),
    CommandSpec("bans", "/bans", "list this room's bans", (), False),
    CommandSpec("mute", "/mute NICK [DURATION]", "stop NICK speaking here"),
    CommandSpec("unmute", "/unmute NICK", "let NICK speak again"),
    CommandSpec("mode", "/mode [CHANGES]", "show modes, or change them: +i -m +l 20 ..."),
    CommandSpec(
        "key", "/key [KEY]", "set this room's key; /key or /key - removes it", (), True, True
    ),
    CommandSpec("invite", "/invite NICK", "let NICK join past invite-only, key, cap"),
    CommandSpec("modlog", "/modlog [N]", "the newest N (50) moderation actions here"),
    CommandSpec(
        "kill", "/kill NICK [REASON]", "disconnect NICK from the server", group="server (admins)"
    ),
    CommandSpec("wall", "/wall TEXT", "a notice to everyone on the server"),
    CommandSpec(
        "serverban", "/serverban MASK [DURATION] [REASON]", "ban MASK server-wide", ("sban",)
    ),
    CommandSpec("serverunban", "/serverunban MASK", "lift a server ban", ("sunban",)),
    CommandSpec("serverbans", "/serverbans", "list the server's bans", ("sbans",), False),
)

#: What /help says about the moderation arguments, after the list of commands.
MODERATION_HELP = (
    "CHANGES: +i/-i invite only, +m/-m moderated, +t/-t topic locked, +s/-s secret, "
    "+l N/-l member cap, +k KEY/-k key (flags combine: +it-m); or words: invite_only on, "
    "moderated off, topic_lock on, secret off, limit 20 (0: none)",
    "DURATION: 30s, 10m, 2h, 7d, 1w, 1h30m or SECONDS; none: until lifted (- before a REASON "
    "that starts with a digit)",
    "MASK: nick:NAME, account:NAME, ip:ADDRESS or ip:NET/BITS; a bare NICK is nick:NICK",
)

_BY_NAME: dict[str, CommandSpec] = {}
for _spec in COMMANDS:
    for _name in (_spec.name, *_spec.aliases):
        _BY_NAME[_name] = _spec


def split_command(line: str) -> tuple[str, str] | None:
    """`(name, argument)` if `line` is a slash command, None if it is text to say.

    The name is lower-cased, the argument stripped. `//text` is text starting with a slash.
    """
    if not line.startswith("/") or line.startswith("//"):
        return None
    name, _, rest = line[1:].partition(" ")
    return name.lower(), rest.strip()


def say_text(line: str) -> str:
    """The text to say for a line that is not a command (`//x` says `/x`)."""
    return line[1:] if line.startswith("//") else line


def lookup(name: str) -> CommandSpec | None:
    """The command called `name` (or one of its aliases), if there is one."""
    return _BY_NAME.get(name.lower())


def is_secret(line: str) -> bool:
    """Whether `line` holds a password or a room key (`/login`, `/passwd`, `/key`, ...).

    Such a line is never echoed, logged or kept in the input history. A room key may also
    follow the room in `/join ROOM KEY`, or `+k` in `/mode`.
    """
    split = split_command(line)
    spec = lookup(split[0]) if split is not None else None
    if spec is None or split is None:
        return False
    if spec.name == "join":
        return len(split[1].split()) > 1
    if spec.name == "mode":
        return any(word.startswith("+") and "k" in word for word in split[1].split())
    return spec.secret


def command_names() -> list[str]:
    """Every command's main name, in /help order."""
    return [spec.name for spec in COMMANDS]


def room_arg(arg: str) -> str:
    """A room name typed by the user, without one leading `#` (rooms are shown as `#name`).

    Raises ValueError with a one-line reason if the name cannot be a room name.
    """
    return normalize_room(arg[1:] if arg.startswith("#") else arg)


def nick_arg(arg: str) -> str:
    """A nick typed by the user; raises ValueError with a one-line reason if it is unusable."""
    return normalize_nick(arg)


# Whole arguments: a command that takes one name refuses more words rather than use the first
# (`/nick has space` must not rename to `has`). Names never hold a space (protocol/names.py).


def _usage_of(name: str) -> str:
    spec = lookup(name)
    return spec.usage if spec is not None else f"/{name}"


def one_room(name: str, arg: str) -> str:
    """The ROOM of `/leave ROOM`, `/who ROOM`...: one word; ValueError otherwise."""
    words = arg.split()
    if not words:
        raise ValueError(f"usage: {_usage_of(name)}")
    if len(words) > 1:
        raise ValueError(f"a room name has no spaces: {_usage_of(name)}")
    return room_arg(words[0])


def one_nick(name: str, arg: str) -> str:
    """The NICK of `/nick NEW`: one word; ValueError otherwise."""
    words = arg.split()
    if not words:
        raise ValueError(f"usage: {_usage_of(name)}")
    if len(words) > 1:
        raise ValueError(f"a nick has no spaces: {_usage_of(name)}")
    return nick_arg(words[0])


def join_args(arg: str) -> tuple[str, str | None]:
    """ROOM and KEY of `/join ROOM [KEY]`; ValueError for no word or more than two.

    A room name never holds a space, so a second word can only be the room's key.
    """
    words = arg.split()
    if not words:
        raise ValueError(f"usage: {_usage_of('join')}")
    if len(words) > 2:
        raise ValueError(f"a room name has no spaces, and a key is one word: {_usage_of('join')}")
    return room_arg(words[0]), words[1] if len(words) == 2 else None


#: `/history` without N fetches this many; the server takes 1 to 200.
HISTORY_PAGE = 50
#: `before` for a `history` request when the client holds no message of the room yet.
NEWEST = 2**53 - 1


def history_limit(arg: str) -> int:
    """The N of `/history [N]`; raises ValueError with a one-line reason."""
    if not arg:
        return HISTORY_PAGE
    try:
        (word,) = arg.split()
        limit = int(word)
    except ValueError:
        raise ValueError("usage: /history [N], N a number from 1 to 200") from None
    if not 1 <= limit <= 200:
        raise ValueError("the server sends 1 to 200 messages at a time")
    return limit


def away_request(arg: str) -> Away:
    """The request of `/away [MESSAGE]` (no message: back), checked as the server checks it:
    one line, at most MAX_AWAY_LENGTH characters, the text rules; ValueError otherwise."""
    text = arg.strip()
    if not text:
        return Away()
    if "\n" in text:
        raise ValueError("an away message is one line")
    return Away(message=check_text(text, "away message", MAX_AWAY_LENGTH))


def whois_request(arg: str) -> Whois:
    """The request of `/whois NICK`; ValueError for no nick or more than one word."""
    return Whois(nick=one_nick("whois", arg))


def passwd_args(arg: str) -> tuple[str, str]:
    """OLD and NEW of `/passwd OLD NEW` (neither may hold a space); ValueError otherwise."""
    parts = arg.split()
    if len(parts) != 2:
        raise ValueError("usage: /passwd OLD NEW (passwords without spaces)")
    return parts[0], parts[1]


def quit_reason(text: str | None) -> str | None:
    """A `/quit` reason the server will take, or None to quit without one.

    The server refuses a reason that is blank, longer than 256 characters or not one line of
    plain text (and then does not quit): quitting must always work, so such a reason is left
    out rather than sent.
    """
    if text is None:
        return None
    text = text.strip()[:256]
    if not text or "\t" in text or "\n" in text:
        return None
    try:
        return check_text(text, "reason", 256)
    except ValueError:
        return None


def request_error(exc: ValueError) -> str:
    """A one-line reason why a request could not be built (never a multi-line dump)."""
    if isinstance(exc, ValidationError):
        errors = exc.errors(include_url=False, include_input=False)
        if errors:
            first = errors[0]
            where = ".".join(str(part) for part in first.get("loc", ()))
            message = str(first.get("msg", "invalid value"))
            return f"{where}: {message}" if where else message
        return "invalid request"
    return str(exc).splitlines()[0] if str(exc) else "invalid request"
