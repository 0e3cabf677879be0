"""Queueing frames for connections: the fan-out hot loop and every output-cap rule.

Frames are encoded once by the caller and the same bytes object is queued for every recipient.
The first frame queued for a connection since its last flush wakes the backend once
(`io.output_ready()`), so a backend writes everything a loop turn produced with one call.

Output caps, as Redis applies them: what a connection has waiting (queued here plus what the
backend reported it could not send yet) may exceed the soft limit (`max_outbuf`) for at most
`outbuf_soft_seconds`, and may never exceed the hard limit (`outbuf_hard`). Past either, the
connection is cut as a slow consumer: its output is discarded and its socket reset. A brief
pause under a burst is therefore tolerated, a reader that stopped is not.
"""

from __future__ import annotations

from collections.abc import Callable, Collection

from chat_server.core.config import CoreConfig
from chat_server.core.connection import Connection
from chat_server.core.counts import Counts


class Outbox:
    """Queues frames, wakes backends, and tracks who is over an output cap."""

    __slots__ = ("_cut", "counts", "hard", "over_soft", "soft", "soft_seconds")

    def __init__(
        self,
        config: CoreConfig,
        cut: Callable[[Connection, str], None],
        counts: Counts | None = None,
    ) -> None:
        self.counts = counts or Counts()
        self.soft = config.max_outbuf
        self.hard = max(config.outbuf_hard, config.max_outbuf)
        self.soft_seconds = config.outbuf_soft_seconds
        self._cut = cut  # drops a connection as a slow consumer, saying why
        self.over_soft: dict[Connection, None] = {}

    def send(self, conn: Connection, frame: bytes) -> None:
        if conn.closed:
            return
        counts = self.counts
        counts.deliveries += 1
        counts.bytes_out += len(frame)
        conn.out.append(frame)
        queued = conn.out_bytes + len(frame)
        conn.out_bytes = queued
        if queued > self.hard:
            self._cut_hard(conn)
        elif not conn.wake_pending:
            conn.wake_pending = True
            conn.io.output_ready()

    def broadcast(self, members: Collection[Connection], frame: bytes) -> None:
        # The hot loop of every fan-out: keep it to a few attribute operations per member.
        hard = self.hard
        size = len(frame)
        counts = self.counts
        counts.deliveries += len(members)
        counts.bytes_out += size * len(members)
        over: list[Connection] = []
        for conn in members:
            conn.out.append(frame)
            queued = conn.out_bytes + size
            conn.out_bytes = queued
            if queued > hard:
                over.append(conn)
            elif not conn.wake_pending:
                conn.wake_pending = True
                conn.io.output_ready()
        for conn in over:
            self._cut_hard(conn)

    def replace_last(self, conn: Connection, shared: bytes, own: bytes) -> None:
        """Swap the frame just queued for `conn` (`shared`) for its own copy `own`.

        Usually the last frame queued; members cut during that broadcast may have queued a
        `left` after it, so look back for it."""
        if conn.closed:
            return
        out = conn.out
        for index in range(len(out) - 1, -1, -1):
            if out[index] is shared:
                out[index] = own
                conn.out_bytes += len(own) - len(shared)
                if conn.out_bytes > self.hard:
                    self._cut_hard(conn)
                return

    def report_unsent(self, conn: Connection, unsent: int, now: float) -> None:
        """The backend holds `unsent` bytes for `conn` that the kernel has not taken yet."""
        if conn.closed:
            return
        # out_bytes counts the backend's share as last reported: swap in the new figure.
        total = conn.out_bytes = conn.out_bytes + unsent - conn.unsent
        conn.unsent = unsent
        if total > self.hard:
            self._cut_hard(conn)
        elif total > self.soft:
            if conn.over_soft_since is None:
                conn.over_soft_since = now
                self.over_soft[conn] = None
        elif conn.over_soft_since is not None:
            conn.over_soft_since = None
            self.over_soft.pop(conn, None)

    def expire(self, now: float) -> None:
        """Cut every connection that has been over the soft limit for too long."""
        if not self.over_soft:
            return
        limit = now - self.soft_seconds
        late = [
            c
            for c in self.over_soft
            if c.over_soft_since is not None and c.over_soft_since <= limit
        ]
        for conn in late:
            self._cut(
                conn,
                f"more than {self.soft} bytes waiting to be read for "
                f"{self.soft_seconds:g} seconds; disconnected",
            )

    def _cut_hard(self, conn: Connection) -> None:
        self._cut(conn, f"more than {self.hard} bytes waiting to be read; disconnected")

    def forget(self, conn: Connection) -> None:
        conn.over_soft_since = None
        self.over_soft.pop(conn, None)
