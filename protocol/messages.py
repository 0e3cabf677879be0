"""The wire messages of protocol version 1 as frozen pydantic models, with one adapter per side.

Every message is a JSON object whose `type` field names it. The client-to-server set and the
server-to-client set are each a discriminated union on `type`, validated straight from bytes
by a TypeAdapter built once at import. Unknown fields are rejected, no value is coerced from
another JSON type, and optional fields that have no value are left out when encoding.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, TypeAdapter
from pydantic_core import to_json

from protocol.base import Ref as _Ref
from protocol.base import Short as _Short
from protocol.base import WireMessage as _Message
from protocol.moderation import (
    Ban,
    BanList,
    Bans,
    Deop,
    GetModLog,
    Invite,
    Invited,
    Kick,
    Kicked,
    Kill,
    Mode,
    ModeChanged,
    Modes,
    ModLog,
    Mute,
    Op,
    RoleChanged,
    ServerBan,
    ServerBans,
    ServerUnban,
    Unban,
    Unmute,
    Wall,
)
from protocol.presence import Away, AwayChanged, Whois, WhoisReply

PROTOCOL_VERSION = 1


# ----------------------------------------------------------------- client to server


class Auth(_Message):
    """`hello.auth`: log in to the account named by `hello.nick`."""

    password: _Short


#: An account password: what `register` and `passwd.new` accept.
_NewPassword = Annotated[str, Field(min_length=8, max_length=256)]


class Hello(_Message):
    type: Literal["hello"] = "hello"
    nick: _Short
    protocol: int
    password: _Short | None = None  # the server password, when the server has one
    # Added to version 1 later: log in to the account named by `nick`.
    auth: Auth | None = None


class Join(_Message):
    type: Literal["join"] = "join"
    room: _Short
    since: int | None = None
    # Added later: the room's key, for a room that has one (`mode`).
    key: _Short | None = None


class Leave(_Message):
    type: Literal["leave"] = "leave"
    room: _Short


class Say(_Message):
    type: Literal["say"] = "say"
    room: _Short
    text: str
    action: bool = False
    ref: _Ref | None = None


class SendDm(_Message):
    type: Literal["dm"] = "dm"
    to: _Short
    text: str
    ref: _Ref | None = None
    # Added later: true for an action (`/me`), as `say.action`. Absent (or null) means
    # false, and is left out when encoding, so a plain `dm` reads as it always did.
    action: bool | None = None


class ChangeNick(_Message):
    type: Literal["nick"] = "nick"
    nick: _Short


class Who(_Message):
    type: Literal["who"] = "who"
    room: _Short


class ListRooms(_Message):
    type: Literal["rooms"] = "rooms"


class SetTopic(_Message):
    type: Literal["topic"] = "topic"
    room: _Short
    topic: str


class Ping(_Message):
    type: Literal["ping"] = "ping"
    token: _Ref


class GetHistory(_Message):
    """Older messages of a room, a page at a time (answered by `history` with `before`)."""

    type: Literal["history"] = "history"
    room: _Short
    before: int | None = None
    limit: Annotated[int, Field(ge=1, le=200)] = 50


class Search(_Message):
    type: Literal["search"] = "search"
    room: _Short
    query: Annotated[str, Field(min_length=1, max_length=256)]
    limit: Annotated[int, Field(ge=1, le=100)] = 20


class Register(_Message):
    type: Literal["register"] = "register"
    password: _NewPassword


class Passwd(_Message):
    type: Literal["passwd"] = "passwd"
    old: _Short
    new: _NewPassword


class Unregister(_Message):
    type: Literal["unregister"] = "unregister"
    password: _Short


class Quit(_Message):
    type: Literal["quit"] = "quit"
    reason: _Short | None = None


ClientMessage = Annotated[
    Hello
    | Join
    | Leave
    | Say
    | SendDm
    | ChangeNick
    | Who
    | ListRooms
    | SetTopic
    | Ping
    | Quit
    | GetHistory
    | Search
    | Register
    | Passwd
    | Unregister
    | Op
    | Deop
    | Kick
    | Ban
    | Unban
    | Bans
    | Mute
    | Unmute
    | Mode
    | Invite
    | Kill
    | ServerBan
    | ServerUnban
    | ServerBans
    | Wall
    | GetModLog
    | Away
    | Whois,
    Field(discriminator="type"),
]
CLIENT_MESSAGE: TypeAdapter[ClientMessage] = TypeAdapter(ClientMessage)


# ----------------------------------------------------------------- server to client


class ServerInfo(_Message):
    name: str
    version: str


class Welcome(_Message):
    type: Literal["welcome"] = "welcome"
    nick: str
    protocol: int
    server: ServerInfo
    backend: str
    motd: str | None = None
    # Added to version 1 after its first release (so optional here): a token that changes
    # whenever the server restarts. Message ids are only comparable within one instance.
    instance: str | None = None
    # Added later: the account this connection is logged in to.
    account: str | None = None
    # Added later: on a Unix-socket connection, the login name the kernel vouches for.
    local_user: str | None = None


class Joined(_Message):
    type: Literal["joined"] = "joined"
    room: str
    nick: str
    ts: str


class ChatMessage(_Message):
    type: Literal["message"] = "message"
    id: int
    room: str
    nick: str
    text: str
    action: bool
    ts: str
    ref: str | None = None


class History(_Message):
    type: Literal["history"] = "history"
    room: str
    messages: list[ChatMessage]
    # Added later, in answers to a `history` request only: its `before`, echoed, and
    # `complete: true` when no older message exists.
    before: int | None = None
    complete: bool | None = None


class SearchResults(_Message):
    type: Literal["search_results"] = "search_results"
    room: str
    query: str
    messages: list[ChatMessage]  # newest first


class Registered(_Message):
    type: Literal["registered"] = "registered"
    account: str


class PasswdChanged(_Message):
    type: Literal["passwd_changed"] = "passwd_changed"


class Unregistered(_Message):
    type: Literal["unregistered"] = "unregistered"
    account: str


class Notice(_Message):
    """A line from the server itself, or an admin's `wall`, to every connection."""

    type: Literal["notice"] = "notice"
    text: str
    sender: str = Field(alias="from")
    ts: str


class Left(_Message):
    type: Literal["left"] = "left"
    room: str
    nick: str
    reason: str | None = None
    ts: str


class DirectMessage(_Message):
    type: Literal["dm"] = "dm"
    id: int
    sender: str = Field(alias="from")
    to: str
    text: str
    ts: str
    ref: str | None = None
    # Added later: true when the message was stored for an offline account (on the sender's
    # echo) or is delivered from that store at login.
    offline: bool | None = None
    # Added later: true for an action (`dm.action`); absent otherwise.
    action: bool | None = None


class NickChanged(_Message):
    type: Literal["nick_changed"] = "nick_changed"
    old: str
    new: str


class Members(_Message):
    type: Literal["members"] = "members"
    room: str
    nicks: list[str]
    # Added to version 1 later (so optional): the full member count, sent when `nicks` was cut
    # to fit the reply budget (and always by this server, so clients can show it).
    total: int | None = None
    # Added later: the members' roles (nick -> "owner" or "op"; plain members are absent) and
    # the muted members' nicks, among those listed in `nicks`.
    roles: dict[str, Literal["owner", "op"]] | None = None
    muted: list[str] | None = None
    # Added later: the listed members who are away (`away`); absent when none is.
    away: list[str] | None = None


class RoomInfo(_Message):
    name: str
    members: int
    topic: str


class RoomList(_Message):
    type: Literal["room_list"] = "room_list"
    rooms: list[RoomInfo]


class Topic(_Message):
    type: Literal["topic"] = "topic"
    room: str
    topic: str
    nick: str


class Pong(_Message):
    type: Literal["pong"] = "pong"
    token: str


class Error(_Message):
    type: Literal["error"] = "error"
    code: str
    message: str
    ref: str | None = None
    fatal: bool = False
    # Added to version 1 later: whole seconds to wait before trying again (rate limits).
    retry_after: int | None = None


class Bye(_Message):
    type: Literal["bye"] = "bye"
    reason: str


ServerMessage = Annotated[
    Welcome
    | Joined
    | History
    | Left
    | ChatMessage
    | DirectMessage
    | NickChanged
    | Members
    | RoomList
    | Topic
    | Pong
    | Error
    | Bye
    | SearchResults
    | Registered
    | PasswdChanged
    | Unregistered
    | Notice
    | Kicked
    | RoleChanged
    | ModeChanged
    | Modes
    | BanList
    | Invited
    | ModLog
    | AwayChanged
    | WhoisReply,
    Field(discriminator="type"),
]
SERVER_MESSAGE: TypeAdapter[ServerMessage] = TypeAdapter(ServerMessage)


def encode_body(message: _Message) -> bytes:
    """The JSON body of one message: wire names (`from`), no absent optional fields."""
    return message.__pydantic_serializer__.to_json(message, by_alias=True, exclude_none=True)


# Fast paths for the hottest frames. Each produces exactly the bytes `encode_body` gives for the
# equivalent model (tests/protocol/test_fast_encoding.py holds them to that), using the same
# serializer for every value, without building a model per message.


def chat_message_body(
    id: int, room: str, nick: str, text: str, action: bool, ts: str, ref: str | None = None
) -> bytes:
    """`encode_body(ChatMessage(...))` without the model."""
    fields: dict[str, object] = {
        "type": "message",
        "id": id,
        "room": room,
        "nick": nick,
        "text": text,
        "action": action,
        "ts": ts,
    }
    if ref is not None:
        fields["ref"] = ref
    return to_json(fields)


def with_ref(message_body: bytes, ref: str) -> bytes:
    """A chat message body (without a ref) with `ref` added, as `ref` is its last field."""
    return message_body[:-1] + b',"ref":' + to_json(ref) + b"}"


def history_body(room: str, message_bodies: list[bytes]) -> bytes:
    """`encode_body(History(room=room, messages=...))` from already encoded message bodies."""
    return (
        b'{"type":"history","room":'
        + to_json(room)
        + b',"messages":['
        + b",".join(message_bodies)
        + b"]}"
    )


def history_page_body(
    room: str, message_bodies: list[bytes], before: int | None, complete: bool
) -> bytes:
    """`encode_body(History(...))` of an answer to a `history` request."""
    tail = b"" if before is None else b',"before":' + str(before).encode()
    if complete:
        tail += b',"complete":true'
    return history_body(room, message_bodies)[:-1] + tail + b"}"


def search_results_body(room: str, query: str, message_bodies: list[bytes]) -> bytes:
    """`encode_body(SearchResults(...))` from already encoded message bodies."""
    return (
        b'{"type":"search_results","room":'
        + to_json(room)
        + b',"query":'
        + to_json(query)
        + b',"messages":['
        + b",".join(message_bodies)
        + b"]}"
    )


_MESSAGE_HEAD = b'{"type":"message","id":'


def message_id_of(body: bytes) -> int:
    """The id of a body made by `chat_message_body`, read without parsing the JSON."""
    if not body.startswith(_MESSAGE_HEAD):
        raise ValueError("not a message body")
    start = len(_MESSAGE_HEAD)
    return int(body[start : body.index(b",", start)])
