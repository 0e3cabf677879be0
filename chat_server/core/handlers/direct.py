"""Direct messages: `dm`, delivered to the two parties only."""

from __future__ import annotations

from typing import TYPE_CHECKING

from protocol import DirectMessage, ErrorCode, ProtocolError, SendDm
from protocol.names import check_text

if TYPE_CHECKING:
    from chat_server.core.connection import Connection
    from chat_server.core.hub import Hub


def send_dm(hub: Hub, conn: Connection, msg: SendDm) -> None:
    assert conn.nick is not None
    target = hub.nicks.holder(msg.to)
    if target is None or target.nick is None:
        raise ProtocolError(ErrorCode.NO_SUCH_NICK, f"no one is called {msg.to}", ref=msg.ref)
    try:
        text = check_text(msg.text, max_marks=hub.config.max_combining)
    except ValueError as exc:
        raise ProtocolError(ErrorCode.INVALID_TEXT, str(exc), ref=msg.ref) from None
    message = DirectMessage.model_construct(
        id=hub.ids.next_id(),
        sender=conn.nick,
        to=target.nick,
        text=text,
        ts=hub.clock.stamp(),
    )
    if target is not conn:
        hub.send(target, message)
    hub.send(conn, message.model_copy(update={"ref": msg.ref}))
