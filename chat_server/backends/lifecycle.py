"""What every backend does the same way: output buffers, resets, accepting, timers, limits.

- `OutputBuffer`: a connection's bytes the kernel has not taken yet, written with non-blocking
  sends. The rule that goes with it: after every write (and every drain) the backend reports
  what is still unsent with `hub.check_backlog(conn, unsent)`; the core's output caps see the
  kernel only through that.
- `reset(sock)`: how a cut connection is closed on every backend: SO_LINGER 0, so close()
  discards the kernel's send buffer and sends RST instead of draining megabytes to a peer
  that is not reading.
- `Acceptor`: accepts with a reserve descriptor, so at the descriptor limit a newcomer still
  gets a fatal `server_full` frame instead of hanging, and the log gets one line a second.
- `Lingering`: sockets the core closed with bytes still unsent get CLOSE_LINGER seconds to
  drain, then are cut; `shutdown_deadline()` is how long a graceful stop waits for everyone.
- `raise_nofile_limit()`: the soft RLIMIT_NOFILE raised to the hard limit at start.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import socket
import struct
import time
from collections.abc import Hashable, Iterator
from typing import Generic, TypeVar

from chat_server.core.ratelog import RateLimitedLog
from protocol import ErrorCode, encode
from protocol.messages import Error

log = logging.getLogger("chat_server")

#: How long a closing connection may take to flush its last frames before it is cut.
CLOSE_LINGER = 2.0
#: How long a graceful shutdown waits for every client to take its `bye` and go.
SHUTDOWN_GRACE = CLOSE_LINGER + 0.5

_LINGER_RESET = struct.pack("ii", 1, 0)  # SO_LINGER on, 0 s: close() sends a reset
#: Descriptors kept free for listeners, selectors, wake-up sockets, logs and the reserve.
RESERVED_FDS = 64
OUT_OF_DESCRIPTORS = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})
SERVER_FULL_FRAME = encode(
    Error(code=ErrorCode.SERVER_FULL.value, message="server is full", fatal=True)
)


def peer_of(addr: object) -> tuple[str, str | None]:
    """A log label and the source IP (None for a local socket) of an accepted address."""
    if isinstance(addr, tuple) and len(addr) >= 2:
        return f"{addr[0]}:{addr[1]}", str(addr[0])
    return str(addr) or "local", None


def reset(sock: socket.socket) -> None:
    """Make the next close() of `sock` a reset (see the module docstring)."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RESET)


def discard_input(sock: socket.socket | int, most: int = 256 * 1024) -> None:
    """Read and drop what the peer sent that the core will never look at, before a polite
    close: closing a socket with unread input sends a reset, and a reset can destroy the last
    frame (a fatal error, `bye`) before the peer has read it. Takes at most `most` bytes."""
    while most > 0:
        try:
            if isinstance(sock, int):
                data = os.read(sock, min(most, 65536))
            else:
                data = sock.recv(min(most, 65536), socket.MSG_DONTWAIT)
        except OSError:  # nothing more now (EAGAIN), or the socket is already gone
            return
        if not data:
            return
        most -= len(data)


class OutputBuffer:
    """Bytes accepted from the core for one socket and not yet taken by the kernel."""

    __slots__ = ("data",)

    def __init__(self) -> None:
        self.data = bytearray()

    def __len__(self) -> int:
        return len(self.data)

    def write(self, sock: socket.socket, chunk: bytes = b"") -> None:
        """Send what is buffered plus `chunk` as far as the kernel takes it now; keep the rest.

        Raises OSError when the socket is broken (the caller treats the peer as gone)."""
        data = self.data
        if data:
            if chunk:
                data += chunk
            sent = _send(sock, data)
            del data[:sent]
        elif chunk:
            sent = _send(sock, chunk)
            if sent < len(chunk):
                data += memoryview(chunk)[sent:]

    def clear(self) -> None:
        self.data.clear()


def _send(sock: socket.socket, data: bytes | bytearray) -> int:
    try:
        return sock.send(data, socket.MSG_DONTWAIT)
    except (BlockingIOError, InterruptedError):
        return 0


T = TypeVar("T", bound=Hashable)


class Lingering(Generic[T]):
    """Closing sockets with unsent bytes, each with the moment it gets cut."""

    def __init__(self) -> None:
        self._deadlines: dict[T, float] = {}

    def __bool__(self) -> bool:
        return bool(self._deadlines)

    def start(self, item: T) -> None:
        """`item` is closing with data left: it has CLOSE_LINGER seconds from now (once)."""
        self._deadlines.setdefault(item, time.monotonic() + CLOSE_LINGER)

    def discard(self, item: T) -> None:
        self._deadlines.pop(item, None)

    def wait(self) -> float | None:
        """Seconds until the next cut is due (None: no one is lingering)."""
        if not self._deadlines:
            return None
        return max(0.0, min(self._deadlines.values()) - time.monotonic())

    def expired(self) -> list[T]:
        """Those whose time is up (the caller cuts them, which discards them)."""
        now = time.monotonic()
        return [item for item, due in self._deadlines.items() if due <= now]


def shutdown_deadline() -> float:
    """The monotonic time by which a graceful shutdown cuts whoever is still connected."""
    return time.monotonic() + SHUTDOWN_GRACE


class Acceptor:
    """Accepts on a non-blocking listener, holding one reserve descriptor for refusals."""

    def __init__(self, listener: socket.socket, batch: int = 64) -> None:
        self.listener = listener
        self.batch = batch  # accepts per call, so a connection storm cannot starve the others
        self._reserve: int | None = _open_reserve()
        self._log = RateLimitedLog(log)

    def accept(self) -> Iterator[tuple[socket.socket, object]]:
        for _ in range(self.batch):
            try:
                sock, addr = self.listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                if exc.errno in OUT_OF_DESCRIPTORS:
                    self.refuse_one(exc)
                else:
                    self._log.warning("accept failed: %s", exc)
                return
            yield sock, addr

    def refuse_one(self, exc: OSError) -> bool:
        """Out of descriptors: free the reserve, accept the newcomer, say `server_full`,
        close it, and take the reserve back. False if there was no one to refuse."""
        self._log.warning("out of descriptors (%s): refusing newcomers with server_full", exc)
        if self._reserve is None:
            self._reserve = _open_reserve()
            return False
        os.close(self._reserve)
        self._reserve = None
        try:
            sock, _ = self.listener.accept()
        except OSError:
            return False
        else:
            with contextlib.suppress(OSError):
                sock.send(SERVER_FULL_FRAME, socket.MSG_DONTWAIT)
            discard_input(sock)
            sock.close()
            return True
        finally:
            self._reserve = _open_reserve()

    def refuse_pending(self, exc: OSError, most: int = 1024) -> None:
        """Out of descriptors with newcomers waiting: refuse each, up to `most`."""
        for _ in range(most):
            if not self.refuse_one(exc):
                return

    def close(self) -> None:
        if self._reserve is not None:
            os.close(self._reserve)
            self._reserve = None


def _open_reserve() -> int | None:
    try:
        return os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None


def raise_nofile_limit() -> int:
    """Raise the soft limit on open descriptors to the hard limit; return the new soft limit."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft < hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
    elif hard == resource.RLIM_INFINITY and soft != resource.RLIM_INFINITY:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (1 << 20, hard))
            soft = 1 << 20
    return soft


def clients_allowed(nofile: int, per_client: int = 1) -> int:
    """How many clients fit under a descriptor limit, keeping RESERVED_FDS free."""
    return max(1, (nofile - RESERVED_FDS) // per_client)
