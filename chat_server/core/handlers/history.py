"""Reading back: `history` (older messages, a page at a time) and `search` (full text).

Both are for members of the room. `history` is answered from the window when it holds the
page, else from the store (off the loop, in order for the connection); `search` always asks
the store (FTS5 over the room's whole history; the in-memory store searches its window).
Every answer fits the reply budget: a page cut to fit keeps the newest messages of the page
and is not `complete`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from chat_server.core.config import REPLY_BUDGET
from chat_server.core.handlers.membership import room_of
from protocol import ErrorCode, GetHistory, ProtocolError, Search, frame
from protocol.messages import history_page_body, search_results_body

if TYPE_CHECKING:
    from chat_server.core.connection import Connection
    from chat_server.core.hub import Hub
    from chat_server.core.rooms import Room


def get_history(hub: Hub, conn: Connection, msg: GetHistory) -> None:
    room = room_of(hub, conn, msg.room)
    found, complete, below = hub.history.older(room, msg.before, msg.limit)
    store = hub.store
    if complete is not None or store.reads is None:
        # The window holds the page, or nothing older is kept anywhere.
        _answer(hub, conn, room, msg, [body for _, body in found], complete is not False)
        return
    wanted = msg.limit - len(found)

    def from_store(rows: list[tuple[int, bytes]]) -> None:
        bodies = [body for _, body in found] + [body for _, body in rows[:wanted]]
        _answer(hub, conn, room, msg, bodies, len(rows) <= wanted)

    hub.defer(
        conn,
        store.reads,
        lambda: store.reader().history(room, below, wanted + 1),
        from_store,
        ProtocolError(
            ErrorCode.STORE_UNAVAILABLE, f"the history of {room.name} is unreadable", ref=None
        ),
    )


def _answer(
    hub: Hub,
    conn: Connection,
    room: Room,
    msg: GetHistory,
    newest_first: list[bytes],
    complete: bool,
) -> None:
    kept = _fit(newest_first, len(history_page_body(room.name, [], msg.before, complete)))
    if len(kept) < len(newest_first):
        complete = False
    kept.reverse()
    hub.outbox.send(conn, frame(history_page_body(room.name, kept, msg.before, complete)))


def search(hub: Hub, conn: Connection, msg: Search) -> None:
    room = room_of(hub, conn, msg.room)
    store = hub.store

    def found(rows: list[tuple[int, bytes]]) -> None:
        wrapper = len(search_results_body(room.name, msg.query, []))
        bodies = _fit([body for _, body in rows], wrapper)
        hub.outbox.send(conn, frame(search_results_body(room.name, msg.query, bodies)))

    hub.defer(
        conn,
        store.reads,
        lambda: store.reader().search(room, msg.query, msg.limit),
        found,
        ProtocolError(ErrorCode.STORE_UNAVAILABLE, f"{room.name} cannot be searched now"),
    )


def _fit(newest_first: list[bytes], wrapper: int) -> list[bytes]:
    """The leading bodies that fit the reply budget with `wrapper` bytes around them."""
    budget = REPLY_BUDGET - wrapper
    kept: list[bytes] = []
    for body in newest_first:
        budget -= len(body) + 1
        if budget < 0:
            break
        kept.append(body)
    return kept
