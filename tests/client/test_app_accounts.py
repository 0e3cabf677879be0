"""The terminal client's side of accounts, history pages, search, notices and offline DMs.

Against the scripted server (tests/client/fakeserver.py), so each case says exactly what the
server sends; the end-to-end cases through the real server are in test_store_e2e.py.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from chat_client.app import ChatApp
from chat_client.conversations import room_key
from chat_client.screens.search_results import SearchResultsScreen
from chat_client.session import ConnState
from chat_client.widgets.bars import StatusBar
from chat_client.widgets.chat_input import ChatInput
from protocol import (
    ChatMessage,
    ClientMessage,
    DirectMessage,
    Error,
    GetHistory,
    Hello,
    History,
    Notice,
    Passwd,
    PasswdChanged,
    Register,
    Registered,
    Search,
    SearchResults,
    Unregister,
    Unregistered,
)
from protocol.base import WireMessage as _Message
from tests.client.apptest import chat, enter, form_shown, lines, started, text_of, wait_until
from tests.client.fakeserver import TS, FakeConn, FakeServer

SIZE = (120, 40)
SECRET = "hunter2 and more"


def msg(id: int, nick: str = "bob", text: str = "", room: str = "lobby") -> ChatMessage:
    return ChatMessage(id=id, room=room, nick=nick, text=text or f"m{id}", action=False, ts=TS)


@pytest.fixture
async def fake() -> AsyncIterator[FakeServer]:
    server = await FakeServer().start()
    yield server
    await server.stop()


def make(fake: FakeServer, nick: str | None = "alice", **kwargs: object) -> ChatApp:
    return ChatApp(fake.host, fake.port, nick, "lobby", cursor_blink=False, **kwargs)  # type: ignore[arg-type]


def status(app: ChatApp) -> str:
    return chat(app).query_one(StatusBar).status_text().plain


def everything(app: ChatApp) -> str:
    screen = chat(app)
    keys = [c.key for c in screen.conversations.items.values()]
    texts = []
    for key in keys:
        conv = screen.conversations.get(key)
        assert conv is not None
        found = screen.query(f"#{conv.widget_id}")
        if found:
            texts.extend(found.first().plain)  # type: ignore[attr-defined]
    return "\n".join(texts)


async def test_logged_in_shows_in_the_status_line(fake: FakeServer) -> None:
    app = make(fake, account_password=SECRET)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        await wait_until(pilot, lambda: "logged in as alice" in status(app))
        assert "as alice  logged" not in status(app)  # the nick is the account's: said once
        assert fake.hellos[0].auth is not None and fake.hellos[0].auth.password == SECRET
        assert "logged in as alice" in text_of(app, "server")
        assert SECRET not in everything(app)


async def test_login_reconnects_with_auth_and_never_shows_the_password(fake: FakeServer) -> None:
    app = make(fake)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        assert "logged in" not in status(app)
        chat_input = chat(app).query_one(ChatInput)
        chat_input.focus()
        await pilot.press(*"/login hu")
        assert chat_input.password  # masked while typed
        chat_input.value = ""
        assert not chat_input.password
        await enter(pilot, f"/login {SECRET}")
        await wait_until(pilot, lambda: len(fake.hellos) == 2)
        await wait_until(pilot, lambda: "logged in as alice" in status(app))
        assert fake.hellos[1].auth is not None and fake.hellos[1].auth.password == SECRET
        await started(pilot)
        assert SECRET not in everything(app)
        assert not any(SECRET in line for line in chat_input.history.entries)
        assert not any(line.startswith("/login") for line in chat_input.history.entries)
        await pilot.press("up")
        assert SECRET not in chat_input.value
        assert "server says goodbye" not in everything(app)


async def test_account_commands_send_requests_and_never_echo(fake: FakeServer) -> None:
    def answer(conn: FakeConn, message: ClientMessage) -> list[_Message] | None:
        match message:
            case Register():
                return [Registered(account="alice")]
            case Passwd():
                return [PasswdChanged()]
            case Unregister():
                return [Unregistered(account="alice")]
        return None

    fake.answer = answer
    app = make(fake)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        chat_input = chat(app).query_one(ChatInput)
        await enter(pilot, "/register short")
        await enter(pilot, f"/register {SECRET}")
        await wait_until(pilot, lambda: "logged in as alice" in status(app))
        await enter(pilot, f"/passwd {SECRET}")  # NEW missing
        await enter(pilot, "/passwd hunter2 newpassword1")
        await wait_until(pilot, lambda: "account password changed" in text_of(app, "lobby"))
        await enter(pilot, "/unregister newpassword1")
        await wait_until(pilot, lambda: "account alice deleted" in text_of(app, "lobby"))
        assert "logged in" not in status(app)
        log = text_of(app, "lobby")
        assert "at least 8 characters" in log  # refused before sending, without the value
        assert "usage: /passwd OLD NEW" in log
        for secret in ("short", "hunter2", SECRET, "newpassword1"):
            assert secret not in everything(app), secret
            assert not any(secret in line for line in chat_input.history.entries)
        assert fake.received(Register) == [Register(password=SECRET)]
        assert fake.received(Passwd) == [Passwd(old="hunter2", new="newpassword1")]
        assert chat(app).session.account_password is None


async def test_history_pages_go_above_in_order_without_repeats(fake: FakeServer) -> None:
    app = make(fake)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        conn = fake.conns[0]
        chat(app).handle(History(room="lobby", messages=[msg(10), msg(11)]))
        await enter(pilot, "/history 3")
        await fake.wait_for(lambda: bool(fake.received(GetHistory)))
        assert fake.received(GetHistory) == [GetHistory(room="lobby", before=10, limit=3)]
        conn.send(History(room="lobby", messages=[msg(8), msg(9), msg(10)], before=10))
        await wait_until(pilot, lambda: "m8" in text_of(app, "lobby"))
        await enter(pilot, "/history")
        await fake.wait_for(lambda: len(fake.received(GetHistory)) == 2)
        assert fake.received(GetHistory)[1] == GetHistory(room="lobby", before=8)
        conn.send(
            History(room="lobby", messages=[msg(5, text="first ever")], before=8, complete=True)
        )
        await wait_until(pilot, lambda: "first ever" in text_of(app, "lobby"))
        log = lines(app, "lobby")
        order = [
            next(i for i, line in enumerate(log) if line.endswith(f"<bob> {t}"))
            for t in ("first ever", "m8", "m9", "m10", "m11")
        ]
        assert order == sorted(order)
        assert sum(line.endswith("<bob> m10") for line in log) == 1
        assert "start of history" in log[0]
        assert "start of #lobby's history" in log[-1] or "start of history" in log[-1]
        await enter(pilot, "/history")
        await pilot.pause(0.1)
        assert len(fake.received(GetHistory)) == 2  # nothing older exists: not asked again
        assert "shown already" in lines(app, "lobby")[-1]


async def test_history_with_nothing_held_asks_for_the_newest(fake: FakeServer) -> None:
    app = make(fake)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        await enter(pilot, "/history 500")
        assert "1 to 200" in lines(app, "lobby")[-1]
        await enter(pilot, "/history")
        await fake.wait_for(lambda: bool(fake.received(GetHistory)))
        request = fake.received(GetHistory)[0]
        assert isinstance(request, GetHistory) and request.before is not None
        assert request.before > 2**50
        fake.conns[0].send(History(room="lobby", messages=[], before=request.before, complete=True))
        await wait_until(pilot, lambda: "no older messages" in text_of(app, "lobby"))


async def test_search_results_are_a_marked_block(fake: FakeServer) -> None:
    app = make(fake)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        await enter(pilot, "/search deploy plan")
        await fake.wait_for(lambda: bool(fake.received(Search)))
        assert fake.received(Search) == [Search(room="lobby", query="deploy plan")]
        hits = [
            ChatMessage(
                id=30,
                room="lobby",
                nick="carol",
                text="the deploy plan v2",
                action=False,
                ts="2026-03-02T10:00:00.000Z",
            ),
            ChatMessage(
                id=12,
                room="lobby",
                nick="[b]bob[/b]",
                text="deploy plan [@click=app.quit]x[/]",
                action=False,
                ts="2026-02-01T09:30:00.000Z",
            ),
        ]
        fake.conns[0].send(SearchResults(room="lobby", query="deploy plan", messages=hits))
        await wait_until(pilot, lambda: "end of search" in text_of(app, "lobby"))
        log = lines(app, "lobby")
        start = next(i for i, line in enumerate(log) if "search 'deploy plan'" in line)
        block = log[start : start + 4]
        assert "2 result(s), newest first" in block[0]
        assert block[1].startswith("» 2026-03-02") and "<carol> the deploy plan v2" in block[1]
        assert (
            block[2].startswith("» 2026-02-01")
            and "<[b]bob[/b]> deploy plan [@click=app.quit]x[/]" in block[2]
        )
        assert "end of search" in block[3]
        # The results are also a list to jump into (tests/client/test_history_scroll.py).
        await wait_until(pilot, lambda: isinstance(app.screen, SearchResultsScreen))
        await pilot.press("escape")
        await wait_until(pilot, lambda: not isinstance(app.screen, SearchResultsScreen))
        await enter(pilot, "/search")
        assert "usage: /search WORDS" in lines(app, "lobby")[-1]


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("nick_registered", "log in with /login PASSWORD"),
        ("bad_login", "wrong account password"),
        ("not_logged_in", "/register PASSWORD"),
        ("store_unavailable", "history and search failed (server: disk on fire)"),
    ],
)
async def test_account_errors_are_explained(fake: FakeServer, code: str, expected: str) -> None:
    app = make(fake)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        message = "disk on fire" if code == "store_unavailable" else "no"
        chat(app).handle(Error(code=code, message=message))
        await pilot.pause(0.05)
        last = lines(app, "lobby")[-1]
        assert last.count("\n") == 0 and code in last and expected in last, last


async def test_replaced_stops_reconnecting_until_asked(fake: FakeServer) -> None:
    app = make(fake, account_password=SECRET)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        fake.conns[0].send(Error(code="replaced", message="logged in elsewhere", fatal=True))
        fake.conns[0].close()
        await wait_until(pilot, lambda: "another login" in text_of(app, "lobby"))
        await pilot.pause(1.5)  # longer than the first backoff delays
        assert len(fake.conns) == 1
        assert chat(app).session.state is ConnState.OFFLINE
        assert "offline" in status(app)
        assert "not reconnecting" in text_of(app, "server")
        await pilot.press("ctrl+r")
        await wait_until(pilot, lambda: len(fake.hellos) == 2)
        await wait_until(pilot, lambda: chat(app).session.connected)
        assert fake.hellos[1].auth is not None


async def test_refused_at_first_the_form_asks_for_the_account_password(
    fake: FakeServer,
) -> None:
    def answer(conn: FakeConn, message: ClientMessage) -> list[_Message] | None:
        if isinstance(message, Hello) and message.auth is None:
            return [Error(code="nick_registered", message="alice is registered")]
        return None

    fake.answer = answer
    app = make(fake)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: form_shown(app))
        form = app.screen
        error = str(form.query_one("#connect-error").render())  # type: ignore[attr-defined]
        assert "account password field" in error, error
        field = form.query_one("#account-password")
        assert field.password  # type: ignore[attr-defined]
        field.value = SECRET  # type: ignore[attr-defined]
        form.action_connect()  # type: ignore[attr-defined]
        await started(pilot)
        assert fake.hellos[-1].auth is not None and fake.hellos[-1].auth.password == SECRET
        await wait_until(pilot, lambda: "logged in as alice" in status(app))


async def test_notices_and_offline_dms(fake: FakeServer) -> None:
    app = make(fake)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        screen = chat(app)
        screen.handle(
            Notice(text="history is not being kept: [b]disk[/b] \x1b[2J", sender="server", ts=TS)
        )
        screen.handle(
            DirectMessage(id=50, sender="alice", to="bob", text="see you", ts=TS, offline=True)
        )
        screen.handle(
            DirectMessage(
                id=51, sender="carol", to="alice", text="while you slept", ts=TS, offline=True
            )
        )
        screen.handle(DirectMessage(id=52, sender="carol", to="alice", text="live one", ts=TS))
        await pilot.pause(0.05)
        for key in ("server", "lobby"):
            line = (
                lines(app, key)[-1]
                if key == "server"
                else next(line for line in lines(app, key) if "server:" in line)
            )
            assert "server: history is not being kept: [b]disk[/b] \\x1b[2J" in line
        assert "stored: bob is offline and gets it at next login" in text_of(app, "@bob")
        carol = lines(app, "@carol")
        assert carol[0].endswith("<carol> while you slept  (sent while you were offline)")
        assert carol[1].endswith("<carol> live one")
        assert screen.conversations.get("dm:carol").unread == 2  # type: ignore[union-attr]
        assert room_key("lobby") in screen.conversations.items


async def test_a_password_too_long_for_hello_is_refused_without_quoting_it(
    fake: FakeServer,
) -> None:
    app = make(fake)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        await enter(pilot, "/login " + "p" * 300)
        await pilot.pause(0.1)
        assert "at most 256 characters" in lines(app, "lobby")[-1]
        assert "ppp" not in everything(app)
        assert len(fake.hellos) == 1 and chat(app).session.account_password is None
