"""Membership shared by the room and moderation requests: finding a member's room, and taking
a member out of one."""

from __future__ import annotations

from typing import TYPE_CHECKING

from protocol import ErrorCode, ProtocolError
from protocol.names import MAX_ROOM_LENGTH, name_key, too_long

if TYPE_CHECKING:
    from chat_server.core.connection import Connection
    from chat_server.core.hub import Hub
    from chat_server.core.rooms import Room


def room_of(hub: Hub, conn: Connection, room_name: str, ref: str | None = None) -> Room:
    """The room `conn` is in under that name (or a look-alike of it), or `not_in_room`."""
    room = None if too_long(room_name, MAX_ROOM_LENGTH) else conn.rooms.get(name_key(room_name))
    if room is None:
        found = hub.rooms.find(room_name)
        if found is not None and conn in found.members:
            return found
        raise ProtocolError(ErrorCode.NOT_IN_ROOM, f"you are not in {room_name}", ref=ref)
    return room


def left_room(hub: Hub, room: Room, conn: Connection) -> bool:
    """Take `conn` out of `room` (the caller took `room` out of `conn.rooms`); True if the
    room is now gone (forgotten by the store too)."""
    room.mod.op_conns.discard(conn)  # an op by connection is op while there
    if not hub.rooms.remove_member(room, conn, keep=hub.store.keeps_rooms):
        return False
    hub.forget_room(room)
    return True
