"""Presence: `away` (an away message, told once to everyone sharing a room) and `whois`.

The away message lives on the connection (`Connection.away`): it follows a nick change and
goes with the connection. Each `away` is one request to flood control like any other; one that
changes nothing is answered to its sender alone, so repeating it costs the rooms nothing.

`whois.idle` counts from the newest thing the target said that the server still knows of: its
last `dm` (`Connection.said`), or its newest message among those the server holds in memory
for each of its rooms (the replay window, 100 per room by default), under its current nick.
Nothing is added to `say` for it: the message bodies already say who spoke and when.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from pydantic_core import to_json

from protocol import ErrorCode, ProtocolError, encode
from protocol.names import check_text
from protocol.presence import Away, AwayChanged, Whois, WhoisReply

if TYPE_CHECKING:
    from chat_server.core.connection import Connection
    from chat_server.core.hub import Hub

#: How every chat message body starts (protocol.messages.chat_message_body), up to its id.
_MESSAGE_HEAD = b'{"type":"message","id":'
_TS_FIELD = b',"ts":"'


def away(hub: Hub, conn: Connection, msg: Away) -> None:
    assert conn.nick is not None
    message = None
    if msg.message is not None:
        text = msg.message.strip()
        if text:
            try:
                message = check_text(
                    text, "away message", hub.config.max_away, max_marks=hub.config.max_combining
                )
            except ValueError as exc:
                raise ProtocolError(ErrorCode.INVALID_TEXT, str(exc)) from None
            if "\n" in message:
                raise ProtocolError(ErrorCode.INVALID_TEXT, "an away message is one line")
    changed = encode(AwayChanged(nick=conn.nick, message=message))
    if message == conn.away:
        hub.outbox.send(conn, changed)  # nothing changed: the sender alone hears it again
        return
    conn.away = message
    # Once to each: the sender and everyone sharing any of its rooms (as for `nick`).
    peers: dict[Connection, None] = {conn: None}
    for room in conn.rooms.values():
        room.changed()  # its `members` lists who is away
        peers.update(room.members)
    hub.bus.publish_to(peers, changed)


def whois(hub: Hub, conn: Connection, msg: Whois) -> None:
    target = hub.nicks.holder(msg.nick)
    if target is None or target.nick is None or target.closed:
        raise ProtocolError(ErrorCode.NO_SUCH_NICK, f"no one is called {msg.nick}")
    # A secret room is named only to its members, as in `room_list`.
    rooms = [
        room.name
        for room in target.rooms.values()
        if not room.mod.modes.secret or conn in room.members
    ]
    now = time.time()
    connected = now - max(0.0, hub.clock.monotonic() - target.opened)
    said = last_said(hub, target)
    hub.send(
        conn,
        WhoisReply(
            nick=target.nick,
            account=target.account,
            local_user=target.local_user,
            away=target.away,
            rooms=rooms,
            idle=None if said is None else max(0, int(now - said)),
            connected=_stamp(connected),
        ),
    )


def last_said(hub: Hub, conn: Connection) -> float | None:
    """When (wall-clock seconds) `conn` last said something the server still knows of: its
    last `dm`, or its newest message held in memory in one of its rooms; None if neither."""
    assert conn.nick is not None
    newest = conn.said
    nick = b',"nick":' + to_json(conn.nick) + b',"text":'
    for room in conn.rooms.values():
        speaker = b',"room":' + to_json(room.name) + nick
        for message_id, body in reversed(hub.history.window(room)):
            # The body's fields come in a fixed order, each value JSON-encoded, so this prefix
            # is the speaker's and no text can forge it.
            if not body.startswith(speaker, len(_MESSAGE_HEAD) + len(str(message_id))):
                continue
            when = _ts_of(body)
            if when is not None and (newest is None or when > newest):
                newest = when
            break  # the newest of this room's held messages by them
    return newest


def _ts_of(body: bytes) -> float | None:
    """The `ts` of a chat message body, in wall-clock seconds (its last field but `ref`)."""
    start = body.rfind(_TS_FIELD)
    if start < 0:
        return None
    start += len(_TS_FIELD)
    end = body.find(b'"', start)
    try:
        return datetime.fromisoformat(body[start:end].decode()).timestamp()
    except ValueError:
        return None


def _stamp(seconds: float) -> str:
    """Wall-clock seconds as the protocol writes a `ts`: 2026-11-27T21:24:03.123Z."""
    when = datetime.fromtimestamp(seconds, UTC)
    return when.isoformat(timespec="milliseconds").replace("+00:00", "Z")
