"""Nick and room validation, identity keys, and free-text checks."""

from __future__ import annotations

import timeit
import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol import names
from protocol.names import (
    MAX_COMBINING_RUN,
    RESERVED_NICKS,
    check_text,
    name_key,
    name_keys,
    normalize_nick,
    normalize_room,
    visual_key,
)


@pytest.mark.parametrize(
    "nick",
    ["alice", "Zoë", "名前", "a-b_c.d", "x" * 32, "😀", "Ωmega", "Łukasz", "ผู้ใช้", "Sé\u0300"],
)
def test_good_nicks(nick: str) -> None:
    assert normalize_nick(nick) == unicodedata.normalize("NFC", nick)


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


def test_name_keys_are_the_two_keys() -> None:
    assert name_keys("aIice") == (name_key("aIice"), visual_key("aIice")) == ("aiice", "alice")
    assert name_keys("ALICE") == ("alice", "allce")


def test_keys_are_memoised_for_names_of_valid_length_only() -> None:
    cached = (names._cached_name_key, names._cached_visual_key)
    name_key("memo-check")
    visual_key("memo-check")
    hits = [f.cache_info().hits for f in cached]
    name_key("memo-check")
    visual_key("memo-check")
    assert [f.cache_info().hits for f in cached] == [h + 1 for h in hits]
    # What a client can make large (NFKC turns U+FDFA into 18 characters) is never cached.
    sizes = [f.cache_info().currsize for f in cached]
    long_name = "\ufdfa" * 256
    assert name_key(long_name) and visual_key(long_name)
    assert [f.cache_info().currsize for f in cached] == sizes


def _math(first: int, word: str = "alice", holes: dict[str, str] | None = None) -> str:
    """`word` (lowercase ASCII) in the mathematical alphabet whose `a` is at `first`."""
    holes = holes or {}
    return "".join(holes.get(c, chr(first + ord(c) - ord("a"))) for c in word)


def _math_caps(first: int, word: str = "ALICE") -> str:
    return "".join(chr(first + ord(c) - ord("A")) for c in word)


# A letter carrying twelve combining marks.
ZALGO = "z" + "".join(chr(point) for point in range(0x0300, 0x030C)) + "algo"

# Spellings of `alice` that look like it (or like ALICE): each must be refused as a nick, or
# share a name_key or a visual_key with `alice`.
ALICE_LOOKALIKES = {
    "Cyrillic a U+0430": "\u0430lice",
    "Cyrillic ie U+0435": "alic\u0435",
    "Cyrillic i U+0456": "al\u0456ce",
    "Cyrillic es U+0441": "ali\u0441e",
    "Cyrillic a, i, es, ie": "\u0430l\u0456\u0441\u0435",
    "Cyrillic palochka for l": "a\u04cfice",
    "Cyrillic capital A U+0410": "\u0410LICE",
    "Greek alpha": "\u03b1lice",
    "Greek iota": "al\u03b9ce",
    "Greek lunate sigma for c": "ali\u03f2e",
    "Greek capitals alpha, iota": "\u0391L\u0399CE",
    "Cherokee go U+13AA": "\u13aaLICE",
    "Lisu la U+A4E1": "a\ua4e1ice",
    "NKo a U+07CA for l": "a\u07cai\u0441e",
    "Hebrew vav for l": "a\u05d5ice",
    "Arabic alef for l": "a\u0627ice",
    "fullwidth": "\uff41\uff4c\uff49\uff43\uff45",
    "fullwidth capitals": "\uff21\uff2c\uff29\uff23\uff25",
    "mathematical bold": _math(0x1D41A),
    "mathematical italic": _math(0x1D44E),
    "mathematical bold italic": _math(0x1D482),
    "mathematical script": _math(0x1D4B6, holes={"e": "\u212f"}),
    "mathematical bold script": _math(0x1D4EA),
    "mathematical fraktur": _math(0x1D51E),
    "mathematical double-struck": _math(0x1D552),
    "mathematical bold fraktur": _math(0x1D586),
    "mathematical sans-serif": _math(0x1D5BA),
    "mathematical sans-serif bold": _math(0x1D5EE),
    "mathematical sans-serif italic": _math(0x1D622),
    "mathematical sans-serif bold italic": _math(0x1D656),
    "mathematical monospace": _math(0x1D68A),
    "mathematical bold capitals": _math_caps(0x1D400),
    "mathematical monospace capitals": _math_caps(0x1D670),
    "capital I for l": "aIice",
    "ALICE": "ALICE",
    "Alice": "Alice",
    "aLICE": "aLICE",
    "digit one for l": "a1ice",
    "vertical bar for l": "a|ice",
    "dental click U+01C0 for l": "a\u01c0ice",
    "script small l U+2113": "a\u2113ice",
    "roman numeral fifty U+217C": "a\u217cice",
    "roman numerals one, hundred": "al\u2170\u217de",
    "dotless i U+0131": "al\u0131ce",
    "Latin alpha U+0251": "\u0251lice",
    "Latin iota U+0269": "al\u0269ce",
    "estimated sign U+212E": "alic\u212e",
    "Abkhasian che U+04BD": "alic\u04bd",
    "turned e U+01DD": "alic\u01dd",
    "circled": "\u24d0\u24db\u24d8\u24d2\u24d4",
    "circled capitals": "\u24b6\u24c1\u24be\u24b8\u24ba",
    "squared capitals": "\U0001f130\U0001f13b\U0001f138\U0001f132\U0001f134",
    "small capitals": "\u1d00\u029f\u026a\u1d04\u1d07",
    "modifier letters": "\u1d43\u02e1\u2071\u1d9c\u1d49",
    "subscripts": "\u2090\u2097\u1d62c\u2091",
    "zero-width space inside": "a\u200blice",
    "soft hyphen inside": "al\u00adice",
    "variation selector inside": "ali\ufe00ce",
    "Hangul filler after": "alice\u3164",
    "Khmer inherent vowel after": "alice\u17b4",
    "tag characters after": "alice\U000e0041",
    "combining grapheme joiner inside": "a\u034flice",
    "trailing no-break space": "alice\u00a0",
}


def test_there_are_enough_lookalikes() -> None:
    assert len(ALICE_LOOKALIKES) >= 30


@pytest.mark.parametrize("spoof", ALICE_LOOKALIKES.values(), ids=ALICE_LOOKALIKES.keys())
def test_lookalikes_of_alice_collide_or_are_refused(spoof: str) -> None:
    try:
        nick = normalize_nick(spoof)
    except ValueError:
        return
    key, visual = name_keys(nick)
    assert key == name_key("alice") or visual == visual_key("alice"), (key, visual)


def test_capital_i_needs_the_visual_key() -> None:
    # Folding case first turns I into i; only the skeleton of the cased name sees an l.
    assert name_key("aIice") != name_key("alice")
    assert visual_key("aIice") == visual_key("alice")


@pytest.mark.parametrize(
    ("a", "b"),
    [("room1", "rooml"), ("r00t", "root"), ("paypaI", "paypal"), ("Ⅻ", "xii")],
)
def test_tr39_digit_and_letter_classes(a: str, b: str) -> None:
    assert name_key(a) == name_key(b) or visual_key(a) == visual_key(b)


@pytest.mark.parametrize(("a", "b"), [("alice", "alicia"), ("名前", "名字"), ("zoe", "zoë")])
def test_different_names_stay_different(a: str, b: str) -> None:
    assert name_key(a) != name_key(b) and visual_key(a) != visual_key(b)


@pytest.mark.parametrize(
    "blank",
    [
        "\u3164",
        "\u2800",
        "\u115f",
        "\u1160",
        "\uffa0",
        "\u3164\u3164",
        "\u034f",
        "\U000e0061\U000e0062",
        "\U000e0001",
        "\ufe0f",
        "\U000e0100",
        "\u17b5",
        "\u180b",
        "\U0001d159",
        "\U00016fe4",
        "\u0301",
        "\u0301\u0302",
        "x\u3164",
        "\u2800alice",
    ],
)
def test_blank_and_invisible_names_are_refused(blank: str) -> None:
    with pytest.raises(ValueError):
        normalize_nick(blank)
    with pytest.raises(ValueError):
        normalize_room(blank)


def test_invisible_message_names_the_character() -> None:
    with pytest.raises(ValueError, match=r"U\+3164 \(invisible character\)"):
        normalize_nick("ab\u3164")
    with pytest.raises(ValueError, match="combining mark"):
        normalize_room("\u0301x")


@pytest.mark.parametrize(
    "nick", ["*x", "@alice", "#x", "!x", "[server]", "\uff03x", "\ufe6bx", "\u01c3x"]
)
def test_nick_first_character(nick: str) -> None:
    with pytest.raises(ValueError, match="must not start with"):
        normalize_nick(nick)


def test_nick_first_character_message_says_which() -> None:
    with pytest.raises(ValueError, match="start with '@'"):
        normalize_nick("@alice")
    with pytest.raises(ValueError, match=r"U\+FF03, like '#'"):
        normalize_nick("\uff03x")


@pytest.mark.parametrize("room", ["#x", "@x", "*x", "!x", "[x]", "server", "admin"])
def test_room_names_may_use_what_nicks_may_not(room: str) -> None:
    assert normalize_room(room) == room


@pytest.mark.parametrize("nick", ["x#", "a@b", "x*", "hey!", "a[1]"])
def test_nick_may_contain_those_characters_later(nick: str) -> None:
    assert normalize_nick(nick) == nick


@pytest.mark.parametrize(
    "nick",
    [
        *sorted(RESERVED_NICKS),
        "Server",
        "SERVER",
        "\u0455erver",  # Cyrillic dze
        "\u0455\u0435rv\u0435r",  # Cyrillic dze and ie
        "r00t",
        "ROOT",
        "ADMIN",
        "admIn",
        "\uff21\uff24\uff2d\uff29\uff2e",  # fullwidth
        _math(0x1D41A, "system"),
        "Wirechat",
        "NickServ",
        "chanserv",
        "m0derator",
        "operat\u043er",  # Cyrillic o
    ],
)
def test_reserved_nicks_and_their_lookalikes(nick: str) -> None:
    with pytest.raises(ValueError, match="reserved"):
        normalize_nick(nick)


@pytest.mark.parametrize("nick", ["servers", "rooted", "admin2", "sys", "mod"])
def test_names_near_reserved_ones_are_fine(nick: str) -> None:
    assert normalize_nick(nick) == nick


def test_combining_runs() -> None:
    four = "x" + "\u0301\u0302\u0303\u0304"  # x composes with none of them
    assert normalize_nick("z" + four) == unicodedata.normalize("NFC", "z" + four)
    for normalize in (normalize_nick, normalize_room):
        with pytest.raises(ValueError, match=f"more than {MAX_COMBINING_RUN} combining marks"):
            normalize("z" + four + "\u0305")
        with pytest.raises(ValueError, match="more than"):
            normalize(ZALGO)


@pytest.mark.parametrize("text", ["hello", "two\nlines", "tab\there", "👨‍👩‍👧", "[b]x[/b]"])
def test_good_text(text: str) -> None:
    assert check_text(text) == text


@pytest.mark.parametrize(
    "text",
    [
        "Zoë et Chloé",
        "Привет, мир",
        "日本語のテキスト",
        "ผู้ใช้",
        "स्क्रिप्ट",
        "\u0dc1\u0dca\u200d\u0dbb\u0dd3",  # Sinhala with a zero-width joiner
        "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645",  # Persian, zero-width non-joiner
        "#\ufe0f\u20e3 1\ufe0f\u20e3 \u2764\ufe0f",
        "\U0001f3f4\U000e0067\U000e0062\U000e0065\U000e006e\U000e0067\U000e007f",  # England
        "go \U0001f3f4\U000e0067\U000e0062\U000e0073\U000e0063\U000e0074\U000e007f!",
        "\U0001fae8",  # an emoji newer than this Python's Unicode data
        "private \ue000 use",
        "no-break\u00a0space",
        "e" + "\u0301\u0302\u0303\u0304",
    ],
)
def test_good_international_text(text: str) -> None:
    assert check_text(text) == text


@pytest.mark.parametrize(
    "text",
    [
        "",
        "  \n",
        "\x1b[2J",
        "\x07",
        "\u202e",
        "\u2028",
        "\x9b",
        "x" * 8001,
        "\u3164",  # invisible-only texts are blank
        "\u2800\u2800",
        " \u200b\n\u3164 ",
        "line\r\nline",
        "del\x7f",
        "héllo\x1b[31m",
        "hidden\U000e0041\U000e0042",
        "\U000e0001lang",
        "\U0001f3f4\U000e0067\U000e0062\U000e0065\U000e006e\U000e0067",  # unterminated flag
        "\U0001f3f4\U000e0067\U000e0062\U000e0065\U000e006e\U000e0067\U000e007f\U000e0041",
        "unassigned \u0378",
        "nonchar \ufdd0",
        "nonchar \uffff",
        "nonchar \U0001fffe",
        "lone \ud800 surrogate",
        ZALGO,
        "e" + "\u0301\u0302\u0303\u0304\u0305",
        "e" + "\u0301\u0302\u200d\u0303\u0304\u200d\u0305",  # joiners do not end a run
    ],
)
def test_bad_text(text: str) -> None:
    with pytest.raises(ValueError):
        check_text(text)


def test_text_messages_are_precise() -> None:
    with pytest.raises(ValueError, match=r"U\+000D \(control character\)"):
        check_text("a\r\nb")
    with pytest.raises(ValueError, match=r"U\+E0041 \(tag character\)"):
        check_text("x\U000e0041")
    with pytest.raises(ValueError, match=r"U\+0378 \(unassigned code point\)"):
        check_text("x\u0378")
    with pytest.raises(ValueError, match=r"U\+FDD0 \(noncharacter\)"):
        check_text("x\ufdd0")
    with pytest.raises(ValueError, match="topic must not have more than 4 combining marks"):
        check_text("e\u0301\u0302\u0303\u0304\u0305", "topic", 512)


def test_max_marks_is_a_parameter() -> None:
    assert check_text("e\u0301\u0302", max_marks=2)
    with pytest.raises(ValueError):
        check_text("e\u0301\u0302\u0303", max_marks=2)
    assert check_text("e" + "\u0301" * 10, max_marks=10)


def test_length_is_in_code_points() -> None:
    assert check_text("😀" * 10, max_length=10)
    with pytest.raises(ValueError, match="at most 10 characters"):
        check_text("😀" * 11, max_length=10)
    assert normalize_nick("😀" * 32)


def test_ascii_text_fast_path_is_cheap() -> None:
    message = (
        "Hey, did anyone see the build on main? It fails in the backend tests again. I'll look."
    )
    assert 80 <= len(message) <= 100
    per_call = min(timeit.repeat(lambda: check_text(message), number=2000, repeat=5)) / 2000
    # Typically well under 1 µs; the bound leaves room for slow or busy machines.
    assert per_call < 20e-6


# Characters a name may be made of: letters, marks, digits, punctuation and symbols.
_name_chars = st.characters(categories=["L", "M", "N", "P", "S"])


@given(st.text(_name_chars, min_size=1, max_size=40))
def test_accepted_names_keep_their_keys(value: str) -> None:
    try:
        nick = normalize_nick(value)
    except ValueError:
        return
    assert nick == unicodedata.normalize("NFC", value)
    assert name_key(nick) == name_key(value) != ""
    assert visual_key(nick) == visual_key(value) != ""
    assert normalize_nick(nick) == nick


@given(st.text(_name_chars, min_size=1, max_size=40))
def test_case_does_not_change_name_key(value: str) -> None:
    assert name_key(value.upper()) == name_key(value.upper().lower().upper())
    assert name_key(value.casefold()) == name_key(value)


@given(st.text(st.characters(codec=None, categories=None), max_size=60))
def test_keys_never_raise(value: str) -> None:
    assert isinstance(name_key(value), str)
    assert isinstance(visual_key(value), str)


@given(st.text(min_size=1, max_size=200))
def test_check_text_returns_its_input_or_raises(value: str) -> None:
    try:
        assert check_text(value) is value
    except ValueError as error:
        assert str(error).startswith("text must")
