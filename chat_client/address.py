"""Server addresses as the user writes them: `HOST`, `tcp://HOST:PORT`, `tls://HOST[:PORT]`,
`unix:///PATH`; and how the client names them back (`label`)."""

from __future__ import annotations

from dataclasses import dataclass

#: Where `--unix` connects when no path is given (the path docs/operations.md suggests).
DEFAULT_UNIX_PATH = "/run/wirechat/wirechat.sock"
SCHEMES = ("tcp", "tls", "unix")


@dataclass(frozen=True, slots=True)
class Address:
    host: str = ""
    port: int | None = None  # None: the one given apart (--port, the form's port field)
    tls: bool = False
    unix: str | None = None  # a Unix socket's path


def _port(text: str, whole: str) -> int:
    try:
        port = int(text)
    except ValueError:
        port = 0
    if not 0 < port < 65536:
        raise ValueError(f"port must be a number from 1 to 65535: {whole!r}")
    return port


def parse_address(text: str) -> Address:
    """`text` as an Address; ValueError (saying why) for an unknown scheme or a bad port.

    Without a scheme `text` is a bare host name or address (`::1` too), without a port."""
    text = text.strip()
    scheme, sep, rest = text.partition("://")
    if not sep:
        return Address(host=text)
    scheme = scheme.lower()
    if scheme not in SCHEMES:
        raise ValueError(f"unknown address scheme {scheme!r} (tcp://, tls:// or unix://)")
    if scheme == "unix":
        if not rest:
            raise ValueError("unix:// needs a path, as in unix:///run/wirechat/wirechat.sock")
        return Address(unix=rest)
    host, port = rest, None
    if rest.startswith("["):
        inside, bracket, after = rest[1:].partition("]")
        if not bracket or (after and not after.startswith(":")):
            raise ValueError(f"bad address: {text!r}")
        host = inside
        if after:
            port = _port(after[1:], text)
    elif rest.count(":") == 1:
        host, _, port_text = rest.partition(":")
        port = _port(port_text, text)
    if not host:
        raise ValueError(f"no host in {text!r}")
    return Address(host=host, port=port, tls=scheme == "tls")


def label(host: str, port: int, *, tls: bool = False, unix: str | None = None) -> str:
    """How messages name a server: `HOST:PORT`, `tls://HOST:PORT` or `unix://PATH`."""
    if unix is not None:
        return f"unix://{unix}"
    where = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    return f"tls://{where}" if tls else where


__all__ = ["DEFAULT_UNIX_PATH", "Address", "label", "parse_address"]
