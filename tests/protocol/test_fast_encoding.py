"""The fast encoders of the hottest frames produce exactly the bytes of the pydantic models."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from protocol import ChatMessage, History, encode_body
from protocol.messages import chat_message_body, history_body, with_ref

_text = st.text(max_size=200)
_names = st.text(min_size=1, max_size=40)


@given(
    st.integers(min_value=0, max_value=2**53),
    _names,
    _names,
    _text,
    st.booleans(),
    _names,
    st.none() | st.text(max_size=128),
)
def test_chat_message_body_matches_the_model(
    id: int, room: str, nick: str, text: str, action: bool, ts: str, ref: str | None
) -> None:
    model = ChatMessage(id=id, room=room, nick=nick, text=text, action=action, ts=ts, ref=ref)
    assert chat_message_body(id, room, nick, text, action, ts, ref) == encode_body(model)
    if ref is not None:
        plain = chat_message_body(id, room, nick, text, action, ts)
        assert with_ref(plain, ref) == encode_body(model)


@given(_names, st.lists(st.tuples(_names, _text), max_size=5))
def test_history_body_matches_the_model(room: str, items: list[tuple[str, str]]) -> None:
    messages = [
        ChatMessage(id=i, room=room, nick=nick, text=text, action=False, ts="t")
        for i, (nick, text) in enumerate(items)
    ]
    bodies = [encode_body(m) for m in messages]
    assert history_body(room, bodies) == encode_body(History(room=room, messages=messages))
