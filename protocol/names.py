"""Validation and normalisation of nicks and room names, shared by server and client."""

from __future__ import annotations

import unicodedata

MAX_NICK_LENGTH = 32
MAX_ROOM_LENGTH = 64
MAX_TOPIC_LENGTH = 512
MAX_TEXT_LENGTH = 8000

# Unicode categories never allowed in a nick or room name: controls (Cc, which includes C1),
# format characters (Cf: zero-width spaces and joiners, bidi embeddings, overrides and isolates),
# separators (Zs, Zl, Zp), surrogates, private use and unassigned code points.
_FORBIDDEN_NAME_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zs", "Zl", "Zp"})
# In free text (messages, topics) newlines and tabs are allowed, and so are zero-width joiners
# (emoji sequences need them). C0/C1 controls, bidi controls and line/paragraph separators are
# not, so no one can hide, reorder or restyle what others read.
_BIDI_CONTROLS = frozenset(
    "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
)
_TEXT_ALLOWED = frozenset("\n\t")


def _first_forbidden(value: str, categories: frozenset[str], allowed: frozenset[str]) -> str | None:
    for char in value:
        if char not in allowed and unicodedata.category(char) in categories:
            return char
    return None


def _check_name(value: str, kind: str, max_length: int) -> str:
    name = unicodedata.normalize("NFC", value)
    if not name:
        raise ValueError(f"{kind} must not be empty")
    if len(name) > max_length:
        raise ValueError(f"{kind} must be at most {max_length} characters")
    bad = _first_forbidden(name, _FORBIDDEN_NAME_CATEGORIES, frozenset())
    if bad is not None:
        raise ValueError(f"{kind} must not contain U+{ord(bad):04X} (spaces, controls, format)")
    return name


def normalize_nick(value: str) -> str:
    """Return the NFC form of a nick, or raise ValueError saying what is wrong with it."""
    return _check_name(value, "nick", MAX_NICK_LENGTH)


def normalize_room(value: str) -> str:
    """Return the NFC form of a room name, or raise ValueError saying what is wrong with it."""
    return _check_name(value, "room name", MAX_ROOM_LENGTH)


def name_key(name: str) -> str:
    """The identity of a nick or room: NFC then casefold, so `Alice` and `ALICE` are one."""
    return unicodedata.normalize("NFC", name).casefold()


def check_text(value: str, kind: str = "text", max_length: int = MAX_TEXT_LENGTH) -> str:
    """Return free text (a message or topic) unchanged, or raise ValueError if it is unusable."""
    if len(value) > max_length:
        raise ValueError(f"{kind} must be at most {max_length} characters")
    if not value.strip():
        raise ValueError(f"{kind} must not be blank")
    if value.isprintable():
        return value
    for char in value:
        if char in _TEXT_ALLOWED:
            continue
        if char in _BIDI_CONTROLS or unicodedata.category(char) in ("Cc", "Zl", "Zp"):
            raise ValueError(f"{kind} must not contain U+{ord(char):04X} (control character)")
    return value
