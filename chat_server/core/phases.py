"""The phases of a connection and what each allows, as a table.

Rule: whether a request may be handled depends on the connection's phase alone, and this table
is the only place that decides it. A connection starts CONNECTED, becomes REGISTERED when its
`hello` is accepted, and is CLOSING from the moment the core decides to close it (quit, a fatal
error, the peer going away, shutdown) until the backend has closed the socket. Nothing sent in
CLOSING is handled.
"""

from __future__ import annotations

from enum import Enum

from protocol import ErrorCode


class Phase(Enum):
    CONNECTED = "connected"
    REGISTERED = "registered"
    CLOSING = "closing"


#: Request types each phase handles; any other gets the phase's refusal below.
ALLOWED: dict[Phase, frozenset[str]] = {
    Phase.CONNECTED: frozenset({"hello", "ping", "quit"}),
    Phase.REGISTERED: frozenset(
        {
            "join",
            "leave",
            "say",
            "dm",
            "nick",
            "who",
            "rooms",
            "topic",
            "ping",
            "quit",
            "history",
            "search",
            "register",
            "passwd",
            "unregister",
            "op",
            "deop",
            "kick",
            "ban",
            "unban",
            "bans",
            "mute",
            "unmute",
            "mode",
            "invite",
            "modlog",
            "kill",
            "server_ban",
            "server_unban",
            "server_bans",
            "wall",
            "away",
            "whois",
        }
    ),
    Phase.CLOSING: frozenset(),
}

#: The error for a request its phase does not allow, and its message (None: ignore silently).
REFUSAL: dict[Phase, tuple[ErrorCode, str] | None] = {
    Phase.CONNECTED: (ErrorCode.NOT_REGISTERED, "say hello first"),
    Phase.REGISTERED: (ErrorCode.ALREADY_REGISTERED, "already registered"),
    Phase.CLOSING: None,
}
