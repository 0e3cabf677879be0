"""Line mode and moderation: the same commands, inert lines, and --json passing frames through."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from chat_client.plain import HELP, PlainClient, describe, run_plain
from protocol import (
    Ban,
    BanEntry,
    BanList,
    ClientMessage,
    Error,
    Invited,
    Join,
    Joined,
    Kick,
    Kicked,
    Members,
    Mode,
    ModeChanged,
    Modes,
    ModLog,
    ModLogEntry,
    Mute,
    Notice,
    RoleChanged,
    Say,
    Wall,
    encode_body,
)
from protocol.base import WireMessage
from tests.client.fakeserver import TS, FakeConn, FakeServer, usual

HOSTILE = "[b]x[/b] [link=https://evil.example]y[/link] \x1b[2J\u202e"
SHOWN = "[b]x[/b] [link=https://evil.example]y[/link] \\x1b[2J\\u202e"

FRAMES: list[WireMessage] = [
    RoleChanged(room="lobby", nick="alice", role="op", muted=False, by="server", ts=TS),
    Modes(
        room="lobby",
        key=True,
        invite_only=False,
        moderated=True,
        topic_lock=False,
        secret=False,
        limit=0,
    ),
    ModeChanged(room="lobby", by="bob", ts=TS, moderated=False),
    BanList(room="lobby", bans=[BanEntry(mask="nick:eve", by="bob", reason=HOSTILE, ts=TS)]),
    Invited(room="dev", by="bob"),
    ModLog(room="lobby", entries=[ModLogEntry(ts=TS, by="bob", action="kick", target="eve")]),
    Notice(text=HOSTILE, sender="root", ts=TS),
    Kicked(room="lobby", nick="carol", by="bob", reason=HOSTILE, ts=TS),
]


def test_the_commands_parse_as_in_the_terminal_client() -> None:
    client = PlainClient("lobby")
    assert client.parse("/kick bob spam") == Kick(room="lobby", nick="bob", reason="spam")
    assert client.parse("/ban bob 1d") == Ban(room="lobby", mask="nick:bob", duration=86400)
    assert client.parse("/mute bob") == Mute(room="lobby", nick="bob")
    assert client.parse("/mode +m limit 5") == Mode(room="lobby", moderated=True, limit=5)
    assert client.parse("/key s3") == Mode(room="lobby", key="s3")
    assert client.parse("/wall hi all") == Wall(text="hi all")
    assert client.parse("/join vault sesame") == Join(room="vault", key="sesame")
    assert client.room == "vault"
    assert client.parse("/mode +x") == "! not sent: unknown mode letter x (i, m, t, s, l, k)"
    assert "acts on the current room" in str(PlainClient(None).parse("/op bob"))
    assert str(client.parse("/join a b c")).startswith("! not sent: a room name has no spaces")
    assert "/ban MASK [DURATION] [REASON]" in HELP and "DURATION: 30s" in HELP


def test_moderation_frames_print_inert_lines() -> None:
    printed = [describe(frame, "alice") for frame in FRAMES]  # type: ignore[arg-type]
    assert printed[0] == "[lobby] alice is an op"
    assert printed[1] == "modes of #lobby: moderated, key"
    assert printed[2] == "[lobby] bob set the modes: moderated off"
    assert printed[3].startswith("bans of #lobby: 1\n  nick:eve by bob, since 2026-01-01 ")
    assert printed[3].endswith(f", until lifted ({SHOWN})")
    assert printed[4] == "bob invited you to #dev: /join it to accept"
    assert printed[5].startswith("moderation log of #lobby: 1 action(s), newest first\n  2026")
    assert printed[6].endswith(f" -! wall from root: {SHOWN}")
    assert printed[7] == f"[lobby] carol was kicked by bob ({SHOWN})"
    for line in printed:
        assert "\x1b" not in line and "\u202e" not in line
    muted = RoleChanged(room="lobby", nick="dave", role="member", muted=True, by="bob", ts=TS)
    assert describe(muted) == "[lobby] dave is a member, muted (by bob)"
    members = Members(room="lobby", nicks=["alice", "bob"], roles={"bob": "owner"}, muted=["alice"])
    assert describe(members) == "[lobby] members: alice (muted), ~bob"
    killed = describe(Error(code="killed", message="by root", fatal=True), "alice")
    assert killed == "! error killed: a server admin disconnected you (server: by root)"


def test_kicked_yourself_forgets_the_room() -> None:
    client = PlainClient(None)
    client.nick = "alice"
    client.parse("/join lobby sesame")
    client.track(Joined(room="lobby", nick="alice", ts=TS))
    assert client.rooms["lobby"].key == "sesame"
    client.track(Kicked(room="lobby", nick="Alice", by="bob", ts=TS))
    assert "lobby" not in client.rooms
    printed = describe(Kicked(room="lobby", nick="alice", by="bob", ts=TS), "alice")
    assert printed.startswith("[lobby] you were kicked from #lobby by bob; ")


# ------------------------------------------------------------------ against a server


@pytest.fixture
async def fake() -> AsyncIterator[FakeServer]:
    def answer(conn: FakeConn, message: ClientMessage) -> list[WireMessage] | None:
        if isinstance(message, Join):
            return [*(usual(conn, message) or []), *FRAMES]
        if isinstance(message, Say) and message.text == "kill me":
            return [Error(code="killed", message="killed by root", fatal=True)]
        return None

    server = await FakeServer(answer).start()
    yield server
    await server.stop()


async def run(fake: FakeServer, text: str, **kwargs: Any) -> tuple[int, list[str]]:
    out: list[str] = []
    source = asyncio.StreamReader()
    source.feed_data(text.encode())

    async def feed_eof_later() -> None:
        await asyncio.sleep(0.3)
        source.feed_eof()

    eof = asyncio.ensure_future(feed_eof_later())
    async with asyncio.timeout(10):
        status = await run_plain(
            fake.host, fake.port, "alice", "lobby", out=out.append, source=source, **kwargs
        )
    eof.cancel()
    return status, out


async def test_json_passes_moderation_frames_through_unchanged(fake: FakeServer) -> None:
    status, out = await run(fake, "", as_json=True)
    assert status == 0
    bodies = [encode_body(frame).decode() for frame in FRAMES]
    start = out.index(bodies[0])
    assert out[start : start + len(FRAMES)] == bodies
    assert json.loads(out[start + 3])["bans"][0]["reason"] == HOSTILE  # as sent, not escaped


async def test_killed_ends_line_mode_with_status_1(fake: FakeServer) -> None:
    status, out = await run(fake, "kill me\n")
    assert status == 1
    assert out[-1] == "! error killed: a server admin disconnected you (server: killed by root)"
    assert len(fake.conns) == 1  # line mode never reconnects
