"""Room requests: `join`, `leave`, `say`, `who`, `rooms` and `topic`, and leaving on close."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from chat_server.core.handlers import policy
from chat_server.core.handlers.membership import left_room, room_of
from protocol import (
    ErrorCode,
    Join,
    Joined,
    Leave,
    Left,
    ListRooms,
    ProtocolError,
    Say,
    SetTopic,
    Topic,
    Who,
    encode,
    frame,
)
from protocol.messages import chat_message_body, history_body, with_ref
from protocol.names import check_text, normalize_room

if TYPE_CHECKING:
    from chat_server.core.connection import Connection
    from chat_server.core.hub import Hub
    from chat_server.core.rooms import Room


def join(hub: Hub, conn: Connection, msg: Join) -> None:
    assert conn.nick is not None
    try:
        name = normalize_room(msg.room)
    except ValueError as exc:
        raise ProtocolError(ErrorCode.INVALID_ROOM, str(exc)) from None
    room = hub.rooms.find(name)
    if room is not None and conn in room.members:
        # Joining a room again is harmless: the joiner alone gets the same replies again.
        hub.send(conn, Joined(room=room.name, nick=conn.nick, ts=hub.clock.stamp()))
        _replay(hub, conn, room, msg)
        return
    limit = hub.config.max_rooms_per_client
    if len(conn.rooms) >= limit:
        raise ProtocolError(
            ErrorCode.INVALID_ROOM, f"you are already in {limit} rooms; leave one first"
        )
    if room is None:
        hub.rooms.check_capacity()  # before the throttle, so a refusal costs nothing
        if not conn.exempt and conn.address is not None:
            hub.guard.create_room(conn.address, hub.clock.monotonic())
        room = hub.rooms.create(name)
        room.last_active = time.time()
        hub.store.save_room(room.key, room.name, hub.clock.stamp())
        policy.creator(hub, conn, room)
        _enter(hub, conn, room, msg, created=True)
        return
    entering = room
    policy.admit(hub, conn, room, msg.key, lambda: _enter(hub, conn, entering, msg))


def _enter(hub: Hub, conn: Connection, room: Room, msg: Join, created: bool = False) -> None:
    """`conn` may join `room`: make it a member, tell the room, answer with the replay (a
    creator's role is in the `members` it gets; a role it brings is told to the room)."""
    assert conn.nick is not None
    if hub.rooms.get(room.key) is not room:  # forgotten while a key was checked
        raise ProtocolError(ErrorCode.NO_SUCH_ROOM, f"{room.name} is gone: join it again")
    hub.rooms.add_member(room, conn)
    conn.rooms[room.key] = room
    hub.bus.publish(room, encode(Joined(room=room.name, nick=conn.nick, ts=hub.clock.stamp())))
    if not created:
        policy.announce_joiner(hub, room, conn)
    _replay(hub, conn, room, msg)


def _replay(hub: Hub, conn: Connection, room: Room, msg: Join) -> None:
    budget = hub.replay_budget - len(history_body(room.name, []))  # for the whole body
    replay = hub.history.since(room, msg.since, budget)
    if replay is not None:
        _joined(hub, conn, room, replay)
        return
    # The window is cold (the server restarted): read what precedes it once, then replay.
    # Messages that arrive meanwhile reach the joiner live, so the replay stops at `upto`.
    upto = hub.history.newest(room)
    asked = hub.config.history
    store = hub.store

    def replay_from_store(rows: list[tuple[int, bytes]]) -> None:
        hub.history.seed(room, rows, asked)
        _joined(hub, conn, room, hub.history.since(room, msg.since, budget, upto) or [])

    hub.defer(
        conn,
        store.reads,
        lambda: store.reader().history(room, hub.history.floor(room) + 1, asked),
        replay_from_store,
        ProtocolError(ErrorCode.STORE_UNAVAILABLE, f"the history of {room.name} is unreadable"),
    )


def _joined(hub: Hub, conn: Connection, room: Room, replay: list[bytes]) -> None:
    """The rest of a join's answer: the replay, the members and the topic."""
    hub.outbox.send(conn, frame(history_body(room.name, replay)))
    hub.outbox.send(conn, room.members_frame(hub.admins))
    if room.topic:
        hub.send(conn, Topic(room=room.name, topic=room.topic, nick=room.topic_by))
    if room.mod.modes.any_set():
        hub.send(conn, policy.modes_frame(room))


def leave(hub: Hub, conn: Connection, msg: Leave) -> None:
    assert conn.nick is not None
    room = room_of(hub, conn, msg.room)
    # Leave first, then tell: if this broadcast drops the leaver as a slow consumer, it must
    # not announce a second `left` for this room.
    del conn.rooms[room.key]
    left_room(hub, room, conn)
    left = encode(Left(room=room.name, nick=conn.nick, ts=hub.clock.stamp()))
    hub.bus.publish_to([*room.members, conn], left)


def leave_all(hub: Hub, conn: Connection, reason: str) -> None:
    """`conn` is closing: take it out of every room and tell each what happened."""
    ts = hub.clock.stamp()
    nick = conn.nick or ""
    rooms = list(conn.rooms.values())
    conn.rooms.clear()
    for room in rooms:
        if left_room(hub, room, conn) or not room.members:
            continue
        # May drop other slow members in turn; the room is already consistent.
        hub.bus.publish(room, encode(Left(room=room.name, nick=nick, reason=reason, ts=ts)))


def say(hub: Hub, conn: Connection, msg: Say) -> None:
    assert conn.nick is not None
    room = room_of(hub, conn, msg.room, msg.ref)
    if room.restricted:
        policy.check_voice(hub, room, conn, msg.ref)
    try:
        config = hub.config
        text = check_text(msg.text, max_length=config.max_text, max_marks=config.max_combining)
    except ValueError as exc:
        raise ProtocolError(ErrorCode.INVALID_TEXT, str(exc), ref=msg.ref) from None
    # Encoded once, without building a ChatMessage (see protocol.messages fast paths).
    message_id = hub.next_id()
    hub.counts.messages += 1
    ts = hub.clock.stamp()
    body = chat_message_body(message_id, room.name, conn.nick, text, msg.action, ts)
    hub.history.append(room, message_id, body)
    # A plain tuple (StoredMessage's fields, in order): this runs for every message.
    ticket = hub.store.add_message((message_id, room.key, body, text, conn.account))  # type: ignore[arg-type]
    room.kept = True
    room.last_active = hub.wall
    shared = frame(body)
    hub.bus.publish(room, shared)
    if msg.ref is not None:
        # The sender's own copy carries its ref, so it can match the echo to what it sent:
        # every member got the shared frame, then the sender's last frame is swapped for its
        # own copy, which keeps the fan-out loop free of checks.
        hub.outbox.replace_last(conn, shared, frame(with_ref(body, msg.ref)))
    if ticket:
        # Its echo (and all it is sent after) waits until the message is in the database.
        hub.withhold(conn, ticket)


def who(hub: Hub, conn: Connection, msg: Who) -> None:
    room = hub.rooms.find(msg.room)
    if room is None or (room.mod.modes.secret and conn not in room.members):
        raise ProtocolError(ErrorCode.NO_SUCH_ROOM, f"there is no room called {msg.room}")
    hub.outbox.send(conn, room.members_frame(hub.admins))


def list_rooms(hub: Hub, conn: Connection, msg: ListRooms) -> None:
    secret = frozenset(room for room in conn.rooms.values() if room.mod.modes.secret)
    hub.outbox.send(conn, hub.rooms.listing(secret))


def set_topic(hub: Hub, conn: Connection, msg: SetTopic) -> None:
    assert conn.nick is not None
    room = room_of(hub, conn, msg.room)
    policy.check_topic(hub, room, conn)
    topic = msg.topic.strip()
    if topic:
        try:
            check_text(topic, "topic", hub.config.max_topic, max_marks=hub.config.max_combining)
        except ValueError as exc:
            raise ProtocolError(ErrorCode.INVALID_TEXT, str(exc)) from None
        if "\n" in topic:
            raise ProtocolError(ErrorCode.INVALID_TEXT, "a topic is one line")
    hub.rooms.retitle(room, topic, conn.nick)
    hub.store.set_topic(room.key, topic, conn.nick)
    if topic:
        room.kept = True
    hub.bus.publish(room, encode(Topic(room=room.name, topic=topic, nick=conn.nick)))
