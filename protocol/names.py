"""Validation, normalisation and identity of nicks and room names, and checks on free text.

Shared by server and client. Everywhere in this module (and in every length limit of the
protocol) a *character* is one Unicode code point; names are counted after NFC normalisation.

Spelling and identity
---------------------
`normalize_nick` and `normalize_room` return the NFC form of a name: the spelling that is shown
to everyone. Identity is decided by two keys, both Unicode TR39 confusable skeletons (computed
by `disarm.skeleton_key` with Unicode's own confusables data and ``digit_policy="tr39"``, so
``0``/``O`` and ``1``/``l`` are one):

- `name_key`: the skeleton of the NFKC case-folded name. `Alice`, `ALICE`, `alice` written with
  a Cyrillic a (U+0430), in fullwidth letters or in mathematical bold all have the key
  ``alice``; `Straße` and `STRASSE` share one, and so do `Zoé` written with a combining accent
  and with a precomposed `é`.
- `visual_key`: the skeleton of the NFC name without case folding first. Folding case first
  turns a capital `I` into `i`, which no longer looks like `l`; before folding, the skeleton
  maps `I` to `l`, so `aIice` (capital I) has the visual key of `alice`.

**Two names are the same when either key matches.** The server's registry checks both keys
when a nick or a room is claimed, so no one can take a name that looks like one already in
use (under either key, by anyone else); lookups (a `dm` to a nick, a `say` in a room) try
`name_key` first, then `visual_key`. `name_keys` returns both at once. The keys are for comparison only, never for display.

Names
-----
Besides the length limits, a nick or room name is refused (ValueError, with a message saying
what is wrong) when it

- contains a control, format, surrogate, private-use or unassigned code point, or a space or
  separator (categories Cc, Cf, Cs, Co, Cn, Zs, Zl, Zp);
- contains an invisible or blank character: every Default_Ignorable_Code_Point (Hangul fillers
  U+115F, U+1160, U+3164, U+FFA0, the combining grapheme joiner U+034F, variation selectors,
  tag characters U+E0000 to U+E007F, ...), the braille blank U+2800 and a few other characters
  that render as nothing;
- starts with a combining mark, or stacks more than `MAX_COMBINING_RUN` combining marks
  (category M) on one base character;
- has no visible character at all (its keys are empty).

A nick is also refused when its first character is, or looks like, one of ``# @ * ! [``, or
when either of its keys is the key of a name in `RESERVED_NICKS` (so `Server`, `SERVER` and
`server` written with a Cyrillic dze U+0455 are all refused). A room name may start with ``#``.

Free text
---------
`check_text` accepts messages and topics: not blank (nor made only of invisible characters),
newlines and tabs allowed, zero-width joiners allowed (emoji sequences need them). It refuses
C0/C1 controls (so CR, and ANSI and OSC escapes), DEL, bidi controls, U+2028/U+2029,
surrogates, noncharacters and unassigned code points, tag characters (except inside the three
standard subdivision flag emoji), and more than `max_marks` combining marks on one base
character ("zalgo" text).
"""

from __future__ import annotations

import functools
import re
import unicodedata

from disarm import skeleton_key

__all__ = [
    "MAX_COMBINING_RUN",
    "MAX_NICK_LENGTH",
    "MAX_ROOM_LENGTH",
    "MAX_TEXT_LENGTH",
    "MAX_TOPIC_LENGTH",
    "RESERVED_NICKS",
    "check_text",
    "name_key",
    "name_keys",
    "normalize_nick",
    "normalize_room",
    "visual_key",
]

MAX_NICK_LENGTH = 32
MAX_ROOM_LENGTH = 64
MAX_TOPIC_LENGTH = 512
MAX_TEXT_LENGTH = 8000
# The most combining marks one base character may carry, in names and (by default) in text.
MAX_COMBINING_RUN = 4

# Nicks no one may take, nor anything whose name_key or visual_key matches one of them.
RESERVED_NICKS = frozenset(
    {
        "server",
        "system",
        "wirechat",
        "admin",
        "administrator",
        "root",
        "operator",
        "moderator",
        "nickserv",
        "chanserv",
    }
)
# First characters a nick may not have (nor anything whose skeleton starts with one of them).
_NICK_FORBIDDEN_FIRST = "#@*!["

# Unicode categories never allowed in a nick or room name: controls (Cc, which includes C1),
# format characters (Cf: zero-width spaces and joiners, bidi embeddings, overrides and isolates),
# separators (Zs, Zl, Zp), surrogates, private use and unassigned code points.
_FORBIDDEN_NAME_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zs", "Zl", "Zp"})

# Characters that show nothing, refused in names whatever their category: the
# Default_Ignorable_Code_Point property of Unicode (DerivedCoreProperties.txt), then the
# braille blank, the Khitan small script filler and the musical null notehead, which are not
# ignorable but render blank.
_INVISIBLE_RANGES: tuple[tuple[int, int], ...] = (
    (0x00AD, 0x00AD),  # soft hyphen
    (0x034F, 0x034F),  # combining grapheme joiner
    (0x061C, 0x061C),  # Arabic letter mark
    (0x115F, 0x1160),  # Hangul choseong and jungseong fillers
    (0x17B4, 0x17B5),  # Khmer inherent vowels
    (0x180B, 0x180F),  # Mongolian free variation selectors and vowel separator
    (0x200B, 0x200F),  # zero-width space, joiners, LRM, RLM
    (0x202A, 0x202E),  # bidi embeddings and overrides
    (0x2060, 0x206F),  # word joiner, invisible operators, bidi isolates, deprecated formats
    (0x3164, 0x3164),  # Hangul filler
    (0xFE00, 0xFE0F),  # variation selectors
    (0xFEFF, 0xFEFF),  # zero-width no-break space
    (0xFFA0, 0xFFA0),  # halfwidth Hangul filler
    (0xFFF0, 0xFFF8),  # reserved specials
    (0x1BCA0, 0x1BCA3),  # shorthand format controls
    (0x1D173, 0x1D17A),  # musical symbol beams and phrase formats
    (0xE0000, 0xE0FFF),  # tags, variation selectors supplement, reserved
    (0x2800, 0x2800),  # braille pattern blank
    (0x16FE4, 0x16FE4),  # Khitan small script filler
    (0x1D159, 0x1D159),  # musical symbol null notehead
)

# In free text (messages, topics) newlines and tabs are allowed, and so are zero-width joiners
# (emoji sequences need them). C0/C1 controls, bidi controls and line/paragraph separators are
# not, so no one can hide, reorder or restyle what others read.
_BIDI_CONTROLS = frozenset(
    "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
)
_TEXT_ALLOWED = frozenset("\n\t")
# What a text made only of is blank: whitespace, and the characters that show nothing.
_TEXT_BLANKS = "".join(
    [chr(point) for point in range(0x3001) if chr(point).isspace()]
    + [
        chr(point)
        for first, last in _INVISIBLE_RANGES
        if last < 0xE0000
        for point in range(first, last + 1)
    ]
)
_ASCII_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f]")
_TAG_FIRST, _TAG_LAST = 0xE0000, 0xE007F
# Tag characters are refused in text (they are invisible and can carry hidden ASCII), except
# in the three recommended subdivision flags: England, Scotland and Wales.
_FLAG_TAG_SEQUENCES = tuple(
    "\U0001f3f4" + "".join(chr(0xE0000 + ord(c)) for c in region) + "\U000e007f"
    for region in ("gbeng", "gbsct", "gbwls")
)
# Unassigned code points are refused in text, except where Unicode reserves code points for
# future pictographs (Extended_Pictographic): emoji newer than this Python's Unicode data
# (unicodedata.unidata_version) are unassigned to it, and must still get through.
_FUTURE_PICTOGRAPHS: tuple[tuple[int, int], ...] = ((0x1F000, 0x1FAFF), (0x1FC00, 0x1FFFD))


def _is_invisible(char: str) -> bool:
    point = ord(char)
    return any(first <= point <= last for first, last in _INVISIBLE_RANGES)


def _nfkc_casefold(value: str) -> str:
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", value).casefold())


#: Names longer than this (in code points) are keyed without the cache: no valid name is, and
#: the cache must not hold what a client can make large (NFKC expands some characters 18x).
_CACHED_LENGTH = MAX_ROOM_LENGTH
_CACHE_SIZE = 4096


def name_key(name: str) -> str:
    """The identity of a nick or room: the TR39 skeleton of its NFKC case fold.

    `Alice`, `ALICE` and `alice` spelt with a Cyrillic a (U+0430) or in fullwidth letters share
    a key. See also `visual_key`: two names are the same when either key matches. Memoised: it
    runs for every chat message on the server.
    """
    if len(name) > _CACHED_LENGTH:
        return _name_key(name)
    return _cached_name_key(name)


def visual_key(name: str) -> str:
    """The TR39 skeleton of the NFC name, without folding case first: `aIice` matches `alice`."""
    if len(name) > _CACHED_LENGTH:
        return _visual_key(name)
    return _cached_visual_key(name)


def _name_key(name: str) -> str:
    return skeleton_key(_nfkc_casefold(name), digit_policy="tr39")


def _visual_key(name: str) -> str:
    return skeleton_key(unicodedata.normalize("NFC", name), digit_policy="tr39")


_cached_name_key = functools.lru_cache(maxsize=_CACHE_SIZE)(_name_key)
_cached_visual_key = functools.lru_cache(maxsize=_CACHE_SIZE)(_visual_key)


def too_long(name: str, max_length: int) -> bool:
    """True if `name` cannot be a valid name of at most `max_length` characters: a cheap test
    to run before keying a name a client sent for a lookup (keying a long name is slow)."""
    return len(name) > max_length and len(unicodedata.normalize("NFC", name)) > max_length


def name_keys(name: str) -> tuple[str, str]:
    """`(name_key(name), visual_key(name))`: a name is taken when either key is in use."""
    return name_key(name), visual_key(name)


_RESERVED_KEYS = frozenset(key for nick in RESERVED_NICKS for key in name_keys(nick))


def _check_name(value: str, kind: str, max_length: int) -> str:
    name = unicodedata.normalize("NFC", value)
    if not name:
        raise ValueError(f"{kind} must not be empty")
    if len(name) > max_length:
        raise ValueError(f"{kind} must be at most {max_length} characters")
    run = 0
    for index, char in enumerate(name):
        if _is_invisible(char):
            raise ValueError(f"{kind} must not contain U+{ord(char):04X} (invisible character)")
        category = unicodedata.category(char)
        if category in _FORBIDDEN_NAME_CATEGORIES:
            raise ValueError(
                f"{kind} must not contain U+{ord(char):04X} (spaces, controls, format)"
            )
        if category[0] == "M":
            if index == 0:
                raise ValueError(f"{kind} must not start with a combining mark")
            run += 1
            if run > MAX_COMBINING_RUN:
                raise ValueError(
                    f"{kind} must not have more than {MAX_COMBINING_RUN} combining marks"
                    " on one character"
                )
        else:
            run = 0
    if not name_key(name) or not visual_key(name):
        raise ValueError(f"{kind} must contain a visible character")
    return name


def normalize_nick(value: str) -> str:
    """Return the NFC form of a nick, or raise ValueError saying what is wrong with it."""
    nick = _check_name(value, "nick", MAX_NICK_LENGTH)
    keys = name_keys(nick)
    for first in (nick[0], keys[0][0], keys[1][0]):
        if first in _NICK_FORBIDDEN_FIRST:
            shown = f"'{first}'" if first == nick[0] else f"U+{ord(nick[0]):04X}, like '{first}'"
            raise ValueError(
                f"nick must not start with {shown} ({' '.join(_NICK_FORBIDDEN_FIRST)} are not"
                " allowed first)"
            )
    if not _RESERVED_KEYS.isdisjoint(keys):
        raise ValueError(f"nick {nick!r} is reserved")
    return nick


def normalize_room(value: str) -> str:
    """Return the NFC form of a room name, or raise ValueError saying what is wrong with it."""
    return _check_name(value, "room name", MAX_ROOM_LENGTH)


def _ranges(points: list[int]) -> list[tuple[int, int]]:
    """`points` (sorted) as a list of inclusive ranges."""
    ranges: list[tuple[int, int]] = []
    for point in points:
        if ranges and ranges[-1][1] == point - 1:
            ranges[-1] = (ranges[-1][0], point)
        else:
            ranges.append((point, point))
    return ranges


def _regex_class(points: list[int]) -> str:
    """A regex matching one of `points` (sorted), quick on characters that are not.

    `re` tests a class of BMP characters with a bitmap, but one that also holds astral
    characters range by range, for every character of the text. So the astral part gets a
    class of its own behind a look-ahead for the span of each plane it covers, which
    everything else (emoji, most of all) fails at once.
    """

    def char_class(ranges: list[tuple[int, int]]) -> str:
        return "[" + "".join(f"{chr(first)}-{chr(last)}" for first, last in ranges) + "]"

    bmp = _ranges([p for p in points if p <= 0xFFFF])
    astral = _ranges([p for p in points if p > 0xFFFF])
    if not astral:
        return char_class(bmp)
    planes = sorted({first >> 16 for first, _ in astral})
    spans = [
        (
            min(a for a, _ in astral if a >> 16 == plane),
            max(b for _, b in astral if b >> 16 == plane),
        )
        for plane in planes
    ]
    return f"(?:{char_class(bmp)}|(?={char_class(spans)}){char_class(astral)})"


@functools.cache
def _mark_classes() -> tuple[str, str]:
    """Regexes matching one combining mark (M*), and one format character (Cf), which may sit
    between marks without ending their run (zero-width joiners and the like).

    Built from this Python's Unicode data for the first non-ASCII text checked (tens of
    milliseconds, once per process).
    """
    category = unicodedata.category
    # Marks and format characters only exist in planes 0, 1 and 14.
    points = [*range(0x20000), *range(0xE0000, 0xE1000)]
    categories = list(map(category, map(chr, points)))
    marks = [p for p, c in zip(points, categories, strict=True) if c[0] == "M"]
    formats = [p for p, c in zip(points, categories, strict=True) if c == "Cf"]
    return _regex_class(marks), _regex_class(formats)


@functools.lru_cache(maxsize=8)
def _mark_run(max_marks: int) -> re.Pattern[str]:
    """Matches more than `max_marks` combining marks in a row (format characters between)."""
    marks, formats = _mark_classes()
    return re.compile(f"{marks}(?:{formats}*{marks}){{{max_marks}}}")


def _without_common_unprintables(value: str) -> str:
    """`value` without the unprintable characters text most often has, all of them allowed:
    newlines, tabs and the zero-width joiner and non-joiner."""
    return value.replace("\n", "").replace("\t", "").replace("\u200d", "").replace("\u200c", "")


def _first_bad_text_char(value: str) -> tuple[str, str] | None:
    """The first character free text may not contain, and why; None if there is none."""
    tags_checked = False
    for char in value:
        if char in _TEXT_ALLOWED or char.isprintable():
            continue
        point = ord(char)
        category = unicodedata.category(char)
        if char in _BIDI_CONTROLS or category in ("Cc", "Zl", "Zp"):
            return char, "control character"
        if category == "Cs":
            return char, "surrogate"
        if category == "Cn" and not any(a <= point <= b for a, b in _FUTURE_PICTOGRAPHS):
            if 0xFDD0 <= point <= 0xFDEF or point & 0xFFFE == 0xFFFE:
                return char, "noncharacter"
            return char, "unassigned code point"
        if _TAG_FIRST <= point <= _TAG_LAST and not tags_checked:
            rest = value
            for flag in _FLAG_TAG_SEQUENCES:
                rest = rest.replace(flag, "")
            for other in rest:
                if _TAG_FIRST <= ord(other) <= _TAG_LAST:
                    return other, "tag character"
            tags_checked = True  # every tag is inside a flag
    return None


def check_text(
    value: str,
    kind: str = "text",
    max_length: int = MAX_TEXT_LENGTH,
    max_marks: int = MAX_COMBINING_RUN,
) -> str:
    """Return free text (a message or topic) unchanged, or raise ValueError if it is unusable.

    `max_length` counts code points; `max_marks` is the most combining marks allowed on one
    base character.
    """
    if len(value) > max_length:
        raise ValueError(f"{kind} must be at most {max_length} characters")
    if value.isascii():
        if not value.strip():
            raise ValueError(f"{kind} must not be blank")
        # ASCII has no marks, tags or unassigned code points: only controls to look for.
        if not value.isprintable():
            bad = _ASCII_CONTROL.search(value)
            if bad is not None:
                raise ValueError(
                    f"{kind} must not contain U+{ord(bad.group()):04X} (control character)"
                )
        return value
    if not value.strip(_TEXT_BLANKS):
        raise ValueError(f"{kind} must not be blank")
    if not value.isprintable() and not _without_common_unprintables(value).isprintable():
        bad_char = _first_bad_text_char(value)
        if bad_char is not None:
            char, why = bad_char
            raise ValueError(f"{kind} must not contain U+{ord(char):04X} ({why})")
    if _mark_run(max(max_marks, 0)).search(value) is not None:
        raise ValueError(
            f"{kind} must not have more than {max_marks} combining marks on one character"
        )
    return value
