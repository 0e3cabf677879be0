"""Where the server listens (`--listen URL`): `tcp://HOST:PORT`, `tls://HOST:PORT` and
`unix:///PATH`, parsed, then opened as bound listening sockets that the backends serve.

A Unix socket's peers are identified by the kernel: `peer_user` reads the connecting
process's uid (SO_PEERCRED) and gives its login name, the connection's verified identity.
"""

from __future__ import annotations

import contextlib
import grp
import os
import pwd
import socket
import stat
import struct
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

Kind = Literal["tcp", "tls", "unix"]
KINDS: tuple[Kind, ...] = ("tcp", "tls", "unix")
DEFAULT_LISTEN = "tcp://127.0.0.1:8089"
#: Where `chat-client --unix` looks when given no path (and the example in docs).
DEFAULT_UNIX_PATH = "/run/wirechat/wirechat.sock"


class ListenError(ValueError):
    """A `--listen` value that cannot be served; the message says why."""


@dataclass(frozen=True, slots=True)
class ListenerSpec:
    kind: Kind
    host: str = ""
    port: int = 0
    path: str = ""

    @property
    def url(self) -> str:
        if self.kind == "unix":
            return f"unix://{self.path}"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.kind}://{host}:{self.port}"


def parse_listen(text: str) -> ListenerSpec:
    """`tcp://127.0.0.1:8089`, `tls://[::]:8443`, `unix:///run/wirechat/wirechat.sock`."""
    parts = urlsplit(text)
    kind = parts.scheme.lower()
    if kind not in KINDS:
        raise ListenError(f"{text!r}: use tcp://HOST:PORT, tls://HOST:PORT or unix:///PATH")
    if kind == "unix":
        path = parts.path
        if parts.netloc or not path.startswith("/"):
            raise ListenError(f"{text!r}: a Unix socket is unix:///ABSOLUTE/PATH")
        return ListenerSpec("unix", path=path)
    try:
        port = parts.port
    except ValueError:
        raise ListenError(f"{text!r}: the port must be a number from 0 to 65535") from None
    if parts.hostname is None or port is None or parts.path not in ("", "/"):
        raise ListenError(f"{text!r}: use {kind}://HOST:PORT")
    return ListenerSpec(kind, host=parts.hostname, port=port)


@dataclass(slots=True)
class Listener:
    """An open listening socket and what it serves; `url` names the port actually bound."""

    spec: ListenerSpec
    sock: socket.socket

    @property
    def kind(self) -> Kind:
        return self.spec.kind

    @property
    def url(self) -> str:
        if self.spec.kind == "unix":
            return self.spec.url
        host, port = self.sock.getsockname()[:2]
        shown = f"[{host}]" if ":" in host else host
        return f"{self.spec.kind}://{shown}:{port}"

    def close(self) -> None:
        self.sock.close()
        if self.spec.kind == "unix":
            with contextlib.suppress(OSError):
                os.unlink(self.spec.path)


def open_listener(
    spec: ListenerSpec, backlog: int = 1024, mode: int = 0o660, group: str | None = None
) -> Listener:
    """Bind and listen. A Unix socket left behind by a server that is gone is replaced; one
    that a running server answers on is not (OSError)."""
    if spec.kind != "unix":
        return Listener(spec, socket.create_server((spec.host, spec.port), backlog=backlog))
    path = spec.path
    _remove_stale(path)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.bind(path)
        os.chmod(path, mode)
        if group is not None:
            os.chown(path, -1, grp.getgrnam(group).gr_gid)
        sock.listen(backlog)
    except BaseException:
        sock.close()
        raise
    return Listener(spec, sock)


def _remove_stale(path: str) -> None:
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(info.st_mode):
        raise OSError(f"{path} exists and is not a socket")
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.settimeout(1.0)
        probe.connect(path)
    except OSError:
        os.unlink(path)  # no one listens on it: left by a server that is gone
        return
    finally:
        probe.close()
    raise OSError(f"{path} is in use by a running server")


def peer_user(sock: socket.socket) -> str | None:
    """The login name of the process at the other end of a Unix socket (SO_PEERCRED), or
    None when the kernel does not say or the uid has no name."""
    try:
        creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    except (OSError, AttributeError):
        return None
    _pid, uid, _gid = struct.unpack("3i", creds)
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return None
