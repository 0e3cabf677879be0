"""Direct messages: `dm`, delivered to the two parties only, or stored for an offline account."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from chat_server.core.interfaces import StoredDm
from protocol import DirectMessage, ErrorCode, ProtocolError, SendDm
from protocol.names import check_text

if TYPE_CHECKING:
    from chat_server.core.connection import Connection
    from chat_server.core.hub import Hub


def send_dm(hub: Hub, conn: Connection, msg: SendDm) -> None:
    assert conn.nick is not None
    target = hub.nicks.holder(msg.to)
    account = None
    if target is None or target.nick is None:
        account = hub.accounts.find(msg.to)
        if account is None:
            raise ProtocolError(ErrorCode.NO_SUCH_NICK, f"no one is called {msg.to}", ref=msg.ref)
    try:
        config = hub.config
        text = check_text(msg.text, max_length=config.max_text, max_marks=config.max_combining)
    except ValueError as exc:
        raise ProtocolError(ErrorCode.INVALID_TEXT, str(exc), ref=msg.ref) from None
    message_id = hub.next_id()
    ts = hub.clock.stamp()
    conn.said = time.time()  # for `whois.idle`
    action = True if msg.action else None  # on the wire only when true
    if account is not None:
        # Offline: stored (the newest `max_offline_dms` per account) until the next login. The
        # store keeps the text only: an action is delivered, and echoed, as a plain DM.
        keep = hub.config.max_offline_dms
        ticket = hub.store.add_offline_dm(
            StoredDm(account.key, message_id, conn.nick, text, ts), keep
        )
        hub.accounts.offline[account.key] = min(keep, hub.accounts.offline.get(account.key, 0) + 1)
        echo = DirectMessage.model_construct(
            id=message_id, sender=conn.nick, to=account.name, text=text, ts=ts, offline=True
        )
        hub.send(conn, echo.model_copy(update={"ref": msg.ref}))
        hub.withhold(conn, ticket)  # the echo says it is stored: only once it is
        return
    assert target is not None and target.nick is not None
    message = DirectMessage.model_construct(
        id=message_id, sender=conn.nick, to=target.nick, text=text, ts=ts, action=action
    )
    if target is not conn:
        hub.send(target, message)
    hub.send(conn, message.model_copy(update={"ref": msg.ref}))


def deliver_offline(hub: Hub, conn: Connection, stored: list[StoredDm]) -> None:
    """At login: the DMs stored for the account, oldest first, then forget them."""
    assert conn.account is not None and conn.account_key is not None
    for dm in stored:
        hub.send(
            conn,
            DirectMessage.model_construct(
                id=dm.id, sender=dm.sender, to=conn.account, text=dm.text, ts=dm.ts, offline=True
            ),
        )
    if stored:
        hub.store.drop_offline_dms(conn.account_key, stored[-1].id)
    hub.accounts.offline.pop(conn.account_key, None)
