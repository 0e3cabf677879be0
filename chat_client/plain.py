"""Line mode: lines from stdin are said in the current room, events go to stdout one per line.

Meant for scripts and bots as much as for people: `--json` prints each event as its JSON body,
every frame the server sends (moderation frames too) as it came. Otherwise each event is one
line (chat_client/plain_text.py), with the control characters of text that other people
control escaped, so it cannot move the cursor, retitle the terminal or reorder a line.

Line mode does not reconnect by itself: when the server closes, it exits. The one exception is
`/login PASSWORD`: `hello` is once per connection, so it says `quit`, connects again with
`hello.auth` and rejoins its rooms with `since` (nothing is printed twice); if that login is
refused, it connects again as it was before. A stream of lines cannot put older messages above
what it printed: `/history` prints the page as a block, oldest first, without what was printed.

This module is the IO: stdin, the connection, the keepalive. What a line asks for and what
was printed of each room is `PlainClient` (chat_client/plain_client.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import sys
from collections.abc import Callable

from chat_client.address import label
from chat_client.modtext import plain
from chat_client.net import ChatConnection, ConnectionClosed, HelloRejected, connect_error
from chat_client.plain_client import HELP, Login, PlainClient
from chat_client.plain_text import describe
from chat_client.presence_text import away_changed, away_note, whois
from chat_client.text import inert
from chat_client.trust import TlsOptions, TrustError, UntrustedCertificate
from protocol import (
    Away,
    AwayChanged,
    Bye,
    Error,
    Join,
    Members,
    Ping,
    Pong,
    Quit,
    ServerMessage,
    WhoisReply,
    encode_body,
)

PING_INTERVAL = 30.0


async def _stdin_lines() -> asyncio.StreamReader:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    return reader


async def run_plain(
    host: str,
    port: int,
    nick: str,
    room: str | None,
    password: str | None = None,
    as_json: bool = False,
    out: Callable[[str], None] = print,
    *,
    account_password: str | None = None,
    source: asyncio.StreamReader | None = None,
    tls: TlsOptions | None = None,
    unix: str | None = None,
) -> int:
    """Run line mode until stdin (or `source`) ends, /quit, or the server closes.

    With `tls`, over TLS: a certificate that does not verify is refused unless it is pinned
    or `tls.fingerprint` matches (no one to ask). With `unix`, to that Unix socket.
    Returns an exit status: 0, or 1 when the first connection failed or ended in a fatal error.
    """
    client = PlainClient(room)
    inbox: asyncio.Queue[str | None] = asyncio.Queue()

    async def read_lines() -> None:
        lines = source if source is not None else await _stdin_lines()
        while line := (await lines.readline()).decode(errors="replace"):
            await inbox.put(line)
        await inbox.put(None)

    reader = asyncio.ensure_future(read_lines())
    first = True
    fallback: tuple[str | None] | None = None  # the login to go back to if a /login fails
    try:
        while True:
            try:
                conn = await ChatConnection.open(host, port, tls=tls, unix=unix)
            except TrustError as exc:
                out(f"! refused: {exc}")
                if isinstance(exc, UntrustedCertificate):
                    out(
                        "! to trust it, check that fingerprint with the server's operator and "
                        "give it with --tls-fingerprint, or accept it once in the TUI"
                    )
                return 1
            except (OSError, TimeoutError) as exc:
                where = label(host, port, tls=tls is not None, unix=unix)
                out(f"! cannot connect to {where}: {connect_error(exc)}")
                return 1
            try:
                status = await _connection(
                    conn, client, inbox, out, as_json, nick, password, account_password, first
                )
            except _LoginRefused:
                if fallback is None:
                    return 1
                (account_password,), fallback = fallback, None
                continue
            finally:
                await conn.close()
            if isinstance(status, Login):
                fallback = (account_password,)
                account_password = status.password
                nick = client.nick or nick
                first = False
                continue
            return status
    finally:
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reader


def _describe(event: ServerMessage, me: str) -> str:
    """The line (or block) printed for a frame: presence frames here, the rest by `describe`."""
    match event:
        case AwayChanged():
            return f"* {plain(away_changed(event, me))}"
        case WhoisReply():
            return "\n".join(plain(line) for line in whois(event))
        case Members():
            return describe(event, me) + away_note(event)
    return describe(event, me)


def _print_notes(client: PlainClient, out: Callable[[str], None], as_json: bool) -> None:
    """The client's own lines about the last event (none in --json: frames only)."""
    if not as_json:
        for note in client.notes:
            out(note)
    client.notes.clear()


class _LoginRefused(Exception):
    """`hello` was refused (already reported)."""


async def _connection(
    conn: ChatConnection,
    client: PlainClient,
    inbox: asyncio.Queue[str | None],
    out: Callable[[str], None],
    as_json: bool,
    nick: str,
    password: str | None,
    account_password: str | None,
    first: bool,
) -> int | Login:
    """One connection: hello, (re)join, then lines out and events in until it ends.

    Returns the exit status, or the `Login` that asks for a new connection.
    """
    show: Callable[[ServerMessage], str] = (
        (lambda e: encode_body(e).decode()) if as_json else (lambda e: _describe(e, client.nick))
    )
    try:
        welcome = await conn.hello(nick, password, account_password=account_password)
    except HelloRejected as exc:
        client.nick = client.nick or nick
        out(show(exc.error))
        raise _LoginRefused from None
    except (ConnectionClosed, TimeoutError) as exc:
        out(f"! no welcome from server: {inert(str(exc))}")
        raise _LoginRefused from None
    client.nick = welcome.nick
    client.track(welcome)
    out(show(welcome))
    _print_notes(client, out, as_json)
    if first:
        if client.room:
            await conn.send(Join(room=client.room))
    else:
        for join in client.rejoins():
            await conn.send(join)
        if client.away is not None:  # the old connection's away message went with it
            await conn.send(Away(message=client.away))
    login: Login | None = None

    async def read_input() -> None:
        nonlocal login
        while True:
            line = await inbox.get()
            if line is None:
                await conn.send(Quit())
                return
            request = client.parse(line)
            if isinstance(request, Login):
                login = request
                out(f"* logging in as {inert(client.nick)}: connecting again")
                await conn.send(Quit())
                return  # the lines after it wait for the next connection
            if isinstance(request, str):
                out(request)
            elif request is not None:
                await conn.send(request)
                if isinstance(request, Quit):
                    return

    async def keepalive() -> None:
        for n in itertools.count():
            await asyncio.sleep(PING_INTERVAL)
            await conn.send(Ping(token=f"keepalive-{n}"))

    tasks = [asyncio.ensure_future(read_input()), asyncio.ensure_future(keepalive())]
    status = 0
    try:
        async for event in conn.events():
            if isinstance(event, Pong) and event.token.startswith("keepalive-"):
                continue
            if isinstance(event, Bye) and login is not None:
                break  # the goodbye to our own quit before logging in
            shown = client.track(event)
            if as_json:
                out(show(event))  # bots get every frame as the server sent it
            elif shown is not None:
                out(show(shown))
            _print_notes(client, out, as_json)
            if isinstance(event, Error) and event.fatal:
                status = 1
            if isinstance(event, Bye):
                break
    except ConnectionClosed:
        pass
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, ConnectionClosed, OSError):
                await task
    return login if login is not None else status


__all__ = ["HELP", "Login", "PlainClient", "describe", "inert", "run_plain"]
