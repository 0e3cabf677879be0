"""The backend-agnostic chat core: rooms, nicks, DMs, history, limits and errors, with no IO."""

from chat_server.core.clock import SystemClock, utc_now
from chat_server.core.config import AddressLimits, CoreConfig, FloodLimits
from chat_server.core.connection import Connection, ConnectionIO
from chat_server.core.hub import TICK, Hub
from chat_server.core.phases import Phase
from chat_server.core.rooms import Room

__all__ = [
    "TICK",
    "AddressLimits",
    "Connection",
    "ConnectionIO",
    "CoreConfig",
    "FloodLimits",
    "Hub",
    "Phase",
    "Room",
    "SystemClock",
    "utc_now",
]
