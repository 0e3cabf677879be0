"""The moderation commands as requests, and what moderation errors mean (no UI here).

Both clients turn `/op`, `/kick`, `/ban`, `/mode`... into requests with `request(name, arg,
room)`: `name` is the command's main name (commands.py), `room` the current room. Every
problem comes back as a ValueError with a one-line reason, never a request the server would
have to refuse for its shape.

The arguments, as /help says them (commands.MODERATION_HELP):

- DURATION: `30s`, `10m`, `2h`, `7d`, `1w`, combined as `1h30m`, or plain seconds. A ban's
  duration is optional, so `/ban bob 3 strikes` would read `3` as three seconds: `-` in its
  place says "no duration" (`/ban bob - 3 strikes`).
- MASK: `nick:NAME`, `account:NAME`, `ip:ADDRESS` or `ip:NET/BITS`. Anything else is taken as
  a nick (`/ban bob` bans `nick:bob`), since a nick is what people usually mean.
- CHANGES of `/mode`: IRC-like flags (`+i`, `-m`, `+it-s`, `+l 20`, `-l`, `+k KEY`, `-k`; the
  values of `l` and `k` follow in order) or words (`invite_only on`, `limit 20`), mixed
  freely; with none, the server answers the room's modes.
"""

from __future__ import annotations

import ipaddress
import re

from chat_client.commands import lookup, nick_arg
from protocol import (
    Ban,
    Bans,
    ClientMessage,
    Deop,
    Error,
    ErrorCode,
    GetModLog,
    Invite,
    Kick,
    Kill,
    Mode,
    Mute,
    Op,
    ServerBan,
    ServerBans,
    ServerUnban,
    Unban,
    Unmute,
    Wall,
)
from protocol.moderation import MAX_DURATION

#: Commands that act on the current room, and those that act on the whole server.
ROOM_COMMANDS = frozenset(
    {"op", "deop", "kick", "ban", "unban", "bans", "mute", "unmute", "mode", "key", "invite"}
    | {"modlog"}
)
SERVER_COMMANDS = frozenset({"kill", "wall", "serverban", "serverunban", "serverbans"})
COMMANDS = ROOM_COMMANDS | SERVER_COMMANDS

MASK_KINDS = ("nick", "account", "ip")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_DURATION = re.compile(r"(?:\d+[smhdw])+|\d+", re.IGNORECASE)
_PART = re.compile(r"(\d+)([smhdw])", re.IGNORECASE)
#: `/mode` flags and words, by the `mode` field they set.
MODE_FLAGS = {"i": "invite_only", "m": "moderated", "t": "topic_lock", "s": "secret"}
MODE_WORDS = {
    "invite_only": "invite_only",
    "invite": "invite_only",
    "moderated": "moderated",
    "topic_lock": "topic_lock",
    "topic": "topic_lock",
    "secret": "secret",
}
_ON = {"on": True, "yes": True, "true": True, "1": True, "off": False, "no": False}
_ON |= {"false": False, "0": False}
MAX_LIMIT = 1_000_000


def _usage(name: str) -> ValueError:
    spec = lookup(name)
    return ValueError(f"usage: {spec.usage if spec is not None else '/' + name}")


def _split(arg: str) -> tuple[str, str]:
    """The first word of `arg` and the rest, stripped."""
    parts = arg.split(None, 1)
    if not parts:
        return "", ""
    return parts[0], parts[1].strip() if len(parts) > 1 else ""


def is_duration(word: str) -> bool:
    return _DURATION.fullmatch(word) is not None


def parse_duration(word: str) -> int:
    """Seconds for `30m`, `2h`, `1h30m`, `3600`...; ValueError unless 1 s to 10 years."""
    if not is_duration(word):
        raise ValueError(f"not a duration: {word} (try 30m, 2h, 7d or SECONDS)")
    if word.isdigit():
        seconds = int(word)
    else:
        seconds = sum(int(n) * _UNITS[unit.lower()] for n, unit in _PART.findall(word))
    if not 1 <= seconds <= MAX_DURATION:
        raise ValueError("a duration is from 1 second to 10 years")
    return seconds


def ban_mask(word: str) -> str:
    """`nick:NAME`, `account:NAME` or `ip:ADDRESS[/BITS]`; a bare nick is `nick:NICK`.

    The kind is lower-cased and the name or address checked, so a typo is caught here.
    """
    kind, colon, name = word.partition(":")
    if not colon or kind.lower() not in MASK_KINDS:
        return f"nick:{nick_arg(word)}"
    kind = kind.lower()
    if not name:
        raise ValueError(f"{kind}: needs a name after it")
    if kind == "ip":
        try:
            ipaddress.ip_network(name, strict=False)
        except ValueError:
            raise ValueError(f"not an address or network: {name}") from None
        return f"ip:{name}"
    return f"{kind}:{nick_arg(name)}"


def _ban_fields(name: str, arg: str, **fields: str) -> dict[str, str | int | None]:
    """The fields of `ban` (with `fields`) for `/ban MASK [DURATION|-] [REASON...]`."""
    mask, rest = _split(arg)
    if not mask:
        raise _usage(name)
    duration: int | None = None
    first, after = _split(rest)
    if first == "-":
        rest = after
    elif first and is_duration(first):
        duration, rest = parse_duration(first), after
    return {**fields, "mask": ban_mask(mask), "duration": duration, "reason": rest or None}


def mode_request(room: str, arg: str) -> Mode:
    """The `mode` request for `/mode CHANGES` (see the module's docstring)."""
    changes: dict[str, bool | int | str] = {}
    words = arg.split()
    while words:
        word = words.pop(0)
        if word[0] in "+-":
            _flags(word, words, changes)
        elif word.lower() == "limit":
            value = words.pop(0) if words else ""
            changes["limit"] = 0 if value.lower() in ("off", "none") else _limit(value, True)
        elif word.lower() in MODE_WORDS:
            value = words.pop(0).lower() if words else ""
            if value not in _ON:
                raise ValueError(f"{word} takes on or off")
            changes[MODE_WORDS[word.lower()]] = _ON[value]
        else:
            raise ValueError(f"unknown mode {word} (see /help: +i, +m, +t, +s, +l N, +k KEY)")
    return Mode.model_validate({"room": room, **changes})


def _flags(word: str, values: list[str], changes: dict[str, bool | int | str]) -> None:
    """Apply `+it-s`-style flags; `+l` and `+k` take their values from `values`, in order."""
    sign = True
    for letter in word:
        if letter in "+-":
            sign = letter == "+"
        elif letter in MODE_FLAGS:
            changes[MODE_FLAGS[letter]] = sign
        elif letter == "l":
            changes["limit"] = _limit(values.pop(0) if values else "", False) if sign else 0
        elif letter == "k":
            if sign and not values:
                raise ValueError("+k needs the key after it: /mode +k KEY")
            changes["key"] = values.pop(0) if sign else ""
        else:
            raise ValueError(f"unknown mode letter {letter} (i, m, t, s, l, k)")


def _limit(value: str, zero: bool) -> int:
    low = 0 if zero else 1
    if not value.isdigit() or not low <= int(value) <= MAX_LIMIT:
        raise ValueError(f"a member cap is a number from {low} to {MAX_LIMIT:,}")
    return int(value)


def _key(arg: str) -> str:
    """The key of `/key [KEY]`: "" (no key) for nothing or `-`."""
    if arg in ("", "-"):
        return ""
    if len(arg.split()) != 1:
        raise ValueError("a room key is one word (so that /join ROOM KEY can give it)")
    return arg


def _one_nick(name: str, arg: str) -> str:
    words = arg.split()
    if len(words) != 1:
        raise _usage(name)
    return nick_arg(words[0])


def _modlog_limit(arg: str) -> int:
    if not arg:
        return 50
    if not arg.isdigit() or not 1 <= int(arg) <= 200:
        raise ValueError("usage: /modlog [N], N a number from 1 to 200")
    return int(arg)


def request(name: str, arg: str, room: str | None) -> ClientMessage:
    """The request for moderation command `name` with `arg`, acting on `room` if it needs one.

    ValueError with a one-line reason when the command cannot be sent as typed.
    """
    arg = arg.strip()
    if name in ROOM_COMMANDS:
        if room is None:
            raise ValueError(f"/{name} acts on the current room: switch to a room first")
        return _room_request(name, arg, room)
    return _server_request(name, arg)


def _room_request(name: str, arg: str, room: str) -> ClientMessage:
    match name:
        case "op":
            return Op(room=room, nick=_one_nick(name, arg))
        case "deop":
            return Deop(room=room, nick=_one_nick(name, arg))
        case "kick":
            nick, reason = _split(arg)
            if not nick:
                raise _usage(name)
            return Kick(room=room, nick=nick_arg(nick), reason=reason or None)
        case "ban":
            return Ban.model_validate(_ban_fields(name, arg, room=room))
        case "unban":
            return Unban(room=room, mask=ban_mask(_one_word(name, arg)))
        case "bans":
            return Bans(room=room)
        case "mute":
            nick, rest = _split(arg)
            if not nick or len(rest.split()) > 1:
                raise _usage(name)
            duration = parse_duration(rest) if rest else None
            return Mute(room=room, nick=nick_arg(nick), duration=duration)
        case "unmute":
            return Unmute(room=room, nick=_one_nick(name, arg))
        case "mode":
            return mode_request(room, arg)
        case "key":
            return Mode(room=room, key=_key(arg))
        case "invite":
            return Invite(room=room, nick=_one_nick(name, arg))
        case "modlog":
            return GetModLog(room=room, limit=_modlog_limit(arg))
    raise ValueError(f"unknown command /{name}")


def _server_request(name: str, arg: str) -> ClientMessage:
    match name:
        case "kill":
            nick, reason = _split(arg)
            if not nick:
                raise _usage(name)
            return Kill(nick=nick_arg(nick), reason=reason or None)
        case "wall":
            if not arg:
                raise _usage(name)
            return Wall(text=arg)
        case "serverban":
            return ServerBan.model_validate(_ban_fields(name, arg))
        case "serverunban":
            return ServerUnban(mask=ban_mask(_one_word(name, arg)))
        case "serverbans":
            return ServerBans()
    raise ValueError(f"unknown command /{name}")


def _one_word(name: str, arg: str) -> str:
    words = arg.split()
    if len(words) != 1:
        raise _usage(name)
    return words[0]


def is_empty_mode(message: ClientMessage) -> bool:
    """A `mode` that changes nothing: the server answers it with the room's `modes`."""
    return isinstance(message, Mode) and not (message.model_fields_set - {"room", "type"})


# ------------------------------------------------------------------ errors

_HINTS = {
    ErrorCode.NOT_OP: "for the room's ops and owners, on lower ranks only",
    ErrorCode.NOT_ADMIN: "for server admins only (logged in)",
    ErrorCode.BAD_KEY: "that room has a key: /join ROOM KEY",
    ErrorCode.INVITE_ONLY: "that room is invite-only: an op can /invite you",
    ErrorCode.ROOM_FULL: "that room is full (its member cap is reached)",
    ErrorCode.MUTED: "you cannot speak here now: you are muted, or the room is moderated",
    ErrorCode.TOPIC_LOCKED: "only the room's ops and owners may set its topic",
    ErrorCode.INVALID_MASK: "a mask is nick:NAME, account:NAME, ip:ADDRESS or ip:NET/BITS",
    ErrorCode.KILLED: "a server admin disconnected you",
}


def explain_error(error: Error) -> str | None:
    """What a moderation error means, in one line with the server's words; None for others."""
    if error.code == ErrorCode.BANNED:
        hint = "the server bans you" if error.fatal else "you are banned from that room"
    elif error.code in _HINTS:
        hint = _HINTS[ErrorCode(error.code)]
    else:
        return None
    return f"{error.code}: {hint}" + (f" (server: {error.message})" if error.message else "")


__all__ = [
    "COMMANDS",
    "ROOM_COMMANDS",
    "SERVER_COMMANDS",
    "ban_mask",
    "explain_error",
    "is_empty_mode",
    "mode_request",
    "parse_duration",
    "request",
]
