"""The wire messages of presence (added later in version 1): away messages and `whois`.

`away` with a message marks its sender away, `away` without one (or with an empty one) marks
it back; everyone sharing a room with the sender, and the sender, get `away_changed`. `whois`
asks about one nick and is answered by `whois_reply`. The rules live in the core
(chat_server/core/handlers/presence.py); docs/protocol.md ("Presence") states them.
"""

from __future__ import annotations

from typing import Literal

from protocol.base import Short, WireMessage

#: Longest away message, in characters (after trimming leading and trailing whitespace).
MAX_AWAY_LENGTH = 300

# ----------------------------------------------------------------- client to server


class Away(WireMessage):
    """Set (`message`) or clear (no `message`, or a blank one) the sender's away message."""

    type: Literal["away"] = "away"
    message: str | None = None


class Whois(WireMessage):
    type: Literal["whois"] = "whois"
    nick: Short


# ----------------------------------------------------------------- server to client


class AwayChanged(WireMessage):
    """`nick` is away with `message`, or back when `message` is absent."""

    type: Literal["away_changed"] = "away_changed"
    nick: str
    message: str | None = None


class WhoisReply(WireMessage):
    type: Literal["whois_reply"] = "whois_reply"
    nick: str
    account: str | None = None  # the account it is logged in to
    local_user: str | None = None  # on the Unix socket: the login name
    away: str | None = None  # its away message, when it is away
    rooms: list[str]  # the rooms it is in that the asker may see, in the order it joined
    idle: int | None = None  # whole seconds since it last said something the server knows of
    connected: str  # when it connected (ISO 8601 UTC)


CLIENT_PRESENCE = (Away, Whois)
SERVER_PRESENCE = (AwayChanged, WhoisReply)
