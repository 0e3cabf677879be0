"""The client's connection to a wirechat server: asyncio streams, frames in and out, no UI."""

from __future__ import annotations

import asyncio
import os
import socket
import ssl
from collections import deque
from collections.abc import AsyncIterator

from pydantic import ValidationError

from chat_client.trust import TlsOptions, open_tls
from protocol import (
    DEFAULT_MAX_FRAME,
    PROTOCOL_VERSION,
    SERVER_MESSAGE,
    Auth,
    ErrorCode,
    FrameDecoder,
    Hello,
    ProtocolError,
    ServerMessage,
    Welcome,
    encode,
)
from protocol.base import WireMessage as _Message
from protocol.messages import Error as ErrorMessage

READ_SIZE = 64 * 1024


def connect_error(exc: OSError) -> str:
    """Why a connection could not be opened, in a few words: `Connection refused`, `Name or
    service not known`, `timed out` (not asyncio's `[Errno 111] Connect call failed (...)`)."""
    if isinstance(exc, TimeoutError):
        return "timed out"
    if isinstance(exc, ssl.SSLError):
        return f"TLS failed: {exc.reason or exc}"
    if isinstance(exc, socket.gaierror) and exc.strerror:
        return exc.strerror
    if isinstance(exc.errno, int) and exc.errno > 0:
        return os.strerror(exc.errno)
    return str(exc) or type(exc).__name__


class ConnectionClosed(Exception):
    """The server closed the connection (or it was lost)."""


class HelloRejected(Exception):
    """The server answered `hello` with an error; `error` is that frame."""

    def __init__(self, error: ErrorMessage) -> None:
        super().__init__(f"{error.code}: {error.message}")
        self.error = error


class ChatConnection:
    """One TCP connection speaking protocol v1: `send()` messages, iterate `events()`.

    Frames the server sends that this version cannot parse are skipped (newer servers may add
    message types); a frame that is too large or a broken stream ends the connection.
    """

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        max_frame: int = 16 * DEFAULT_MAX_FRAME,
    ) -> None:
        self._reader = reader
        self._writer = writer
        self._decoder = FrameDecoder(max_frame)
        self._ready: deque[ServerMessage] = deque()
        self.closed = False

    @classmethod
    async def open(
        cls,
        host: str,
        port: int,
        timeout: float = 10.0,
        *,
        tls: TlsOptions | None = None,
        unix: str | None = None,
    ) -> ChatConnection:
        """Connect over TCP, TLS (`tls`, see chat_client/trust.py) or the Unix socket `unix`.

        Raises OSError / TimeoutError, or TrustError when the server's certificate is not
        trusted (not an OSError: retrying cannot help, the user must decide)."""
        async with asyncio.timeout(timeout):
            if unix is not None:
                reader, writer = await asyncio.open_unix_connection(unix, limit=READ_SIZE)
            elif tls is not None:
                reader, writer = await open_tls(host, port, tls, READ_SIZE)
            else:
                reader, writer = await asyncio.open_connection(host, port, limit=READ_SIZE)
        return cls(reader, writer)

    async def send(self, message: _Message) -> None:
        if self.closed:
            raise ConnectionClosed("connection is closed")
        self._writer.write(encode(message))
        try:
            await self._writer.drain()
        except (ConnectionError, OSError) as exc:
            self.closed = True
            raise ConnectionClosed(str(exc)) from exc

    async def recv(self) -> ServerMessage:
        """The next message from the server; raises ConnectionClosed at the end."""
        while not self._ready:
            if self.closed:
                raise ConnectionClosed("connection is closed")
            try:
                data = await self._reader.read(READ_SIZE)
            except (ConnectionError, OSError) as exc:
                self.closed = True
                raise ConnectionClosed(str(exc)) from exc
            if not data:
                self.closed = True
                raise ConnectionClosed("server closed the connection")
            try:
                bodies = self._decoder.feed(data)
            except ProtocolError as exc:
                self.closed = True
                self._writer.close()
                raise ConnectionClosed(f"bad frame from server: {exc}") from exc
            for body in bodies:
                try:
                    self._ready.append(SERVER_MESSAGE.validate_json(body))
                except ValidationError:
                    continue  # a message type or field this client does not know yet
        return self._ready.popleft()

    async def events(self) -> AsyncIterator[ServerMessage]:
        """Every message until the connection closes."""
        while True:
            try:
                yield await self.recv()
            except ConnectionClosed:
                return

    async def hello(
        self,
        nick: str,
        password: str | None = None,
        timeout: float = 10.0,
        *,
        account_password: str | None = None,
    ) -> Welcome:
        """Register; return `welcome` or raise HelloRejected / ConnectionClosed / TimeoutError.

        `password` is the server's password; `account_password` logs in to the account named
        by `nick` (`hello.auth`).
        """
        try:
            auth = Auth(password=account_password) if account_password is not None else None
            hello = Hello(nick=nick, protocol=PROTOCOL_VERSION, password=password, auth=auth)
        except ValidationError:
            # The error would quote the passwords: say what is wrong without them.
            raise ValueError("nick or password longer than the protocol allows") from None
        await self.send(hello)
        async with asyncio.timeout(timeout):
            while True:
                message = await self.recv()
                if isinstance(message, Welcome):
                    return message
                if isinstance(message, ErrorMessage):
                    raise HelloRejected(message)

    def abort(self) -> None:
        """Drop the connection at once, without flushing (a pending `recv` then ends)."""
        self.closed = True
        self._writer.transport.abort()

    async def close(self) -> None:
        """Close, politely (TLS says close_notify), but abort if that does not finish in 2 s
        or is cancelled: the socket is never left open."""
        self.closed = True
        self._writer.close()
        try:
            await asyncio.wait_for(self._writer.wait_closed(), 2.0)
        except (TimeoutError, ConnectionError, OSError):
            self._writer.transport.abort()
        except asyncio.CancelledError:
            self._writer.transport.abort()
            raise


__all__ = ["ChatConnection", "ConnectionClosed", "ErrorCode", "HelloRejected", "connect_error"]
