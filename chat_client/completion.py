"""Tab completion of commands, nicks and room names for the input line (no UI)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

#: Ban masks that name a nick or an account: `nick:bo` completes like `bo`.
MASK_PREFIXES = ("nick", "account")


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
    arguments: Mapping[str, Iterable[str]] | None = None,
) -> Completion | None:
    """Candidates for the word before `cursor`, or None if nothing matches.

    `/jo` completes commands, a word after `/join ` or `/leave ` or `/who ` completes room
    names, `#lo` completes rooms anywhere, the arguments of a command in `arguments` (keyed
    `/unban`, `/mode`) complete from its candidates, `nick:bo` and `account:bo` complete to
    masks, and anything else completes nicks (a nick at the start of the line gets `: ` after
    it, like in most chat clients).
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
        elif arguments and command in arguments and start > len(command):
            pool = list(arguments[command])
            suffix = " "
        elif word.partition(":")[0].lower() in MASK_PREFIXES and ":" in word:
            prefix = word[: word.index(":") + 1]
            pool = [prefix + nick for nick in nicks]
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
