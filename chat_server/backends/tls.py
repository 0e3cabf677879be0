"""TLS without a TLS socket: `ssl.SSLObject` over memory buffers, for every backend (the
event-loop ones over a plain asyncio transport, the others over the sockets they own).

The backend reads raw bytes from the socket and hands them to `receive`, which returns the
plaintext they completed (the handshake first: until it is done, nothing); it writes what
`send` returns (the plaintext encrypted) and what `outgoing` holds (handshake and other TLS
records) to the socket, in the order they were produced. Nothing here blocks or touches a
socket, so the `SSLWantReadError`/`SSLWantWriteError` dance of non-blocking TLS sockets, and
plaintext buffered inside the TLS layer with no socket readiness, do not arise: `receive`
drains every complete record at once. The thread backends call it under a lock of their own
(an SSLObject is not safe to use from two threads at once).
"""

from __future__ import annotations

import ssl

from chat_server.backends.base import READ_SIZE


class TlsFailed(Exception):
    """The peer is not speaking TLS, or the handshake or a record failed: close it."""


class TlsSession:
    __slots__ = ("_incoming", "_obj", "_outgoing", "established")

    def __init__(self, context: ssl.SSLContext) -> None:
        self._incoming = ssl.MemoryBIO()
        self._outgoing = ssl.MemoryBIO()
        self._obj = context.wrap_bio(self._incoming, self._outgoing, server_side=True)
        self.established = False

    def receive(self, data: bytes) -> bytes:
        """Feed bytes read from the socket; the plaintext they complete (b"" for none yet).
        After a call, `outgoing()` may hold records to write (the handshake's)."""
        if data:
            self._incoming.write(data)
        else:
            self._incoming.write_eof()
        try:
            if not self.established:
                try:
                    self._obj.do_handshake()
                except ssl.SSLWantReadError:
                    return b""
                self.established = True
            chunks = []
            while True:
                try:
                    chunk = self._obj.read(READ_SIZE)
                except ssl.SSLWantReadError:
                    break
                except ssl.SSLZeroReturnError:  # the peer closed TLS cleanly
                    break
                if not chunk:
                    break
                chunks.append(chunk)
            return b"".join(chunks)
        except ssl.SSLError as exc:
            raise TlsFailed(_reason(exc)) from None

    def send(self, plaintext: bytes) -> bytes:
        """`plaintext` encrypted, plus any record produced before it, ready for the socket.
        Before the handshake is done nothing can be said to the peer: plaintext is dropped
        (a refusal or a timeout's error then closes the connection without it)."""
        if plaintext and self.established:
            try:
                self._obj.write(plaintext)
            except ssl.SSLError as exc:
                raise TlsFailed(_reason(exc)) from None
        return self._outgoing.read()

    def outgoing(self) -> bytes:
        """Records produced by `receive` (the handshake, session tickets, alerts)."""
        return self._outgoing.read()

    @property
    def wants_write(self) -> bool:
        """Records wait to be written (`send(b"")` or `outgoing()` takes them, in order)."""
        return self._outgoing.pending > 0

    @property
    def version(self) -> str | None:
        return self._obj.version()


def _reason(exc: ssl.SSLError) -> str:
    reason = getattr(exc, "reason", None) or str(exc)
    if reason in ("HTTP_REQUEST", "WRONG_VERSION_NUMBER", "UNSUPPORTED_PROTOCOL"):
        return f"not a TLS client ({reason.lower()}): is it speaking plain text to the TLS port?"
    return str(reason).lower()


class Certificate:
    """The server's TLS context and the files it was loaded from. `reload()` (on SIGHUP)
    loads them again into the same context: connections made from then on get the new
    certificate, those already open keep theirs."""

    def __init__(self, cert: str, key: str) -> None:
        self.cert = cert
        self.key = key
        self.context = server_context(cert, key)

    def reload(self) -> str | None:
        """None when the files were loaded again, else why not (the old ones stay)."""
        try:
            self.context.load_cert_chain(self.cert, self.key)
        except (OSError, ssl.SSLError) as exc:
            return str(exc)
        return None


def server_context(cert: str, key: str) -> ssl.SSLContext:
    """A server context for `cert` and `key` (PEM): TLS 1.2 at least, 1.3 when the client
    has it. `load_cert_chain` again on it (SIGHUP) changes what new connections get."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert, key)
    return context
