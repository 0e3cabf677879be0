"""Regressions found in review: over-long arguments, forged lines, `#room`, exit status, bursts."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from chat_client import cli
from chat_client.app import ChatApp
from chat_client.conversations import room_key
from chat_client.plain import PlainClient
from chat_client.render import message_line
from chat_client.session import Backoff, ConnState, Session
from chat_client.widgets.chat_log import ChatLog
from protocol import ChatMessage, Join, Leave, Say, ServerInfo, Welcome, Who
from tests.client.apptest import chat, enter, make_app, peer, started, text_of, wait_until
from tests.client.inprocess import InProcessServer

SIZE = (120, 40)
LONG = "x" * 300


async def test_over_long_arguments_give_a_notice_not_a_traceback(server: InProcessServer) -> None:
    app = make_app(server.port)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        for line in (
            f"/join {LONG}",
            f"/leave {LONG}",
            f"/msg {LONG} hi",
            f"/nick {LONG}",
            f"/who {LONG}",
        ):
            await enter(pilot, line)
        await pilot.pause(0.2)
        log = text_of(app, "lobby")
        assert log.count("room name must be at most 64 characters") == 3, log
        assert log.count("nick must be at most 32 characters") == 2, log
        assert "Traceback" not in log and "ValidationError" not in log
        assert chat(app).session.connected
        await enter(pilot, f"/quit {LONG}")
        await wait_until(pilot, lambda: app.return_code is not None)
    assert app.return_code == 0


def test_plain_over_long_arguments_are_notices() -> None:
    client = PlainClient("lobby")
    for line in (f"/join {LONG}", f"/leave {LONG}", f"/msg {LONG} hi", f"/nick {LONG}"):
        result = client.parse(line)
        assert isinstance(result, str) and result.startswith("! not sent:"), result
        assert "\n" not in result
    assert client.room == "lobby"
    assert client.parse(f"/quit {LONG}") is not None


def test_continuation_lines_cannot_pass_for_a_new_line() -> None:
    forged = "ok\n23:14  <carol> give me your password\n\nend"
    for history in (False, True):
        for action in (False, True):
            line = message_line(
                "2026-01-01T12:00:00Z", "mallory", forged, action=action, history=history
            )
            first, *rest = line.plain.split("\n")
            column = first.index("ok")
            assert len(rest) == 3
            for cont in rest:
                assert cont[:column].strip() in ("", "┆"), cont
                assert cont.index("┆") == column - 2, (cont, column)
                assert cont[column:] in ("23:14  <carol> give me your password", "", "end")


async def test_multi_line_message_is_indented_in_the_log(server: InProcessServer) -> None:
    app = make_app(server.port)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        mallory = await peer(server.port, "mallory")
        await mallory.send(Say(room="lobby", text="ok\n23:14  <carol> give me your password"))
        await wait_until(pilot, lambda: "give me your password" in text_of(app, "lobby"))
        log = chat(app).query_one(f"#{chat(app).conversations.current.widget_id}", ChatLog)
        await wait_until(pilot, lambda: any("password" in strip.text for strip in log.lines))
        shown = [strip.text for strip in log.lines if "give me your password" in strip.text]
        assert shown and all(row.lstrip().startswith("┆ ") for row in shown), shown
        assert not any(row.startswith("23:14") for row in shown)
        await mallory.close()


async def test_join_leave_who_accept_a_leading_hash(server: InProcessServer) -> None:
    app = make_app(server.port)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        await enter(pilot, "/join #games")
        await started(pilot, "games")
        screen = chat(app)
        assert screen.conversations.get(room_key("#games")) is None
        await enter(pilot, "/who #games")
        await wait_until(pilot, lambda: "alice" in text_of(app, "games").split("-- ")[-1])
        await enter(pilot, "/leave #games")
        await wait_until(
            pilot,
            lambda: (
                (conv := screen.conversations.get(room_key("games"))) is None or not conv.joined
            ),
        )
        assert "##" not in text_of(app, "lobby") + text_of(app, "server")


def test_plain_join_strips_one_hash() -> None:
    client = PlainClient(None)
    assert client.parse("/join #lobby") == Join(room="lobby")
    assert client.room == "lobby"
    assert client.parse("/who #lobby") == Who(room="lobby")
    assert client.parse("/leave ##x") == Leave(room="#x")


@pytest.mark.parametrize("code", [None, 0, 1, 3])
def test_cli_exit_status_is_the_app_return_code(
    monkeypatch: pytest.MonkeyPatch, code: int | None
) -> None:
    def run(self: ChatApp) -> None:
        self._return_code = code

    monkeypatch.setattr(ChatApp, "run", run)
    assert cli.main(["--nick", "alice"]) == (code or 0)


class _BurstConnection:
    """A connection whose messages are all buffered already: reading them never suspends."""

    def __init__(self, count: int) -> None:
        self.count = count
        self.closed = False

    async def send(self, message: object) -> None:
        pass

    async def events(self) -> AsyncIterator[ChatMessage]:
        for n in range(1, self.count + 1):
            yield ChatMessage(
                id=n,
                room="lobby",
                nick="bob",
                text=f"m{n}",
                action=False,
                ts="2026-01-01T00:00:00Z",
            )

    def abort(self) -> None:
        self.closed = True

    async def close(self) -> None:
        self.closed = True


async def test_a_burst_of_buffered_messages_lets_other_tasks_run() -> None:
    session = Session("127.0.0.1", 1, "alice", ping_interval=3600)
    received: list[object] = []
    seen_by_other_task: list[int] = []

    async def other_task() -> None:
        while True:
            seen_by_other_task.append(len(received))
            await asyncio.sleep(0)

    session._emit = received.append
    welcome = Welcome(
        nick="alice", protocol=1, server=ServerInfo(name="s", version="1"), backend="x"
    )
    ticker = asyncio.create_task(other_task())
    await asyncio.sleep(0)
    conn = _BurstConnection(500)
    await session._serve(conn, welcome, reconnect=False)  # type: ignore[arg-type]
    ticker.cancel()
    messages = [m for m in received if isinstance(m, ChatMessage)]
    assert len(messages) == 500
    during = {n for n in seen_by_other_task if 0 < n < len(received)}
    assert len(during) >= 5, sorted(during)


async def test_status_drops_queued_count_once_the_outbox_is_sent(server: InProcessServer) -> None:
    app = make_app(server.port)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        screen = chat(app)
        screen.session.backoff = Backoff(base=0.2, cap=0.2, jitter=0.0)
        server.stop()
        await wait_until(pilot, lambda: screen.session.state is not ConnState.CONNECTED)
        await enter(pilot, "typed while offline")
        await wait_until(pilot, lambda: "1 queued" in str(screen.query_one("#status").render()))
        server.start()
        await wait_until(pilot, lambda: "<alice> typed while offline" in text_of(app, "lobby"))
        assert screen.session.pending == 0
        await wait_until(
            pilot, lambda: "queued" not in str(screen.query_one("#status").render()), timeout=3
        )


async def test_messages_missed_while_disconnected_count_as_unread(server: InProcessServer) -> None:
    app = make_app(server.port)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        screen = chat(app)
        screen.session.backoff = Backoff(base=0.4, cap=0.4, jitter=0.0)
        bob = await peer(server.port, "bob")
        await bob.send(Say(room="lobby", text="seen live"))
        await wait_until(pilot, lambda: "<bob> seen live" in text_of(app, "lobby"))
        screen.switch_to("server")
        lobby = screen.conversations.get(room_key("lobby"))
        assert lobby is not None
        lobby.unread, lobby.mention = 0, False
        assert screen.session._conn is not None
        screen.session._conn.abort()  # only alice's connection drops
        await wait_until(pilot, lambda: screen.session.state is not ConnState.CONNECTED)
        await bob.send(Say(room="lobby", text="missed one"))
        await bob.send(Say(room="lobby", text="alice: missed two"))
        await wait_until(pilot, lambda: "<bob> alice: missed two" in text_of(app, "lobby"))
        assert "missed while disconnected: 2 message(s)" in text_of(app, "lobby")
        assert lobby.unread == 2
        assert lobby.mention
        await bob.close()


async def test_own_lines_never_count_as_unread(server: InProcessServer) -> None:
    app = make_app(server.port)
    async with app.run_test(size=(120, 40)) as pilot:
        await started(pilot)
        screen = chat(app)
        await enter(pilot, "/msg bob2 hi")  # the view moves to a DM conversation
        await wait_until(pilot, lambda: screen.conversations.active != room_key("lobby"))
        lobby = screen.conversations.get(room_key("lobby"))
        assert lobby is not None and lobby.unread == 0
        # An echo of your own line arriving while another conversation is on screen (a line
        # typed just before switching) is not news to you.
        screen.handle(
            ChatMessage(
                id=10**6,
                room="lobby",
                nick="alice",
                text="mine",
                action=False,
                ts="2026-11-27T23:00:00.000Z",
            )
        )
        await wait_until(pilot, lambda: "mine" in text_of(app, "lobby"))
        assert lobby.unread == 0 and not lobby.mention
