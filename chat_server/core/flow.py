"""What holds a connection back: requests waiting their turn, and output waiting for the store.

Flood control does not refuse a request: the connection's requests wait (`Connection.waiting`)
and reading stops until its buckets refill (`run_waiting`, called as bytes come and on every
tick). Requests also wait behind deferred work (`Connection.busy`), bounded like flood
control. A message is stored before its sender sees the echo: the sender's output from that
frame on is withheld (`withhold`) until the store says the write is durable
(`release_committed`), and a sender with much withheld is not read meanwhile. The reasons to
stop reading add up (`pause`, `unpause`): reading resumes when none is left.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

from chat_server.core.connection import MALFORMED, Connection, Malformed
from protocol import ErrorCode, ProtocolError

if TYPE_CHECKING:
    from chat_server.core.hub import Hub

#: Why a connection is not read (Connection.paused): requests wait (flood control, or behind
#: deferred work), or its output waits for the store with more than WITHHELD_PAUSE queued.
PAUSED_WAITING = 1
PAUSED_STORE = 2
#: Bytes queued for a withheld connection beyond which it is not read until the store
#: catches up: a sender cannot outrun the database, nor fill its own output queue.
WITHHELD_PAUSE = 256 * 1024


def run_waiting(hub: Hub, conn: Connection, now: float) -> None:
    """Handle the requests flood control held back, as far as the budget goes now."""
    flood = conn.flood
    waiting = conn.waiting
    if waiting is None:
        return
    while waiting and not conn.closed:
        if conn.busy or conn.paused & PAUSED_STORE:
            # Deferred work runs, or the store is behind: `Hub._resume` or `release_committed`
            # continues from here.
            bound_waiting(hub, conn)
            return
        body = waiting[0]
        held = conn.held
        if held is None:
            # Validated once, the first time it comes up; a malformed frame is answered
            # then, and charged as a request all the same when its turn comes.
            held = hub.parse(conn, body) or MALFORMED
        if flood is not None:
            wait = flood.take(held.type, len(body) + 4, now)
            if wait > 0:
                conn.held = held  # keep the result until its turn
                _hold(hub, conn, now)
                return
        waiting.popleft()
        conn.held = None
        if not isinstance(held, Malformed):
            hub.dispatch(conn, held)
    if not conn.closed:
        conn.waiting = None
        if conn.doomed is not None:
            hub.fail(conn, conn.doomed)
        else:
            _release(hub, conn)


def bound_waiting(hub: Hub, conn: Connection) -> None:
    """While deferred work runs, stop reading once many requests wait behind it."""
    waiting = conn.waiting
    if (
        waiting is not None
        and len(waiting) > hub.config.flood.max_waiting
        and conn not in hub.throttled
    ):
        hub.throttled[conn] = None
        pause(conn, PAUSED_WAITING)


def _hold(hub: Hub, conn: Connection, now: float) -> None:
    limits = hub.config.flood
    if conn not in hub.throttled:
        hub.throttled[conn] = None
        hub.counts.flood_delays += 1
        pause(conn, PAUSED_WAITING)
    if conn.waiting is not None and len(conn.waiting) > limits.max_waiting:
        if conn.waiting_since is None:
            conn.waiting_since = now
        elif now - conn.waiting_since > limits.max_waiting_seconds:
            hub.counts.flood_disconnects += 1
            hub.fail(
                conn,
                ProtocolError(
                    ErrorCode.FLOOD,
                    f"more than {limits.max_waiting} requests waiting for over "
                    f"{limits.max_waiting_seconds:g} seconds; disconnected",
                ),
            )
    else:
        conn.waiting_since = None


def _release(hub: Hub, conn: Connection) -> None:
    conn.waiting_since = None
    if conn in hub.throttled:
        del hub.throttled[conn]
        unpause(conn, PAUSED_WAITING)


def pause(conn: Connection, reason: int) -> None:
    """Stop reading `conn` for `reason` (reasons add up: reading resumes when all end)."""
    if not conn.paused:
        conn.io.pause_reading()
    conn.paused |= reason


def unpause(conn: Connection, reason: int) -> None:
    if conn.paused & reason:
        conn.paused &= ~reason
        if not conn.paused and not conn.closed:
            conn.io.resume_reading()


def withhold(hub: Hub, conn: Connection, ticket: int) -> None:
    """The frame just queued for `conn`, and all after it, wait until the store write
    `ticket` is durable (what was queued before it may go)."""
    if ticket > hub.durable and conn.out:
        conn.hold(ticket)
        hub.withheld[conn] = None
        if conn.out_bytes > WITHHELD_PAUSE and not conn.paused & PAUSED_STORE:
            pause(conn, PAUSED_STORE)


def release_committed(hub: Hub, ticket: int) -> None:
    """Store writes up to `ticket` are durable: the output they held goes out."""
    hub.durable = ticket
    for conn in list(hub.withheld):
        if not conn.release(ticket):
            continue  # its oldest held frame waits for a later write
        if not conn.withheld:
            del hub.withheld[conn]
        conn.wake_pending = True
        conn.io.output_ready()
        if conn.paused & PAUSED_STORE:
            unpause(conn, PAUSED_STORE)
            if conn.waiting is not None:
                # Later, not now: what was just released still counts in `out_bytes`
                # until the backend takes it, and would pause it again at once.
                hub.post(functools.partial(hub.resume_waiting, conn))
