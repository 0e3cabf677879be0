"""Settings that change while serving (a reload, SIGHUP): which ones, and how they are applied."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from chat_server.core.config import REPLY_BUDGET, CoreConfig
from chat_server.core.guards import AddressGuard
from protocol.names import name_key

if TYPE_CHECKING:
    from chat_server.core.hub import Hub

#: The CoreConfig fields `reconfigure` takes while serving. The others (the history
#: bounds, the password, the server's name) are fixed when the Hub is built.
RELOADABLE = frozenset(
    {
        "motd",
        "admins",
        "exempt",
        "local_nicks",
        "max_frame",
        "max_clients",
        "max_rooms",
        "max_rooms_per_client",
        "max_outbuf",
        "outbuf_hard",
        "outbuf_soft_seconds",
        "idle_timeout",
        "hello_timeout",
        "max_combining",
        "max_text",
        "max_topic",
        "max_away",
        "max_password_checks",
        "account_bad_logins",
        "account_bad_logins_window",
        "max_offline_dms",
        "room_ttl_days",
        "flood",
        "per_address",
    }
)


def reconfigure(hub: Hub, config: CoreConfig) -> None:
    """Have `hub` take what `config` changes among the RELOADABLE settings (a reload, SIGHUP); keep
    the rest as it is. Call on the core's thread (under its lock).

    Most limits are read where they apply, so they hold at once for everyone; the output
    caps are checked again now. Fixed per connection when it opens: `max_frame`, the
    flood buckets and whether it is exempt. When a per-address limit, an account login
    limit or the exempt networks change, the per-address windows start afresh."""
    old = hub.config
    kept = {
        f.name: getattr(old, f.name) for f in dataclasses.fields(old) if f.name not in RELOADABLE
    }
    hub.config = config = dataclasses.replace(config, **kept)
    hub.admins = frozenset(name_key(name) for name in config.admins)
    hub.rooms.max_rooms = config.max_rooms
    hub.replay_budget = min(REPLY_BUDGET, config.max_outbuf // 2)
    outbox = hub.outbox
    outbox.soft = config.max_outbuf
    outbox.hard = max(config.outbuf_hard, config.max_outbuf)  # as Outbox.__init__
    outbox.soft_seconds = config.outbuf_soft_seconds
    guarded = (
        config.per_address,
        config.exempt,
        config.account_bad_logins,
        config.account_bad_logins_window,
    )
    if guarded != (
        old.per_address,
        old.exempt,
        old.account_bad_logins,
        old.account_bad_logins_window,
    ):
        held = hub.guard.connections
        hub.guard = AddressGuard(*guarded)
        hub.guard.connections = held  # the connections open now still count
    now = hub.clock.monotonic()
    for conn in list(hub.connections.values()):
        if conn.out_bytes:
            outbox.report_unsent(conn, conn.unsent, now)
