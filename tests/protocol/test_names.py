"""Nick and room validation, identity keys, and free-text checks."""

from __future__ import annotations

import pytest

from protocol.names import check_text, name_key, normalize_nick, normalize_room


@pytest.mark.parametrize("nick", ["alice", "Zoë", "名前", "a-b_c.d", "x" * 32, "😀"])
def test_good_nicks(nick: str) -> None:
    assert normalize_nick(nick) == nick


@pytest.mark.parametrize(
    "nick",
    ["", "x" * 33, "a b", "a\tb", "a\u200bb", "a\u202eb", "a\x00", "a\x85", "\u2066x", "a\u00a0b"],
)
def test_bad_nicks(nick: str) -> None:
    with pytest.raises(ValueError):
        normalize_nick(nick)


def test_identity_is_nfc_and_casefold() -> None:
    assert name_key("Zoe\u0301") == name_key("ZOÉ") == name_key("zoé")
    assert name_key("Straße") == name_key("STRASSE")
    assert normalize_room("Cafe\u0301") == "Café"


@pytest.mark.parametrize("text", ["hello", "two\nlines", "tab\there", "👨‍👩‍👧", "[b]x[/b]"])
def test_good_text(text: str) -> None:
    assert check_text(text) == text


@pytest.mark.parametrize(
    "text", ["", "  \n", "\x1b[2J", "\x07", "\u202e", "\u2028", "\x9b", "x" * 8001]
)
def test_bad_text(text: str) -> None:
    with pytest.raises(ValueError):
        check_text(text)
