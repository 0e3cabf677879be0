"""/set and the settings file, /ignore, highlight words and the smart filter, in the TUI.

Every test has a config directory of its own (tests/client/conftest.py sets
$XDG_CONFIG_HOME), so client.toml starts absent."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from chat_client.app import ChatApp
from chat_client.settings import Settings, default_path, load, save
from chat_client.widgets.chat_log import ChatLog
from protocol import ChatMessage, DirectMessage, History, Joined, Left, NickChanged
from tests.client.apptest import chat, enter, lines, make_app, started, text_of, wait_until
from tests.client.fakeserver import TS, FakeServer

SIZE = (80, 24)


@pytest.fixture
async def fake() -> AsyncIterator[FakeServer]:
    server = await FakeServer().start()
    yield server
    await server.stop()


def said(
    text: str, id: int, nick: str = "bob", room: str = "lobby", action: bool = False
) -> ChatMessage:
    return ChatMessage(id=id, room=room, nick=nick, text=text, action=action, ts=TS)


def dm(text: str, sender: str = "bob", id: int = 1) -> DirectMessage:
    return DirectMessage.model_validate(
        {"id": id, "from": sender, "to": "alice", "text": text, "ts": TS}
    )


def joined(nick: str, room: str = "lobby") -> Joined:
    return Joined(room=room, nick=nick, ts=TS)


def left(nick: str, room: str = "lobby", reason: str | None = None) -> Left:
    return Left(room=room, nick=nick, reason=reason, ts=TS)


def last(app: ChatApp, key: str = "lobby") -> str:
    return lines(app, key)[-1]


async def test_set_lists_checks_saves_and_applies(fake: FakeServer) -> None:
    app = make_app(fake.port, room="lobby")
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        screen = chat(app)
        await enter(pilot, "/set")
        text = text_of(app, "lobby")
        assert f"settings (saved in {default_path()}):" in text
        assert "bell = on" in text and "smart_filter_delay = 10" in text
        assert "ignore = -" in text
        assert not default_path().exists()  # listing writes nothing

        await enter(pilot, "/set bell off")
        assert last(app).endswith("-- bell = off (saved)")
        assert screen.bell is False and app.bell_on is False
        assert load(default_path()) == (Settings(bell=False), [])
        await enter(pilot, "/set bell")
        assert last(app).endswith("-- bell = off")

        await enter(pilot, "/set colour red")
        assert "not sent: no setting 'colour': one of theme, bell" in last(app)
        await enter(pilot, "/set bell loud")
        assert "not sent: bell is on or off, not 'loud'" in last(app)
        await enter(pilot, "/set theme no-such-theme")
        assert "not sent: no theme 'no-such-theme': one of" in last(app)
        assert load(default_path())[0] == Settings(bell=False)

        # The same switches as F6 and F8.
        await enter(pilot, "/set seconds on")
        assert screen.seconds is True
        assert all(log.seconds for log in screen.query(ChatLog))
        await enter(pilot, "/set members on")  # 80 columns would hide it
        assert screen.query_one("#members").display is True
        await pilot.press("f8")
        assert screen.query_one("#members").display is False
        await enter(pilot, "/set members on")  # set again: over what F8 chose
        assert screen.query_one("#members").display is True
        await enter(pilot, "/set theme nord")
        assert app.theme == "nord"
        assert load(default_path())[0] == Settings(
            theme="nord", bell=False, seconds=True, members="on"
        )


async def test_settings_are_loaded_at_start(fake: FakeServer) -> None:
    save(Settings(theme="nord", bell=False, seconds=True, members="off", rooms="off"))
    app = make_app(fake.port)
    async with app.run_test(size=(140, 40)) as pilot:
        await started(pilot)
        screen = chat(app)
        assert app.theme == "nord" and app.bell_on is False and screen.bell is False
        assert screen.seconds is True
        await pilot.pause()
        # Wide enough for both lists, but the settings hide them; F7 still shows one.
        assert screen.query_one("#members").display is False
        assert screen.query_one("#rooms").display is False
        await pilot.press("f7")
        assert screen.query_one("#rooms").display is True


async def test_the_environment_wins_over_the_file(
    fake: FakeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    save(Settings(bell=False))
    monkeypatch.setenv("WIRECHAT_BELL", "on")
    app = make_app(fake.port)
    assert app.bell_on is True


async def test_a_bad_settings_file_is_said_once(fake: FakeServer) -> None:
    path = default_path()
    path.parent.mkdir(parents=True)
    path.write_text('bell = "loud"\ntheme = "gone"\n', encoding="utf-8")
    app = make_app(fake.port)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        server_log = text_of(app, "server")
        assert f"settings: {path}: bell must be true or false; the default is used" in server_log
        assert f"settings: {path}: no theme 'gone': the default is used" in server_log
        assert app.theme == "textual-dark"


async def test_a_theme_picked_in_the_palette_is_saved(fake: FakeServer) -> None:
    app = make_app(fake.port)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        app.theme = "gruvbox"  # what the palette's theme picker does
        await wait_until(pilot, lambda: default_path().exists())
        assert load(default_path())[0].theme == "gruvbox"
        await enter(pilot, "/set theme")
        assert last(app).endswith("-- theme = gruvbox")


async def test_ignore_hides_messages_actions_dms_joins_and_parts(fake: FakeServer) -> None:
    save(Settings(smart_filter=False))  # joins and parts are shown, but not bob's
    app = make_app(fake.port)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await started(pilot)
        screen = chat(app)
        await enter(pilot, "/ignore")
        assert "ignoring no one" in last(app)
        await enter(pilot, "/ignore bob")
        assert "ignoring bob: their messages, actions, DMs, joins and parts" in last(app)
        assert load(default_path())[0].ignore == ("bob",)
        await enter(pilot, "/ignore BOB")
        assert last(app).endswith("-- BOB is ignored already")
        await enter(pilot, "/ignore alice")
        assert "not sent: you cannot ignore yourself" in last(app)
        screen.handle(said("hello from bob", 1))
        screen.handle(said("bob waves", 2, nick="BOB", action=True))
        screen.handle(said("alice: a look-alike", 3, nick="b\u043eb"))  # Cyrillic o
        screen.handle(joined("Bob"))
        screen.handle(said("hi from carol", 4, nick="carol"))
        screen.handle(dm("psst"))
        await pilot.pause()
        assert "Bob" in screen.conversations.current.members  # the member list still has him
        screen.handle(left("bob", reason="bye"))
        await pilot.pause()
        text = text_of(app, "lobby")
        assert "<carol> hi from carol" in text
        for hidden in (
            "hello from bob",
            "bob waves",
            "look-alike",
            "Bob joined",
            "bob left",
            "psst",
        ):
            assert hidden not in text
        assert screen.conversations.get("dm:bob") is None  # no window for the DM
        assert not app._notifications
        assert "Bob" not in screen.conversations.current.members
        await enter(pilot, "/ignore")
        assert "ignoring: bob (/unignore NICK)" in last(app)
        await enter(pilot, "/unignore carol")
        assert last(app).endswith("-- carol is not ignored")
        await enter(pilot, "/unignore BOB")
        assert last(app).endswith("-- no longer ignoring bob")
        assert load(default_path())[0].ignore == ()
        screen.handle(said("visible again", 5))
        await pilot.pause()
        assert "<bob> visible again" in text_of(app, "lobby")


async def test_ignore_leaves_out_history_lines(fake: FakeServer) -> None:
    save(Settings(ignore=("bob",)))
    app = make_app(fake.port)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        screen = chat(app)
        messages = [said("old bob", 10), said("old carol", 11, nick="carol")]
        screen.handle(History(room="lobby", messages=messages))
        await pilot.pause()
        text = text_of(app, "lobby")
        assert "history: 1 earlier message(s)" in text and "old carol" in text
        assert "old bob" not in text


async def test_an_ignore_follows_a_nick_change_for_the_run(fake: FakeServer) -> None:
    save(Settings(ignore=("bob",)))
    app = make_app(fake.port)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        screen = chat(app)
        screen.handle(joined("bob"))
        screen.handle(NickChanged(old="bob", new="bobby"))
        await pilot.pause()
        assert "bob is now bobby (ignored: hidden under the new nick too" in last(app)
        screen.handle(NickChanged(old="bobby", new="rob"))
        screen.handle(said("still here", 1, nick="rob"))
        screen.handle(dm("psst", sender="rob"))
        await pilot.pause()
        assert "still here" not in text_of(app, "lobby")
        assert screen.conversations.get("dm:rob") is None
        assert load(default_path())[0].ignore == ("bob",)  # the file keeps what was typed
        await enter(pilot, "/ignore")
        assert "ignoring: bob; for this run, after a nick change: rob" in last(app)
        await enter(pilot, "/unignore bob")  # the entry, and the nicks it went on to
        assert last(app).endswith("-- no longer ignoring bob")
        screen.handle(said("back in view", 2, nick="rob"))
        await pilot.pause()
        assert "<rob> back in view" in text_of(app, "lobby")
        # A followed nick alone can be unignored too; someone taking your nick is not hidden.
        await enter(pilot, "/ignore rob")
        screen.handle(NickChanged(old="rob", new="robert"))
        await enter(pilot, "/unignore robert")
        assert last(app).endswith("-- no longer ignoring robert")
        screen.handle(said("robert talks", 3, nick="robert"))
        await pilot.pause()
        assert "<robert> robert talks" in text_of(app, "lobby")
        assert load(default_path())[0].ignore == ("rob",)


async def test_a_followed_ignore_ends_when_the_nick_is_gone_and_can_be_saved(
    fake: FakeServer,
) -> None:
    save(Settings(ignore=("bob",)))
    app = make_app(fake.port)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        screen = chat(app)
        screen.handle(joined("bob"))
        screen.handle(NickChanged(old="bob", new="BOB"))  # the same nick: ignored anyway
        await pilot.pause()
        assert last(app).endswith("bob is now BOB") and not screen.ignore_followed
        screen.handle(NickChanged(old="BOB", new="rob"))
        await pilot.pause()
        assert list(screen.ignore_followed) == ["rob"]
        screen.handle(left("rob", reason="quit"))  # gone: someone else may take the nick
        await pilot.pause()
        assert not screen.ignore_followed
        screen.handle(joined("rob"))
        screen.handle(said("a new rob", 1, nick="rob"))
        await pilot.pause()
        assert "<rob> a new rob" in text_of(app, "lobby")
        # /ignore of a followed nick saves it.
        screen.handle(joined("bob"))
        screen.handle(NickChanged(old="bob", new="bobby"))
        await enter(pilot, "/ignore bobby")
        assert "ignoring bobby" in last(app)
        assert load(default_path())[0].ignore == ("bob", "bobby")
        assert not screen.ignore_followed


async def test_highlight_words_count_as_mentions(
    fake: FakeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = make_app(fake.port)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        bells: list[int] = []
        monkeypatch.setattr(app, "bell", lambda: bells.append(1))
        await started(pilot)
        await enter(pilot, "/join other")
        await started(pilot, "other")
        screen = chat(app)
        await enter(pilot, "/highlight")
        assert "no highlight words" in last(app, "other")
        await enter(pilot, "/highlight Deploy")
        assert "a line with Deploy counts as a mention" in last(app, "other")
        assert load(default_path())[0].highlights == ("Deploy",)
        lobby = screen.conversations.get("room:lobby")
        assert lobby is not None
        screen.handle(said("redeploying is not it", 1))
        await pilot.pause()
        assert not lobby.mention and bells == []
        screen.handle(said("the DEPLOY broke", 2))
        await pilot.pause()
        assert lobby.mention and bells == [1]
        assert [n.message for n in app._notifications] == ["the DEPLOY broke"]
        # /set replaces the list; /unhighlight takes one out.
        await enter(pilot, "/set highlights wirechat, release")
        screen.handle(said("the deploy again", 3))
        await pilot.pause()
        assert bells == [1]
        screen.handle(said("release day", 4))
        await pilot.pause()
        assert bells == [1, 1]
        await enter(pilot, "/unhighlight RELEASE")
        assert "release no longer counts as a mention" in last(app, "other")
        screen.handle(said("release day again", 5))
        await pilot.pause()
        assert bells == [1, 1]
        await enter(pilot, "/highlight")
        assert "highlights: wirechat (and your nick)" in last(app, "other")


async def test_the_smart_filter_hides_joins_and_parts_of_the_silent(fake: FakeServer) -> None:
    app = make_app(fake.port)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        screen = chat(app)
        now = [1_000_000.0]
        screen.events.clock = lambda: now[0]
        screen.handle(joined("carol"))
        screen.handle(joined("bob"))
        screen.handle(said("hi all", 1))
        screen.handle(left("bob", reason="brb"))
        screen.handle(left("carol"))
        screen.handle(joined("bob"))
        await pilot.pause()
        text = text_of(app, "lobby")
        assert "carol" not in text and "bob joined" in text and "bob left (brb)" in text
        assert text.count("bob joined") == 1  # the first join: he had not spoken yet
        now[0] += 9 * 60
        screen.handle(left("bob"))
        screen.handle(joined("bob"))
        now[0] += 2 * 60  # 11 minutes since he spoke
        screen.handle(left("bob", reason="gone"))
        await pilot.pause()
        text = text_of(app, "lobby")
        assert text.count("bob joined") == 2 and "bob left (gone)" not in text
        await enter(pilot, "/set smart_filter_delay 20")
        screen.handle(left("bob", reason="twenty"))
        await enter(pilot, "/set smart_filter off")
        screen.handle(joined("carol"))
        await pilot.pause()
        text = text_of(app, "lobby")
        assert "bob left (twenty)" in text and "carol joined" in text
        assert load(default_path())[0] == Settings(smart_filter=False, smart_filter_delay=20)
