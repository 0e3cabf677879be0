"""The --plain line mode: command parsing, inert output, and two real clients chatting."""

from __future__ import annotations

import asyncio
import json
import re
import sys

import pytest

from chat_client.plain import PlainClient, describe, inert
from protocol import ChangeNick, ChatMessage, Error, Join, Leave, Quit, Say, SendDm, SetTopic, Who
from tests.client.inprocess import InProcessServer
from tests.helpers import WireClient


def test_lines_and_commands() -> None:
    client = PlainClient("lobby")
    assert client.parse("hello\n") == Say(room="lobby", text="hello")
    assert client.parse("//etc/passwd is a path") == Say(room="lobby", text="/etc/passwd is a path")
    assert client.parse("/me waves") == Say(room="lobby", text="waves", action=True)
    assert client.parse("/msg bob hi there") == SendDm(to="bob", text="hi there")
    assert client.parse("/nick zed") == ChangeNick(nick="zed")
    assert client.parse("/who") == Who(room="lobby")
    assert client.parse("/topic new plans") == SetTopic(room="lobby", topic="new plans")
    assert client.parse("/join dev") == Join(room="dev")
    assert client.room == "dev"
    assert client.parse("/leave") == Leave(room="dev")
    assert client.parse("/quit gone") == Quit(reason="gone")
    assert client.parse("   ") is None
    assert "unknown command" in str(client.parse("/frobnicate"))
    assert "unknown command" in str(client.parse("/msg bob"))
    assert "you are in no room now; /join ROOM first" in str(PlainClient(None).parse("hi"))


def test_hostile_text_is_printed_inert() -> None:
    line = describe(
        ChatMessage(
            id=1,
            room="r\x1b[2J",
            nick="m\u202eallory",
            text="\x1b]0;owned\x07 \x9b31m [bold]x[/]",
            action=False,
            ts="2026-11-27T21:00:00.000Z",
        )
    )
    assert "\x1b" not in line and "\x9b" not in line and "\u202e" not in line and "\x07" not in line
    assert "\\x1b]0;owned\\x07" in line and "[bold]x[/]" in line
    assert inert("tab\tnew\nline") == "tab\\x09new\\x0aline"


def test_server_fields_around_the_text_are_printed_inert_too() -> None:
    said = describe(
        ChatMessage(id=1, room="r", nick="n", text="t", action=False, ts="\x1b]0;x\x07")
    )
    error = describe(Error(code="e\x1b[2J", message="m"))
    for line in (said, error):
        assert "\x1b" not in line and "\x07" not in line
    assert said.startswith("\\x1b]0;x\\x07 [r] <n> t")
    assert error == "! error e\\x1b[2J: m"


async def _start_plain(server: InProcessServer, *args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "chat_client",
        "--plain",
        "--port",
        str(server.port),
        *args,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def _finish(proc: asyncio.subprocess.Process, stdin: bytes, timeout: float = 15):
    try:
        out, err = await asyncio.wait_for(proc.communicate(stdin), timeout)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    return proc.returncode, out.decode(), err.decode()


async def _run_plain(server: InProcessServer, *args: str, stdin: bytes):
    return await _finish(await _start_plain(server, *args), stdin)


@pytest.fixture(scope="module")
def plain_server():
    server = InProcessServer("asyncio").start()
    yield server
    server.stop()


async def test_two_plain_clients_chat(plain_server: InProcessServer) -> None:
    watcher = await WireClient.connect(plain_server)
    await watcher.hello("watcher")
    await watcher.join("plainroom")
    # bob's client stays until its stdin closes; alice talks meanwhile.
    bob = await _start_plain(plain_server, "--nick", "bob", "--room", "plainroom")
    await watcher.expect("joined", nick="bob")
    rc, out, _ = await _run_plain(
        plain_server,
        "--nick",
        "alice",
        "--room",
        "plainroom",
        stdin=b"hello bob\n/me waves\n/msg bob psst\n/who\n/topic plans\n/quit done\n",
    )
    assert rc == 0
    assert "<alice> hello bob" in out and "* alice waves" in out
    assert "<alice -> bob> psst" in out
    # The room's creator is its op on a server with moderation: `@watcher`.
    assert re.search(r"members: @?watcher, bob, alice", out), out
    assert "topic by alice: plans" in out and "server says bye" in out
    assert (await watcher.expect("message"))["text"] == "hello bob"
    assert (await watcher.expect("left", nick="alice"))["reason"] == "done"
    rc, out, _ = await _finish(bob, b"")
    assert rc == 0 and "connected as bob" in out
    assert "<alice -> bob> psst" in out and "<alice> hello bob" in out
    await watcher.close()


async def test_json_mode_prints_server_json(plain_server: InProcessServer) -> None:
    rc, out, _ = await _run_plain(
        plain_server, "--nick", "jsonbot", "--room", "bots", "--json", stdin=b"beep\n"
    )
    assert rc == 0
    events = [json.loads(line) for line in out.splitlines()]
    assert events[0]["type"] == "welcome"
    assert any(e["type"] == "message" and e["text"] == "beep" for e in events)
    assert events[-1]["type"] == "bye"


async def test_nick_taken_exits_non_zero(plain_server: InProcessServer) -> None:
    holder = await WireClient.connect(plain_server)
    await holder.hello("holder")
    rc, out, _ = await _run_plain(plain_server, "--nick", "HOLDER", stdin=b"")
    assert rc == 1 and "nick_taken" in out
    await holder.close()


async def test_unreachable_server() -> None:
    dead = InProcessServer("asyncio")
    dead.port = 1  # nothing listens there
    rc, out, _ = await _run_plain(dead, "--nick", "x", stdin=b"")
    assert rc == 1 and "cannot connect" in out
