"""Line mode with accounts, history pages and search; where the account password comes from."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from chat_client import cli
from chat_client.accounts import ENV_VAR, account_password, read_password_file
from chat_client.commands import NEWEST, is_secret
from chat_client.plain import Login, PlainClient, describe, run_plain
from protocol import (
    ChatMessage,
    ClientMessage,
    DirectMessage,
    Error,
    GetHistory,
    Hello,
    History,
    Join,
    Joined,
    Notice,
    Passwd,
    Registered,
    Say,
    Search,
    SearchResults,
    Unregister,
)
from protocol.base import WireMessage as _Message
from tests.client.fakeserver import TS, FakeConn, FakeServer, welcome

SECRET = "correct horse battery"


def msg(id: int, text: str = "", room: str = "lobby", nick: str = "bob") -> ChatMessage:
    return ChatMessage(id=id, room=room, nick=nick, text=text or f"m{id}", action=False, ts=TS)


def joined(client: PlainClient, room: str = "lobby") -> PlainClient:
    client.nick = "alice"
    client.track(Joined(room=room, nick="alice", ts=TS))
    return client


# ------------------------------------------------------------------ parsing and printing


def test_account_commands_parse_and_never_quote_the_password() -> None:
    client = PlainClient("lobby")
    login = client.parse(f"/login {SECRET}")
    assert login == Login(SECRET) and SECRET not in repr(login)
    assert client.parse("/passwd old1 newpassword") == Passwd(old="old1", new="newpassword")
    assert client.parse("/unregister pw") == Unregister(password="pw")
    for line in ("/register short", "/passwd old short", "/passwd only-one"):
        notice = client.parse(line)
        assert isinstance(notice, str) and notice.startswith("! not sent:"), notice
        assert "short" not in notice and "only-one" not in notice
    assert all(is_secret(f"/{name} x") for name in ("login", "register", "passwd", "unregister"))
    assert not is_secret("/join x") and not is_secret("hello /login x")


def test_history_asks_before_the_oldest_message_printed() -> None:
    client = joined(PlainClient(None))
    assert client.parse("/history") == GetHistory(room="lobby", before=NEWEST)
    client.track(History(room="lobby", messages=[msg(10), msg(11)]))
    client.track(msg(12))
    assert client.parse("/history 5") == GetHistory(room="lobby", before=10, limit=5)
    assert "1 to 200" in str(client.parse("/history 0"))
    assert "usage" in str(client.parse("/history lots"))
    assert client.parse("/search deploy plan") == Search(room="lobby", query="deploy plan")
    page = History(room="lobby", messages=[msg(8), msg(10)], before=10, complete=True)
    shown = client.track(page)
    assert isinstance(shown, History) and [m.id for m in shown.messages] == [8]
    assert "already" in str(client.parse("/history"))
    assert client.track(msg(12)) is None  # printed already
    assert client.track(History(room="lobby", messages=[msg(11), msg(12)])) is None


def test_new_events_print_as_one_inert_block_each() -> None:
    page = describe(History(room="lobby", messages=[msg(3)], before=4, complete=True))
    assert page.splitlines() == [
        "[lobby] older messages: 1, oldest first",
        "  12:00:00 [lobby] <bob> m3",
        "[lobby] start of history",
    ]
    results = describe(
        SearchResults(
            room="lobby",
            query="x",
            messages=[msg(9, "x two", nick="\x1b[31mred"), msg(2, "x one")],
        )
    )
    assert results.splitlines() == [
        "[lobby] search 'x': 2 result(s), newest first",
        "  ? 2026-01-01 12:00:00 <\\x1b[31mred> x two",
        "  ? 2026-01-01 12:00:00 <bob> x one",
        "[lobby] end of search",
    ]
    notice = describe(Notice(text="restart at 5\x1b]0;x\x07", sender="server", ts=TS))
    assert notice == "12:00:00 -! server: restart at 5\\x1b]0;x\\x07"
    stored = DirectMessage(id=5, sender="alice", to="bob", text="hi", ts=TS, offline=True)
    assert describe(stored, "alice").endswith(
        "<alice -> bob> hi (stored: bob is offline and gets it at next login)"
    )
    delivered = DirectMessage(id=6, sender="bob", to="alice", text="yo", ts=TS, offline=True)
    assert describe(delivered, "alice").endswith("<bob -> alice> yo (sent while you were offline)")
    assert "logged in as alice" in describe(welcome("alice", "alice"))
    assert describe(Registered(account="alice")).startswith("* registered: the nick alice")
    explained = describe(Error(code="nick_registered", message="no"), "alice")
    assert "--account-password-file" in explained and ENV_VAR in explained
    assert describe(Error(code="e\x1b[2J", message="m")) == "! error e\\x1b[2J: m"


# ------------------------------------------------------------------ the password's sources


def test_password_file_first_line_only_spaces_kept(tmp_path: Path) -> None:
    path = tmp_path / "pw"
    path.write_text(f" {SECRET} \nsecond line\n")
    assert read_password_file(str(path)) == f" {SECRET} "
    path.write_text(SECRET)
    assert account_password(str(path), {ENV_VAR: "from env"}) == SECRET
    assert account_password(None, {ENV_VAR: "from env"}) == "from env"
    assert account_password(None, {}) is None
    path.write_text("\n")
    with pytest.raises(ValueError, match="empty"):
        read_password_file(str(path))
    with pytest.raises(ValueError, match="cannot read"):
        read_password_file(str(tmp_path / "missing"))


def test_cli_takes_the_password_from_a_file_or_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    seen: dict[str, Any] = {}

    async def fake_run_plain(*args: object, **kwargs: object) -> int:
        seen.update(kwargs)
        return 0

    monkeypatch.setattr("chat_client.plain.run_plain", fake_run_plain)
    path = tmp_path / "pw"
    path.write_text(SECRET + "\n")
    monkeypatch.setenv(ENV_VAR, "from env")
    assert cli.main(["--plain", "--nick", "alice", "--account-password-file", str(path)]) == 0
    assert seen["account_password"] == SECRET
    assert cli.main(["--plain", "--nick", "alice"]) == 0
    assert seen["account_password"] == "from env"
    monkeypatch.delenv(ENV_VAR)
    assert cli.main(["--plain", "--nick", "alice"]) == 0
    assert seen["account_password"] is None
    with pytest.raises(SystemExit) as exit_:
        cli.main(["--plain", "--account-password-file", str(tmp_path / "missing")])
    assert exit_.value.code == 2
    options = {a.dest for a in cli.build_parser()._actions}
    assert "account_password" not in options  # no flag that takes the password itself


# ------------------------------------------------------------------ against a server


@pytest.fixture
async def fake() -> AsyncIterator[FakeServer]:
    server = await FakeServer().start()
    yield server
    await server.stop()


async def run(fake: FakeServer, text: str, **kwargs: Any) -> tuple[int, list[str]]:
    """Line mode with `text` as its stdin, in this process; returns the status and output."""
    out: list[str] = []
    source = asyncio.StreamReader()
    source.feed_data(text.encode())

    async def feed_eof_later() -> None:
        # The end of input comes once what was typed had time to be answered.
        await asyncio.sleep(0.3)
        source.feed_eof()

    eof = asyncio.ensure_future(feed_eof_later())
    async with asyncio.timeout(10):
        status = await run_plain(
            fake.host, fake.port, "alice", "lobby", out=out.append, source=source, **kwargs
        )
    await eof
    return status, out


async def test_plain_logs_in_from_the_start(fake: FakeServer) -> None:
    status, out = await run(fake, "hi\n", account_password=SECRET)
    assert status == 0
    assert fake.hellos[0].auth is not None and fake.hellos[0].auth.password == SECRET
    assert "logged in as alice" in out[0]
    assert not any(SECRET in line for line in out)


async def test_plain_login_connects_again_and_rejoins_with_since(fake: FakeServer) -> None:
    def answer(conn: FakeConn, message: ClientMessage) -> list[_Message] | None:
        if isinstance(message, Join) and conn.number == 1:
            return [
                Joined(room="lobby", nick="alice", ts=TS),
                History(room="lobby", messages=[msg(4), msg(5)]),
            ]
        if isinstance(message, Join):  # the rejoin: only what is newer than `since`
            return [Joined(room="lobby", nick="alice", ts=TS), History(room="lobby", messages=[])]
        return None

    fake.answer = answer
    status, out = await run(fake, f"before\n/login {SECRET}\nafter\n")
    assert status == 0
    assert [h.auth.password if h.auth else None for h in fake.hellos] == [None, SECRET]
    assert fake.conns[1].received[1] == Join(room="lobby", since=5)
    said = [(c.number, m.text) for c in fake.conns for m in c.received if isinstance(m, Say)]
    assert said == [(1, "before"), (2, "after")]
    assert not any(SECRET in line for line in out)
    assert any("logging in as alice" in line for line in out)
    assert not any("server says bye: quit" in line for line in out[:-1])


async def test_plain_refused_login_goes_back_to_how_it_was(fake: FakeServer) -> None:
    def answer(conn: FakeConn, message: ClientMessage) -> list[_Message] | None:
        if isinstance(message, Hello) and message.auth is not None:
            return [Error(code="bad_login", message="wrong password")]
        return None

    fake.answer = answer
    status, out = await run(fake, "/login wrong password\nstill here\n")
    assert status == 0
    assert [h.auth is not None for h in fake.hellos] == [False, True, False]
    assert any("wrong account password" in line for line in out)
    assert [m.text for m in fake.conns[2].received if isinstance(m, Say)] == ["still here"]


async def test_plain_nick_registered_at_start_exits_with_how_to_log_in(fake: FakeServer) -> None:
    def answer(conn: FakeConn, message: ClientMessage) -> list[_Message] | None:
        if isinstance(message, Hello):
            return [Error(code="nick_registered", message="alice is registered")]
        return None

    fake.answer = answer
    status, out = await run(fake, "")
    assert status == 1
    assert "--account-password-file" in out[-1] and "nick_registered" in out[-1]


def test_a_password_too_long_for_hello_is_refused_everywhere(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    secret = "p" * 300
    notice = PlainClient("lobby").parse(f"/login {secret}")
    assert isinstance(notice, str) and "at most 256" in notice and "ppp" not in notice
    monkeypatch.setenv(ENV_VAR, secret)
    with pytest.raises(SystemExit):
        cli.main(["--plain", "--nick", "alice"])
    assert "ppp" not in capsys.readouterr().err
