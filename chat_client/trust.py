"""TLS for the client: verify against the CAs, or trust a self-signed server on first use.

No UI here; both clients use it. `open_tls` first tries a verifying handshake (the system's
CAs, or `TlsOptions.ca_file`): a certificate that verifies needs no pin. When verification
fails, it connects again without verifying, only to read the server's certificate, and goes
on only if that certificate's SHA-256 fingerprint is the one given (`--tls-fingerprint`) or
the one pinned for `HOST:PORT` in the `known_servers` file. Otherwise it raises:

- `UntrustedCertificate`: nothing pinned for this server. A UI may show the fingerprint, ask,
  and `KnownServers.pin` it; the next connection then goes through.
- `FingerprintChanged`: a different fingerprint is pinned. Never accepted here: the message
  names the file and the line to remove if the change is expected.

The `known_servers` file (`platformdirs.user_config_dir("wirechat")/known_servers`) holds one
server a line, `HOST:PORT SHA256-FINGERPRINT` (`[ADDRESS]:PORT` for IPv6), with `#` comments,
as SSH's `known_hosts` does.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import ssl
from dataclasses import dataclass
from pathlib import Path

import platformdirs

FILE_NAME = "known_servers"
_HEX = re.compile(r"[0-9A-F]{64}")


def default_known_servers() -> Path:
    """`known_servers` in the user's config directory (read at each call: honours
    `$XDG_CONFIG_HOME`)."""
    return Path(platformdirs.user_config_dir("wirechat")) / FILE_NAME


def fingerprint(der: bytes) -> str:
    """The SHA-256 fingerprint of a DER certificate as `AB:CD:...` (what the server logs)."""
    digest = hashlib.sha256(der).hexdigest().upper()
    return ":".join(digest[i : i + 2] for i in range(0, len(digest), 2))


def normalize_fingerprint(text: str) -> str:
    """`text` as `AB:CD:...`: any case, colons optional; ValueError if it is not SHA-256."""
    digest = text.strip().replace(":", "").upper()
    if not _HEX.fullmatch(digest):
        raise ValueError(
            f"not a SHA-256 fingerprint (64 hex digits, colons optional): {text.strip()!r}"
        )
    return ":".join(digest[i : i + 2] for i in range(0, len(digest), 2))


def server_key(host: str, port: int) -> str:
    """How `known_servers` names a server: `HOST:PORT`, `[ADDRESS]:PORT` for IPv6."""
    host = host.lower()
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


@dataclass(frozen=True, slots=True)
class Pin:
    fingerprint: str
    line: int  # 1-based line number in the file


class KnownServers:
    """The `known_servers` file: read at each lookup, appended to by `pin`."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path if path is not None else default_known_servers()

    def lookup(self, host: str, port: int) -> Pin | None:
        """The first pin for `host:port`, or None (also when the file does not exist).
        Lines that do not parse are skipped."""
        key = server_key(host, port)
        try:
            lines = self.path.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            return None
        for number, line in enumerate(lines, 1):
            fields = line.split("#", 1)[0].split()
            if len(fields) != 2 or fields[0].lower() != key:
                continue
            try:
                return Pin(normalize_fingerprint(fields[1]), number)
            except ValueError:
                continue
        return None

    def pin(self, host: str, port: int, fp: str) -> None:
        """Append `HOST:PORT FINGERPRINT`, making the directory and file if need be."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        new = not self.path.exists()
        with self.path.open("a", encoding="utf-8") as file:
            if new:
                file.write("# wirechat servers trusted on first use: HOST:PORT SHA256\n")
            file.write(f"{server_key(host, port)} {normalize_fingerprint(fp)}\n")


@dataclass(frozen=True, slots=True)
class TlsOptions:
    """How to trust a TLS server: `ca_file` instead of the system's CAs; `fingerprint` to
    accept a certificate that does not verify; `known_servers` instead of the default file."""

    ca_file: str | None = None
    fingerprint: str | None = None
    known_servers: Path | None = None

    def known(self) -> KnownServers:
        return KnownServers(self.known_servers)


class TrustError(Exception):
    """The server's certificate is not trusted; `str()` says why, for the user."""

    def __init__(self, message: str, host: str, port: int, fingerprint: str) -> None:
        super().__init__(message)
        self.host, self.port, self.fingerprint = host, port, fingerprint


class UntrustedCertificate(TrustError):
    """The certificate does not verify and nothing is pinned for the server: ask the user."""


class FingerprintChanged(TrustError):
    """A different fingerprint is pinned for the server: refused, never asked."""

    def __init__(self, host: str, port: int, fingerprint: str, path: Path, pin: Pin) -> None:
        super().__init__(
            f"WARNING: the certificate of {server_key(host, port)} has CHANGED: its SHA-256 "
            f"fingerprint is {fingerprint}, but {pin.fingerprint} is pinned in {path} "
            f"(line {pin.line}). Someone may be intercepting the connection. If the change is "
            f"expected, remove line {pin.line} of {path} and connect again.",
            host,
            port,
            fingerprint,
        )
        self.path, self.pin = path, pin


def _verifying_context(ca_file: str | None) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=ca_file)


def _reading_context() -> ssl.SSLContext:
    """Only to read the certificate: it is checked by its fingerprint afterwards."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def check_fingerprint(host: str, port: int, fp: str, options: TlsOptions) -> None:
    """Return if `fp` is given in `options` or pinned for the server; raise TrustError if
    not."""
    if options.fingerprint is not None and normalize_fingerprint(options.fingerprint) == fp:
        return
    known = options.known()
    pin = known.lookup(host, port)
    if pin is not None and pin.fingerprint == fp:
        return
    if pin is not None:
        raise FingerprintChanged(host, port, fp, known.path, pin)
    given = ""
    if options.fingerprint is not None:
        given = f", not the {normalize_fingerprint(options.fingerprint)} given"
    raise UntrustedCertificate(
        f"the certificate of {server_key(host, port)} does not verify and is not pinned in "
        f"{known.path}: its SHA-256 fingerprint is {fp}{given}",
        host,
        port,
        fp,
    )


async def open_tls(
    host: str, port: int, options: TlsOptions, limit: int
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A TLS connection to a server that verifies, or whose fingerprint is given or pinned.

    Raises TrustError (see the module's docstring), or OSError when it cannot connect. The
    caller bounds the time."""
    try:
        return await asyncio.open_connection(
            host, port, ssl=_verifying_context(options.ca_file), limit=limit
        )
    except ssl.SSLCertVerificationError:
        pass
    reader, writer = await asyncio.open_connection(host, port, ssl=_reading_context(), limit=limit)
    try:
        ssl_object = writer.get_extra_info("ssl_object")
        der = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
        if not der:
            raise ssl.SSLError("the server sent no certificate")
        check_fingerprint(host, port, fingerprint(der), options)
    except BaseException:
        writer.transport.abort()
        raise
    return reader, writer


__all__ = [
    "FingerprintChanged",
    "KnownServers",
    "Pin",
    "TlsOptions",
    "TrustError",
    "UntrustedCertificate",
    "check_fingerprint",
    "default_known_servers",
    "fingerprint",
    "normalize_fingerprint",
    "open_tls",
    "server_key",
]
