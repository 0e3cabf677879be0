"""Wire error codes, and the exception that carries one out of the sans-IO layer."""

from __future__ import annotations

from enum import StrEnum


class ErrorCode(StrEnum):
    """Every `code` an `error` frame can carry (docs/protocol.md lists them with their meaning)."""

    NICK_TAKEN = "nick_taken"
    INVALID_NICK = "invalid_nick"
    INVALID_ROOM = "invalid_room"
    INVALID_TEXT = "invalid_text"
    NOT_REGISTERED = "not_registered"
    ALREADY_REGISTERED = "already_registered"
    NOT_IN_ROOM = "not_in_room"
    NO_SUCH_ROOM = "no_such_room"
    NO_SUCH_NICK = "no_such_nick"
    UNSUPPORTED_PROTOCOL = "unsupported_protocol"
    BAD_PASSWORD = "bad_password"
    BAD_JSON = "bad_json"
    INVALID_MESSAGE = "invalid_message"
    FRAME_TOO_LARGE = "frame_too_large"
    SERVER_FULL = "server_full"
    SLOW_CONSUMER = "slow_consumer"
    IDLE_TIMEOUT = "idle_timeout"
    FLOOD = "flood"
    RATE_LIMITED = "rate_limited"
    TOO_MANY_CONNECTIONS = "too_many_connections"
    LIMIT_REACHED = "limit_reached"
    INTERNAL_ERROR = "internal_error"
    NICK_REGISTERED = "nick_registered"
    BAD_LOGIN = "bad_login"
    REPLACED = "replaced"
    NOT_LOGGED_IN = "not_logged_in"
    STORE_UNAVAILABLE = "store_unavailable"
    NOT_OP = "not_op"
    NOT_ADMIN = "not_admin"
    BANNED = "banned"
    BAD_KEY = "bad_key"
    INVITE_ONLY = "invite_only"
    ROOM_FULL = "room_full"
    MUTED = "muted"
    TOPIC_LOCKED = "topic_locked"
    INVALID_MASK = "invalid_mask"
    KILLED = "killed"


#: Codes after which the server always closes the connection.
FATAL_CODES = frozenset(
    {
        ErrorCode.UNSUPPORTED_PROTOCOL,
        ErrorCode.BAD_PASSWORD,
        ErrorCode.FRAME_TOO_LARGE,
        ErrorCode.SERVER_FULL,
        ErrorCode.SLOW_CONSUMER,
        ErrorCode.IDLE_TIMEOUT,
        ErrorCode.FLOOD,
        ErrorCode.TOO_MANY_CONNECTIONS,
        ErrorCode.REPLACED,
        ErrorCode.KILLED,
    }
)


class ProtocolError(Exception):
    """A peer broke the wire contract: `code` goes on the wire, `fatal` says whether to close.

    The caller answers with an `error` frame carrying `code`, `str(exc)`, `ref` and
    `retry_after`, and closes the connection when `fatal` is true. After a fatal error the
    decoder accepts no more data. `rate_limited` is fatal only where the caller says so (a
    throttled login); `retry_after` is in seconds, for codes where waiting helps.
    """

    def __init__(
        self,
        code: ErrorCode,
        message: str,
        *,
        ref: str | None = None,
        fatal: bool | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.ref = ref
        self.fatal = code in FATAL_CODES if fatal is None else fatal
        self.retry_after = retry_after
