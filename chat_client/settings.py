"""The client's settings: what `/set` shows and changes, kept in `client.toml`. No Textual here.

The file is `platformdirs.user_config_dir("wirechat")/client.toml` (`~/.config/wirechat/` on
Linux, or `$XDG_CONFIG_HOME/wirechat/`), read once at start with `tomllib` and written whole
by `save`: to a temporary file in the same directory, then renamed over the old one, so a
crash never leaves half a file. A missing file means the defaults; a key that is unknown or
holds a bad value is skipped with a warning (the rest of the file still counts), and a file
that is not TOML at all gives the defaults and a warning.

Nicks in the ignore list are compared as the protocol compares names
(`protocol/names.py`): two nicks are the same when their `name_key` or their `visual_key`
match, so ignoring `bob` also hides `BOB` and `bob` written with a Cyrillic o (U+043E).
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
import tomllib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

import platformdirs

from protocol.names import check_text, name_keys, normalize_nick

FILE_NAME = "client.toml"
#: How a sidebar is shown: `auto` (the width decides), `on` (always), `off` (never).
SIDEBAR_VALUES = ("auto", "on", "off")
_TRUE = {"on", "yes", "true", "1"}
_FALSE = {"off", "no", "false", "0"}
_THEME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
MAX_HIGHLIGHT_LENGTH = 64
MAX_LIST_LENGTH = 200
MAX_SMART_FILTER_DELAY = 24 * 60  # minutes


def default_path() -> Path:
    """`client.toml` in the user's config directory (read at each call: honours
    `$XDG_CONFIG_HOME`)."""
    return Path(platformdirs.user_config_dir("wirechat")) / FILE_NAME


@dataclass(frozen=True, slots=True)
class Settings:
    """Every setting with its default; the field order is the order `/set` lists them."""

    theme: str = "textual-dark"
    bell: bool = True
    seconds: bool = False
    rooms: str = "auto"
    members: str = "auto"
    highlights: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()
    smart_filter: bool = True
    smart_filter_delay: int = 10

    def shown(self, name: str) -> str:
        """The value of setting `name` as `/set` shows it (and takes it back)."""
        value = getattr(self, name)
        if isinstance(value, bool):
            return "on" if value else "off"
        if isinstance(value, tuple):
            return ",".join(value) if value else "-"
        return str(value)

    def ignores(self, nick: str) -> bool:
        """Whether `nick` is in the ignore list, or is the same nick by either protocol key."""
        return same_nick_in(nick, self.ignore) is not None

    def listing(self) -> list[tuple[str, str, str]]:
        """`(name, value, help)` for each setting, in order."""
        return [(name, self.shown(name), HELP[name]) for name in NAMES]


NAMES: tuple[str, ...] = tuple(f.name for f in fields(Settings))
HELP: dict[str, str] = {
    "theme": "Textual theme (ctrl+p, 'theme' lists them)",
    "bell": "ring the bell on a mention or DM in another window",
    "seconds": "timestamps as HH:MM:SS (F6 switches for this run)",
    "rooms": "room list: auto (width decides), on, off (F7 for this run)",
    "members": "member list: auto (width decides), on, off (F8 for this run)",
    "highlights": "words that count as a mention, comma-separated (- for none)",
    "ignore": "nicks whose lines are not shown (/ignore, /unignore)",
    "smart_filter": "hide joins/parts of people silent for smart_filter_delay",
    "smart_filter_delay": "minutes (1 to 1440) that keep a speaker's joins/parts shown",
}


def same_nick(a: str, b: str) -> bool:
    """Whether two nicks are one for the protocol: either key matches."""
    key_a, visual_a = name_keys(a)
    key_b, visual_b = name_keys(b)
    return key_a == key_b or visual_a == visual_b


def same_nick_in(nick: str, nicks: Iterable[str]) -> str | None:
    """The entry of `nicks` that is the same nick as `nick`, if any."""
    for other in nicks:
        if same_nick(nick, other):
            return other
    return None


# ---------------------------------------------------------------------- values


def _bool(name: str, text: str) -> bool:
    word = text.strip().lower()
    if word in _TRUE:
        return True
    if word in _FALSE:
        return False
    raise ValueError(f"{name} is on or off, not {text.strip()!r}")


def _sidebar(name: str, text: str) -> str:
    word = text.strip().lower()
    if word in _TRUE:
        return "on"
    if word in _FALSE:
        return "off"
    if word == "auto":
        return word
    raise ValueError(f"{name} is auto, on or off, not {text.strip()!r}")


def _theme(name: str, text: str) -> str:
    word = text.strip()
    if not _THEME.fullmatch(word):
        raise ValueError(f"{name}: not a theme name: {word!r}")
    return word


def _delay(name: str, text: str) -> int:
    try:
        minutes = int(text.strip())
    except ValueError:
        raise ValueError(f"{name} is a number of minutes, not {text.strip()!r}") from None
    if not 1 <= minutes <= MAX_SMART_FILTER_DELAY:
        raise ValueError(f"{name} is 1 to {MAX_SMART_FILTER_DELAY} minutes")
    return minutes


def highlight_word(text: str) -> str:
    """One highlight word, checked: one word of visible text, at most 64 characters."""
    word = text.strip()
    if not word:
        raise ValueError("a highlight word must not be empty")
    if any(c.isspace() for c in word) or "," in word:
        raise ValueError(f"a highlight is one word, without spaces or commas: {word!r}")
    if len(word) > MAX_HIGHLIGHT_LENGTH:
        raise ValueError(f"a highlight word is at most {MAX_HIGHLIGHT_LENGTH} characters")
    return check_text(word, "highlight word", MAX_HIGHLIGHT_LENGTH)


def _items(text: str) -> list[str]:
    """The items of a comma-separated list; `-` (or nothing) is the empty list."""
    if text.strip() in ("", "-"):
        return []
    items = [item.strip() for item in text.split(",")]
    return [item for item in items if item]


def _unique(values: Iterable[str], same: Callable[[str, str], bool]) -> tuple[str, ...]:
    kept: list[str] = []
    for value in values:
        if not any(same(value, other) for other in kept):
            kept.append(value)
    if len(kept) > MAX_LIST_LENGTH:
        raise ValueError(f"a list holds at most {MAX_LIST_LENGTH} entries")
    return tuple(kept)


def _same_word(a: str, b: str) -> bool:
    return a.casefold() == b.casefold()


def _highlights(name: str, text: str) -> tuple[str, ...]:
    return _unique((highlight_word(w) for w in _items(text)), _same_word)


def _ignore(name: str, text: str) -> tuple[str, ...]:
    return _unique((normalize_nick(n) for n in _items(text)), same_nick)


_PARSERS: dict[str, Callable[[str, str], Any]] = {
    "theme": _theme,
    "bell": _bool,
    "seconds": _bool,
    "rooms": _sidebar,
    "members": _sidebar,
    "highlights": _highlights,
    "ignore": _ignore,
    "smart_filter": _bool,
    "smart_filter_delay": _delay,
}


def check_name(name: str) -> str:
    """A setting's name as typed (any case, `-` for `_`); ValueError naming the settings."""
    key = name.strip().lower().replace("-", "_")
    if key not in _PARSERS:
        raise ValueError(f"no setting {name.strip()!r}: one of {', '.join(NAMES)}")
    return key


def with_value(settings: Settings, name: str, text: str) -> Settings:
    """`settings` with setting `name` set from `text` as typed after `/set NAME`; ValueError
    with a one-line reason for an unknown name or a bad value."""
    key = check_name(name)
    return replace(settings, **{key: _PARSERS[key](key, text)})


def with_ignored(settings: Settings, nick: str) -> Settings:
    """`settings` with `nick` in the ignore list (unchanged if it is there, by either key)."""
    nick = normalize_nick(nick)
    if settings.ignores(nick):
        return settings
    return replace(settings, ignore=_unique((*settings.ignore, nick), same_nick))


def without_ignored(settings: Settings, nick: str) -> tuple[Settings, str | None]:
    """`settings` without the ignore entry that is `nick`, and that entry (None: none was)."""
    entry = same_nick_in(nick, settings.ignore)
    if entry is None:
        return settings, None
    return replace(settings, ignore=tuple(n for n in settings.ignore if n != entry)), entry


def with_highlight(settings: Settings, word: str) -> Settings:
    word = highlight_word(word)
    return replace(settings, highlights=_unique((*settings.highlights, word), _same_word))


def without_highlight(settings: Settings, word: str) -> tuple[Settings, str | None]:
    entry = next((w for w in settings.highlights if _same_word(w, word.strip())), None)
    if entry is None:
        return settings, None
    kept = tuple(w for w in settings.highlights if w != entry)
    return replace(settings, highlights=kept), entry


# ---------------------------------------------------------------------- the file


def _from_toml(name: str, value: Any) -> Any:
    """A value read from the file, checked as `/set` checks it."""
    default = getattr(Settings(), name)
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise ValueError(f"{name} must be true or false")
        return value
    if isinstance(default, int):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"{name} must be a number")
        return _PARSERS[name](name, str(value))
    if isinstance(default, tuple):
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ValueError(f"{name} must be a list of strings")
        if any("," in v for v in value):
            raise ValueError(f"{name}: an entry holds a comma")
        return _PARSERS[name](name, ",".join(value) or "-")
    if not isinstance(value, str):
        raise ValueError(f"{name} must be a string")
    return _PARSERS[name](name, value)


def parse(text: str) -> tuple[Settings, list[str]]:
    """The settings in a file's text, and a warning for each part that was not used."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        return Settings(), [f"not TOML ({exc}): the defaults are used"]
    warnings: list[str] = []
    values: dict[str, Any] = {}
    for name, value in data.items():
        if name not in _PARSERS:
            warnings.append(f"unknown setting {name!r} skipped")
            continue
        try:
            values[name] = _from_toml(name, value)
        except ValueError as exc:
            warnings.append(f"{exc}; the default is used")
    return Settings(**values), warnings


def load(path: Path | None = None) -> tuple[Settings, list[str]]:
    """The settings saved in `path` (default: `default_path()`), and warnings, each naming
    the file. No file: the defaults and no warning."""
    path = path if path is not None else default_path()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return Settings(), []
    except (OSError, UnicodeDecodeError) as exc:
        return Settings(), [f"{path}: could not be read ({exc}): the defaults are used"]
    settings, warnings = parse(text)
    return settings, [f"{path}: {w}" for w in warnings]


def _toml_string(value: str) -> str:
    out = ['"']
    for char in value:
        if char in '"\\':
            out.append("\\" + char)
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            out.append(f"\\u{ord(char):04X}")
        else:
            out.append(char)
    out.append('"')
    return "".join(out)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, tuple):
        return "[" + ", ".join(_toml_string(v) for v in value) + "]"
    return _toml_string(str(value))


def dumps(settings: Settings) -> str:
    """The file's text for `settings`: every setting, a comment line above each."""
    lines = ["# wirechat client settings; /set NAME VALUE changes them (docs/client.md)", ""]
    for name in NAMES:
        lines.append(f"# {HELP[name]}")
        lines.append(f"{name} = {_toml_value(getattr(settings, name))}")
    return "\n".join(lines) + "\n"


def save(settings: Settings, path: Path | None = None) -> Path:
    """Write `settings` to `path` (default: `default_path()`) atomically; OSError if it
    cannot be written. Returns the path."""
    path = path if path is not None else default_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(prefix=f".{FILE_NAME}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as file:
            file.write(dumps(settings))
            file.flush()
            os.fsync(file.fileno())
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
    return path


class SettingsFile:
    """The settings in use and the file they are saved in, shared by the app and its screens.

    `warnings`: what `load` said of the file at start, for the UI to show once."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path if path is not None else default_path()
        self.current, self.warnings = load(self.path)

    def change(self, settings: Settings) -> None:
        """Use `settings` from now on and save them; OSError if the file cannot be written
        (they are used all the same, for this run)."""
        self.current = settings
        save(settings, self.path)
