"""Whole arguments: a command that takes one name refuses more words instead of using the first.

`/nick has space` must not rename to `has`, `/leave a b` must not leave `a`. `/join ROOM KEY`
takes a second word, the room's key (a room name never holds a space), so three words are the
error there.
"""

from __future__ import annotations

import pytest

from chat_client.commands import join_args, one_nick, one_room
from chat_client.conversations import room_key
from chat_client.plain import PlainClient
from protocol import ChangeNick, ClientMessage, Join, Leave, Who
from tests.client.apptest import chat, enter, lines, make_app, started, text_of, wait_until
from tests.client.fakeserver import FakeServer

SIZE = (120, 40)


def test_one_word_arguments() -> None:
    assert one_nick("nick", "  zed ") == "zed"
    assert one_room("leave", "#dev") == "dev"
    assert join_args("dev") == ("dev", None)
    assert join_args("#dev s3cret") == ("dev", "s3cret")
    with pytest.raises(ValueError, match=r"^a nick has no spaces: /nick NEW$"):
        one_nick("nick", "has space")
    with pytest.raises(ValueError, match=r"^a room name has no spaces: /leave \[ROOM\]$"):
        one_room("leave", "bad room")
    with pytest.raises(ValueError, match=r"^a room name has no spaces, and a key is one word"):
        join_args("a b c")
    with pytest.raises(ValueError, match=r"^usage: /join ROOM \[KEY\]$"):
        join_args("  ")


def test_plain_refuses_extra_words_and_sends_nothing() -> None:
    client = PlainClient("lobby")
    assert client.parse("/nick has space") == "! not sent: a nick has no spaces: /nick NEW"
    assert client.parse("/leave bad room") == (
        "! not sent: a room name has no spaces: /leave [ROOM]"
    )
    assert client.parse("/who bad room") == "! not sent: a room name has no spaces: /who [ROOM]"
    assert client.parse("/join a b c") == (
        "! not sent: a room name has no spaces, and a key is one word: /join ROOM [KEY]"
    )
    assert client.parse("/history 10 20") == (
        "! not sent: usage: /history [N], N a number from 1 to 200"
    )
    assert client.parse("/nick") == "! not sent: usage: /nick NEW"
    assert client.room == "lobby"  # no join was sent, so nothing changed
    assert client.parse("/join bad room") == Join(room="bad", key="room")  # ROOM KEY
    assert client.parse("/nick zed") == ChangeNick(nick="zed")
    assert client.parse("/leave #dev") == Leave(room="dev")
    assert client.parse("/who") == Who(room="bad")


async def test_tui_refuses_extra_words_and_sends_nothing() -> None:
    fake = await FakeServer().start()
    app = make_app(fake.port)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await started(pilot)
            for line in ("/nick has space", "/leave bad room", "/who bad room", "/join a b c"):
                await enter(pilot, line)
            await enter(pilot, "/nick zed")  # the one good line, to know the rest went first
            await fake.wait_for(lambda: bool(fake.received(ChangeNick)))
            log = text_of(app, "lobby")
            assert "not sent: a nick has no spaces: /nick NEW" in log
            assert "not sent: a room name has no spaces: /leave [ROOM]" in log
            assert "not sent: a room name has no spaces: /who [ROOM]" in log
            assert (
                "not sent: a room name has no spaces, and a key is one word: /join ROOM [KEY]"
                in log
            )
            sent: list[ClientMessage] = [*fake.received(ChangeNick), *fake.received(Leave)]
            sent += [*fake.received(Who), *fake.received(Join)]
            assert sent == [ChangeNick(nick="zed"), Join(room="lobby")]
            assert chat(app).conversations.get(room_key("lobby")) is not None
    finally:
        await fake.stop()


async def test_tui_join_room_key_says_the_second_word_was_the_key() -> None:
    fake = await FakeServer().start()
    app = make_app(fake.port)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await started(pilot)
            await enter(pilot, "/join bad room")
            await fake.wait_for(lambda: len(fake.received(Join)) == 2)
            assert fake.received(Join)[1] == Join(room="bad", key="room")
            await wait_until(pilot, lambda: "joining #bad with the key" in text_of(app, "lobby"))
            notice = next(line for line in lines(app, "lobby") if "joining #bad" in line)
            assert notice.endswith("joining #bad with the key given after its name")
            assert "room" not in notice.split("#bad")[1]  # the key is never shown
    finally:
        await fake.stop()
