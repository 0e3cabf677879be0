"""Search queries: what a user types, made safe for FTS5 MATCH, and the same rule in Python.

A query is words; a message matches when it contains every word (any order, any case,
diacritics ignored, as FTS5's unicode61 tokenizer folds them). A word ending in `*` matches as
a prefix. Nothing else of FTS5's query language is taken from the user: every word is quoted.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable

_WORD = re.compile(r"\w+", re.UNICODE)


def words(query: str) -> list[tuple[str, bool]]:
    """The query's words, folded, each with whether it is a prefix (ended in `*`)."""
    found: list[tuple[str, bool]] = []
    for part in query.split():
        prefix = part.endswith("*")
        for token in _WORD.findall(part):
            found.append((_fold(token), False))
        if prefix and found:
            found[-1] = (found[-1][0], True)
    return found


def fts_query(query: str) -> str | None:
    """The FTS5 MATCH expression for `query`, or None when it has no word at all."""
    terms = []
    for word, prefix in words(query):
        quoted = '"' + word.replace('"', '""') + '"'
        terms.append(quoted + "*" if prefix else quoted)
    return " ".join(terms) if terms else None


def matcher(query: str) -> Callable[[str], bool]:
    """A predicate with the same meaning as `fts_query`, for text held in memory."""
    wanted = words(query)

    def matches(text: str) -> bool:
        if not wanted:
            return False
        tokens = [_fold(t) for t in _WORD.findall(text)]
        return all(
            any(t.startswith(w) if prefix else t == w for t in tokens) for w, prefix in wanted
        )

    return matches


def _fold(token: str) -> str:
    decomposed = unicodedata.normalize("NFKD", token.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))
