"""The backend-agnostic chat core: rooms, nicks, DMs, history and errors, with no IO."""

from chat_server.core.config import CoreConfig
from chat_server.core.connection import Connection, ConnectionIO
from chat_server.core.hub import Hub, utc_now
from chat_server.core.rooms import Room

__all__ = ["Connection", "ConnectionIO", "CoreConfig", "Hub", "Room", "utc_now"]
