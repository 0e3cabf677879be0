"""The request handlers, by domain; each is `handler(hub, conn, message)` and may raise
ProtocolError, which the Hub turns into an `error` frame (closing the connection if fatal)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from chat_server.core.handlers import accounts, direct, history, rooms, session
from protocol import (
    ChangeNick,
    GetHistory,
    Hello,
    Join,
    Leave,
    ListRooms,
    Passwd,
    Ping,
    Quit,
    Register,
    Say,
    Search,
    SendDm,
    SetTopic,
    Unregister,
    Who,
)
from protocol.messages import _Message

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
}
