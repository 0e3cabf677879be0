"""The request handlers, by domain; each is `handler(hub, conn, message)` and may raise
ProtocolError, which the Hub turns into an `error` frame (closing the connection if fatal)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from chat_server.core.handlers import (
    accounts,
    admin,
    direct,
    history,
    moderation,
    presence,
    rooms,
    session,
)
from protocol import (
    Ban,
    Bans,
    ChangeNick,
    Deop,
    GetHistory,
    GetModLog,
    Hello,
    Invite,
    Join,
    Kick,
    Kill,
    Leave,
    ListRooms,
    Mode,
    Mute,
    Op,
    Passwd,
    Ping,
    Quit,
    Register,
    Say,
    Search,
    SendDm,
    ServerBan,
    ServerBans,
    ServerUnban,
    SetTopic,
    Unban,
    Unmute,
    Unregister,
    Wall,
    Who,
)
from protocol.base import WireMessage as _Message
from protocol.presence import Away, Whois

if TYPE_CHECKING:
    from chat_server.core.connection import Connection
    from chat_server.core.hub import Hub

HANDLERS: dict[type[_Message], Callable[[Hub, Connection, Any], None]] = {
    Hello: session.hello,
    ChangeNick: session.change_nick,
    Ping: session.ping,
    Quit: session.quit,
    Join: rooms.join,
    Leave: rooms.leave,
    Say: rooms.say,
    Who: rooms.who,
    ListRooms: rooms.list_rooms,
    SetTopic: rooms.set_topic,
    SendDm: direct.send_dm,
    GetHistory: history.get_history,
    Search: history.search,
    Register: accounts.register,
    Passwd: accounts.passwd,
    Unregister: accounts.unregister,
    Op: moderation.op,
    Deop: moderation.deop,
    Kick: moderation.kick,
    Ban: moderation.ban,
    Unban: moderation.unban,
    Bans: moderation.bans,
    Mute: moderation.mute,
    Unmute: moderation.unmute,
    Mode: moderation.mode,
    Invite: moderation.invite,
    GetModLog: moderation.modlog,
    Kill: admin.kill,
    ServerBan: admin.server_ban,
    ServerUnban: admin.server_unban,
    ServerBans: admin.server_bans,
    Wall: admin.wall,
    Away: presence.away,
    Whois: presence.whois,
}
