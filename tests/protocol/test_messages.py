"""Models: exact wire shapes, strict validation, and round trips through the adapters."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from protocol import (
    CLIENT_MESSAGE,
    SERVER_MESSAGE,
    Bye,
    ChatMessage,
    DirectMessage,
    Error,
    History,
    Joined,
    Left,
    Members,
    NickChanged,
    Pong,
    RoomInfo,
    RoomList,
    ServerInfo,
    Topic,
    Welcome,
    encode,
    encode_body,
)

TS = "2026-11-27T21:00:00.000Z"
SERVER_SAMPLES = [
    Welcome(
        nick="a", protocol=1, server=ServerInfo(name="wirechat", version="1"), backend="asyncio"
    ),
    Joined(room="r", nick="a", ts=TS),
    History(
        room="r", messages=[ChatMessage(id=1, room="r", nick="a", text="x", action=False, ts=TS)]
    ),
    Left(room="r", nick="a", ts=TS, reason="quit"),
    ChatMessage(id=2, room="r", nick="a", text="hi", action=True, ts=TS, ref="q"),
    DirectMessage(id=3, sender="a", to="b", text="psst", ts=TS),
    NickChanged(old="a", new="b"),
    Members(room="r", nicks=["a", "b"]),
    RoomList(rooms=[RoomInfo(name="r", members=2, topic="")]),
    Topic(room="r", topic="t", nick="a"),
    Pong(token="x"),
    Error(code="bad_json", message="nope", fatal=False),
    Bye(reason="later"),
]


@pytest.mark.parametrize("message", SERVER_SAMPLES, ids=lambda m: m.type)
def test_server_messages_round_trip(message) -> None:
    data = encode(message)
    assert int.from_bytes(data[:4], "big") == len(data) - 4
    assert SERVER_MESSAGE.validate_json(data[4:]) == message


def test_dm_uses_the_wire_name_from() -> None:
    body = json.loads(encode_body(DirectMessage(id=1, sender="a", to="b", text="x", ts=TS)))
    assert body == {"type": "dm", "id": 1, "from": "a", "to": "b", "text": "x", "ts": TS}


def test_absent_optional_fields_are_omitted() -> None:
    body = json.loads(
        encode_body(ChatMessage(id=1, room="r", nick="a", text="x", action=False, ts=TS))
    )
    assert "ref" not in body
    assert json.loads(encode_body(Error(code="c", message="m"))) == {
        "type": "error",
        "code": "c",
        "message": "m",
        "fatal": False,
    }


@pytest.mark.parametrize(
    "raw",
    [
        {"type": "hello", "nick": "a", "protocol": "1"},  # no coercion from strings
        {"type": "say", "room": "r", "text": "x", "action": "yes"},
        {"type": "join", "room": "r", "since": 1.5},
        {"type": "rooms", "extra": 1},
        {"type": "quit", "reason": 3},
    ],
)
def test_client_messages_are_strict(raw: dict) -> None:
    with pytest.raises(ValidationError):
        CLIENT_MESSAGE.validate_json(json.dumps(raw))


@given(
    st.text(max_size=50),
    st.text(max_size=200),
    st.booleans(),
    st.one_of(st.none(), st.text(max_size=20)),
)
def test_say_round_trips_any_text(room: str, text: str, action: bool, ref: str | None) -> None:
    raw = {"type": "say", "room": room, "text": text, "action": action}
    if ref is not None:
        raw["ref"] = ref
    message = CLIENT_MESSAGE.validate_json(json.dumps(raw))
    assert json.loads(encode_body(message)) == raw
