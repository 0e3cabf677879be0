"""The settings model and its file (chat_client/settings.py), without Textual."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

import pytest

from chat_client.conversations import Conversation, Kind
from chat_client.render import mention_pattern
from chat_client.settings import (
    NAMES,
    Settings,
    SettingsFile,
    check_name,
    default_path,
    dumps,
    load,
    parse,
    same_nick,
    save,
    with_highlight,
    with_ignored,
    with_value,
    without_highlight,
    without_ignored,
)


def test_the_file_is_client_toml_in_the_config_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    assert default_path() == tmp_path / "wirechat" / "client.toml"
    assert load() == (Settings(), [])  # no file: the defaults, nothing to say


def test_defaults() -> None:
    s = Settings()
    assert (s.theme, s.bell, s.seconds, s.rooms, s.members) == (
        "textual-dark",
        True,
        False,
        "auto",
        "auto",
    )
    assert (s.highlights, s.ignore, s.smart_filter, s.smart_filter_delay) == ((), (), True, 10)
    assert [name for name, _, _ in s.listing()] == list(NAMES)


def test_values_are_checked_as_typed() -> None:
    s = Settings()
    assert with_value(s, "bell", "off").bell is False
    assert with_value(s, "Seconds", "ON").seconds is True
    assert with_value(s, "smart-filter", "no").smart_filter is False
    assert with_value(s, "rooms", "off").rooms == "off"
    assert with_value(s, "members", "auto").members == "auto"
    assert with_value(s, "smart_filter_delay", " 30 ").smart_filter_delay == 30
    assert with_value(s, "theme", "nord").theme == "nord"
    assert with_value(s, "highlights", "deploy, Wirechat,DEPLOY").highlights == (
        "deploy",
        "Wirechat",
    )
    assert with_value(s, "highlights", "-").highlights == ()
    assert with_value(s, "ignore", "bob,BOB,carol").ignore == ("bob", "carol")
    for name, value, words in [
        ("bell", "maybe", "on or off"),
        ("rooms", "left", "auto, on or off"),
        ("smart_filter_delay", "soon", "number of minutes"),
        ("smart_filter_delay", "0", "1 to 1440"),
        ("theme", "no such theme", "not a theme name"),
        ("highlights", "two words", "one word"),
        ("ignore", "#room", "must not start"),
        ("colour", "red", "no setting 'colour': one of theme, bell"),
    ]:
        with pytest.raises(ValueError, match=words):
            with_value(s, name, value)
    with pytest.raises(ValueError, match="no setting"):
        check_name("nope")


def test_values_are_shown_as_set_takes_them() -> None:
    s = with_value(with_value(Settings(), "highlights", "a,b"), "bell", "off")
    assert s.shown("bell") == "off" and s.shown("highlights") == "a,b"
    assert s.shown("ignore") == "-" and s.shown("smart_filter_delay") == "10"
    for name in NAMES:
        assert with_value(s, name, s.shown(name)) == s


def test_ignore_compares_nicks_as_the_protocol_does() -> None:
    s = with_ignored(Settings(), "bob")
    assert s.ignores("bob") and s.ignores("BOB") and s.ignores("Bob")
    assert s.ignores("b\u043eb")  # a Cyrillic o: the same name_key
    assert s.ignores("b0b")  # 0 and o share a skeleton (tr39 digits)
    assert not s.ignores("bobby") and not s.ignores("rob")
    assert same_nick("aIice", "alice")  # capital I: the visual key
    assert with_ignored(s, "BOB") is s  # there already
    s2, entry = without_ignored(s, "B\u043eB")
    assert entry == "bob" and s2.ignore == ()
    assert without_ignored(s2, "bob") == (s2, None)
    with pytest.raises(ValueError):
        with_ignored(s, "has space")


def test_highlights_are_words_compared_without_case() -> None:
    s = with_highlight(Settings(), "Deploy")
    assert s.highlights == ("Deploy",)
    assert with_highlight(s, "deploy") == s
    s2, entry = without_highlight(s, "DEPLOY")
    assert entry == "Deploy" and s2.highlights == ()
    with pytest.raises(ValueError, match="one word"):
        with_highlight(s, "a,b")
    pattern = mention_pattern("alice", s.highlights)
    assert pattern.search("the deploy is done") and pattern.search("ALICE: hi")
    assert not pattern.search("redeploying") and not pattern.search("deploy-bot")
    assert mention_pattern("alice", ["a+b"]).search("is a+b here")


def test_save_and_load_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "client.toml"
    s = Settings(
        theme="nord",
        bell=False,
        seconds=True,
        rooms="off",
        members="on",
        highlights=('say"hi"', "back\\slash", "\u00e9t\u00e9", "\U0001f600"),
        ignore=("bob", "Zo\u00e9"),
        smart_filter=False,
        smart_filter_delay=25,
    )
    assert save(s, path) == path
    text = path.read_text(encoding="utf-8")
    assert tomllib.loads(text)["smart_filter_delay"] == 25
    assert text.startswith("# wirechat client settings")
    assert load(path) == (s, [])
    # Written whole each time, through a temporary file that does not stay behind.
    save(Settings(), path)
    assert load(path) == (Settings(), [])
    assert sorted(os.listdir(path.parent)) == ["client.toml"]


def test_a_failed_write_leaves_the_old_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "client.toml"
    save(Settings(bell=False), path)

    def broken(src: str, dst: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken)
    with pytest.raises(OSError, match="disk full"):
        save(Settings(), path)
    assert load(path) == (Settings(bell=False), [])
    assert os.listdir(tmp_path) == ["client.toml"]


def test_a_bad_file_gives_warnings_and_defaults(tmp_path: Path) -> None:
    settings, warnings = parse('bell = "loud"\nseconds = true\ncolour = 3\nignore = ["#x"]\n')
    assert settings == Settings(seconds=True)
    assert len(warnings) == 3
    assert "bell must be true or false" in warnings[0]
    assert "unknown setting 'colour'" in warnings[1]
    assert "must not start" in warnings[2]
    assert parse("smart_filter_delay = 0")[0] == Settings()
    assert parse("smart_filter_delay = true")[0] == Settings()
    settings, warnings = parse("this is = = not toml")
    assert settings == Settings() and "not TOML" in warnings[0]
    path = tmp_path / "client.toml"
    path.write_text("bell = [1", encoding="utf-8")
    settings, warnings = load(path)
    assert settings == Settings() and warnings[0].startswith(f"{path}: not TOML")
    path.write_bytes(b"\xff\xfe")
    assert "could not be read" in load(path)[1][0]


def test_the_settings_file_holds_what_is_in_use(tmp_path: Path) -> None:
    path = tmp_path / "client.toml"
    file = SettingsFile(path)
    assert file.current == Settings() and not path.exists()
    file.change(Settings(bell=False))
    assert SettingsFile(path).current == Settings(bell=False)
    assert "bell = false" in dumps(file.current)


def test_conversations_remember_who_spoke_when() -> None:
    conv = Conversation("room:lobby", "lobby", Kind.ROOM, "conv-1")
    assert not conv.spoke_since("bob", 0.0)
    conv.note_spoke("Bob", 100.0)
    conv.note_spoke("bob", 50.0)  # an older line (history) does not move it back
    assert conv.spoke_since("BOB", 100.0) and not conv.spoke_since("bob", 100.5)
    conv.rename_speaker("bob", "robert")
    assert conv.spoke_since("robert", 100.0) and not conv.spoke_since("bob", 0.0)
