"""Tab completion of commands, nicks and room names for the input line (no UI)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(slots=True)
class Completion:
    """The state of one round of tab presses: the word being completed and its candidates."""

    start: int  # where the completed word starts in the line
    candidates: list[str]
    index: int = 0
    suffix: str = ""


def complete(
    line: str,
    cursor: int,
    *,
    commands: Iterable[str],
    nicks: Iterable[str],
    rooms: Iterable[str],
) -> Completion | None:
    """Candidates for the word before `cursor`, or None if nothing matches.

    `/jo` completes commands, a word after `/join ` or `/leave ` or `/who ` completes room
    names, `#lo` completes rooms anywhere, and anything else completes nicks (a nick at the
    start of the line gets `: ` after it, like in most chat clients).
    """
    before = line[:cursor]
    start = max(before.rfind(" "), before.rfind("\t")) + 1
    word = before[start:]
    if start == 0 and word.startswith("/"):
        pool = ["/" + c for c in commands]
        suffix = " "
    else:
        command = before.split(" ", 1)[0].lower() if before.startswith("/") else ""
        if word.startswith("#"):
            pool = ["#" + r for r in rooms]
            suffix = " "
        elif (
            command in ("/join", "/j", "/leave", "/part", "/who", "/names")
            and start == len(command) + 1
        ):
            pool = list(rooms)
            suffix = " "
        else:
            pool = list(nicks)
            suffix = ": " if start == 0 else " "
    folded = word.casefold()
    seen: set[str] = set()
    matches: list[str] = []
    for candidate in pool:
        key = candidate.casefold()
        if key.startswith(folded) and key not in seen:
            seen.add(key)
            matches.append(candidate)
    if not matches:
        return None
    matches.sort(key=str.casefold)
    return Completion(start, matches, 0, suffix)


def apply(line: str, cursor: int, completion: Completion) -> tuple[str, int]:
    """The line with the current candidate in place of the word; returns (line, cursor)."""
    insert = completion.candidates[completion.index] + completion.suffix
    new = line[: completion.start] + insert + line[cursor:]
    return new, completion.start + len(insert)
