"""Making untrusted text inert: control, escape and bidi characters become visible escapes."""

from __future__ import annotations

import itertools

# Every C0/C1 control, DEL, and the bidi controls, mapped to a visible escape.
_UNSAFE: dict[int, str] = {
    c: f"\\x{c:02x}" for c in itertools.chain(range(0x20), range(0x7F, 0xA0))
}
_UNSAFE.update({c: f"\\u{c:04x}" for c in (0x61C, 0x200E, 0x200F, *range(0x202A, 0x202F))})
_UNSAFE.update({c: f"\\u{c:04x}" for c in (*range(0x2066, 0x206A), 0x2028, 0x2029)})

# The same table for multi-line message bodies: newlines stay newlines, tabs become spaces.
_UNSAFE_KEEP_LINES = dict(_UNSAFE)
_UNSAFE_KEEP_LINES[ord("\n")] = "\n"
_UNSAFE_KEEP_LINES[ord("\t")] = "    "


def inert(text: str) -> str:
    """`text` with every control character shown as an escape instead of acting."""
    return text.translate(_UNSAFE)


def inert_lines(text: str) -> str:
    """Like `inert`, but keeps line breaks (and turns tabs into spaces) for message bodies."""
    return text.translate(_UNSAFE_KEEP_LINES)
