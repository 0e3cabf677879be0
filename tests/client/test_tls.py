"""TLS, trust on first use and the Unix socket, against a real server with a trustme
certificate (its CA is not the system's: without --tls-ca it is a certificate that does not
verify, as a self-signed one) and a Unix socket listener."""

from __future__ import annotations

import asyncio
import pathlib
import re
import shutil
import ssl
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import trustme
from textual.widgets import Input, Static

from chat_client.address import Address, parse_address
from chat_client.app import ChatApp
from chat_client.cli import build_parser, where
from chat_client.login_name import local_nick
from chat_client.net import ChatConnection
from chat_client.plain import run_plain
from chat_client.screens.chat import ChatScreen
from chat_client.screens.trust import TrustScreen
from chat_client.trust import (
    FingerprintChanged,
    KnownServers,
    TlsOptions,
    UntrustedCertificate,
    fingerprint,
    normalize_fingerprint,
)
from tests.client.apptest import chat, form_shown, started, wait_until
from tests.helpers import WAIT, ServerProcess

_SERVING = re.compile(r"INFO serving (\w+://.+)")


@dataclass
class Served:
    host: str
    port: int  # the TLS listener's
    unix: str
    ca: str  # the CA's certificate (PEM)
    fingerprint: str  # the server certificate's
    cert: str  # its PEM file (the certificate alone)
    tcp_port: int  # the plain TCP listener's


@pytest.fixture(scope="module")
def served() -> Iterator[Served]:
    ca = trustme.CA()
    issued = ca.issue_cert("127.0.0.1", "localhost")
    directory = pathlib.Path(tempfile.mkdtemp(prefix="wc-tls-"))  # short: a socket path
    cert, key, ca_pem = directory / "cert.pem", directory / "key.pem", directory / "ca.pem"
    issued.private_key_and_cert_chain_pem.write_to_path(str(cert))
    issued.private_key_pem.write_to_path(str(key))
    ca.cert_pem.write_to_path(str(ca_pem))
    leaf = directory / "leaf.pem"  # the server's certificate alone
    issued.cert_chain_pems[0].write_to_path(str(leaf))
    der = ssl.PEM_cert_to_DER_cert(leaf.read_text())
    sock = str(directory / "chat.sock")
    server = ServerProcess(
        "asyncio",
        "--listen", "tcp://127.0.0.1:0",
        "--listen", "tls://127.0.0.1:0",
        "--listen", f"unix://{sock}",
        "--tls-cert", str(cert),
        "--tls-key", str(key),
    ).start()  # fmt: skip
    try:
        assert asyncio.run(server.logged("INFO serving "))
        found = _SERVING.search(server.output())
        assert found is not None
        urls = {url.split(":", 1)[0]: url for url in found.group(1).split()}
        host, port = urls["tls"].split("://", 1)[1].rsplit(":", 1)
        tcp_port = int(urls["tcp"].rsplit(":", 1)[1])
        yield Served(host, int(port), sock, str(ca_pem), fingerprint(der), str(leaf), tcp_port)
    finally:
        server.stop()
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def known(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> pathlib.Path:
    """The user's config directory is a temporary one: known_servers is in it."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    return tmp_path / "wirechat" / "known_servers"


async def plain(served: Served, tls: TlsOptions | None, unix: str | None = None) -> list[str]:
    """Line mode, connected and quitting at once: what it printed, and its status last."""
    lines: list[str] = []
    source = asyncio.StreamReader()
    source.feed_data(b"/quit\n")
    source.feed_eof()
    nick = local_nick() if unix is not None else "alice"
    status = await asyncio.wait_for(
        run_plain(served.host, served.port, nick, None, out=lines.append, source=source,
                  tls=tls, unix=unix),
        WAIT,
    )  # fmt: skip
    return [*lines, str(status)]


# ---------------------------------------------------------------------- no network


def test_fingerprints_and_addresses() -> None:
    fp = fingerprint(b"certificate")
    assert re.fullmatch(r"([0-9A-F]{2}:){31}[0-9A-F]{2}", fp)
    assert normalize_fingerprint(fp.replace(":", "").lower()) == fp
    with pytest.raises(ValueError, match="SHA-256"):
        normalize_fingerprint("AB:CD")
    assert parse_address("tls://chat.example.org:8443") == Address(
        "chat.example.org", 8443, tls=True
    )
    assert parse_address("tls://[::1]") == Address("::1", None, tls=True)
    assert parse_address("::1") == Address("::1")
    assert parse_address("unix:///run/x.sock") == Address(unix="/run/x.sock")
    with pytest.raises(ValueError, match="scheme"):
        parse_address("http://x")
    with pytest.raises(ValueError, match="port"):
        parse_address("tls://x:99999")


def test_the_command_line() -> None:
    parser = build_parser()
    server = where(parser.parse_args(["--host", "tls://chat.example.org:8443"]))
    assert (server.host, server.port, server.tls, server.unix) == (
        "chat.example.org", 8443, TlsOptions(), None
    )  # fmt: skip
    server = where(parser.parse_args(["--tls-fingerprint", "ab" * 32, "--port", "9"]))
    assert server.tls is not None and server.tls.fingerprint == normalize_fingerprint("AB" * 32)
    assert where(parser.parse_args([])).tls is None
    assert where(parser.parse_args(["--unix"])).unix == "/run/wirechat/wirechat.sock"
    assert where(parser.parse_args(["--unix", "/tmp/s"])).unix == "/tmp/s"
    with pytest.raises(ValueError, match="not both"):
        where(parser.parse_args(["--unix", "--tls"]))


def test_known_servers_file(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "conf" / "known_servers"
    known = KnownServers(path)
    assert known.lookup("h", 1) is None
    fp = fingerprint(b"x")
    known.pin("Chat.Example.org", 8443, fp.lower())
    known.pin("::1", 8443, fp)
    text = path.read_text()
    assert text.startswith("#")
    assert f"chat.example.org:8443 {fp}\n" in text and f"[::1]:8443 {fp}\n" in text
    pin = known.lookup("chat.example.org", 8443)
    assert pin is not None and pin.fingerprint == fp and pin.line == 2
    assert known.lookup("chat.example.org", 8444) is None


# ---------------------------------------------------------------------- a real server


async def test_a_certificate_that_verifies_needs_no_pin(
    served: Served, known: pathlib.Path
) -> None:
    lines = await plain(served, TlsOptions(ca_file=served.ca))
    assert lines[-1] == "0", lines
    assert not known.exists()


async def test_an_unverified_unpinned_certificate_is_refused(
    served: Served, known: pathlib.Path
) -> None:
    lines = await plain(served, TlsOptions())
    assert lines[-1] == "1", lines
    refusal = "\n".join(lines)
    assert "does not verify and is not pinned" in refusal
    assert served.fingerprint in refusal and str(known) in refusal
    assert "--tls-fingerprint" in refusal
    assert not known.exists()  # line mode never pins


async def test_the_fingerprint_given_is_accepted(served: Served, known: pathlib.Path) -> None:
    given = served.fingerprint.replace(":", "").lower()
    lines = await plain(served, TlsOptions(fingerprint=given))
    assert lines[-1] == "0", lines
    wrong = TlsOptions(fingerprint=fingerprint(b"other"))
    lines = await plain(served, wrong)
    assert lines[-1] == "1" and "not the" in "\n".join(lines), lines


def test_the_fingerprint_is_the_one_the_server_logs(served: Served) -> None:
    from chat_server.selfsigned import fingerprint as server_fingerprint

    assert served.fingerprint == server_fingerprint(pathlib.Path(served.cert))


async def test_tls_to_a_plain_port_says_so(served: Served, known: pathlib.Path) -> None:
    plain_port = Served(**{**served.__dict__, "port": served.tcp_port})
    lines = await plain(plain_port, TlsOptions())
    assert lines[-1] == "1", lines
    assert f"cannot connect to tls://{served.host}:{served.tcp_port}: TLS failed" in lines[0]


async def test_a_pinned_certificate_is_accepted(served: Served, known: pathlib.Path) -> None:
    KnownServers().pin(served.host, served.port, served.fingerprint)
    lines = await plain(served, TlsOptions())
    assert lines[-1] == "0", lines


async def test_a_changed_fingerprint_is_refused_naming_the_line(
    served: Served, known: pathlib.Path
) -> None:
    known.parent.mkdir(parents=True)
    known.write_text(
        f"# mine\nother:1 {fingerprint(b'a')}\n{served.host}:{served.port} {fingerprint(b'old')}\n"
    )
    lines = await plain(served, TlsOptions())
    assert lines[-1] == "1", lines
    warning = "\n".join(lines)
    assert "CHANGED" in warning and f"remove line 3 of {known}" in warning
    with pytest.raises(FingerprintChanged) as caught:
        await ChatConnection.open(served.host, served.port, WAIT, tls=TlsOptions())
    assert caught.value.pin.line == 3 and caught.value.fingerprint == served.fingerprint


async def test_the_session_stops_on_an_untrusted_certificate(
    served: Served, known: pathlib.Path
) -> None:
    from chat_client.session import Session, SessionEvent, Untrusted

    events: list[SessionEvent] = []
    session = Session(served.host, served.port, "alice", tls=TlsOptions(), retry_first=False)
    await asyncio.wait_for(session.run(events.append), WAIT)
    assert isinstance(events[-1], Untrusted)
    assert isinstance(events[-1].error, UntrustedCertificate)
    assert session.address == f"tls://{served.host}:{served.port}"


async def test_the_unix_socket_is_a_local_user(served: Served) -> None:
    conn = await ChatConnection.open("", 0, WAIT, unix=served.unix)
    try:
        welcome = await conn.hello(local_nick())
    finally:
        await conn.close()
    assert welcome.local_user is not None
    assert local_nick() in (welcome.local_user, f"{welcome.local_user}-local")
    lines = await plain(served, None, unix=served.unix)
    assert lines[-1] == "0", lines


# ---------------------------------------------------------------------- the TUI


def tui(served: Served) -> ChatApp:
    return ChatApp(served.host, served.port, "alice", "lobby", tls=TlsOptions(), cursor_blink=False)


async def test_the_tui_asks_and_pins_on_accept(served: Served, known: pathlib.Path) -> None:
    app = tui(served)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, TrustScreen))
        shown = str(app.screen.query_one("#trust-fingerprint", Static).render())
        assert shown == served.fingerprint
        await pilot.press("a")
        await started(pilot)
        assert chat(app).session.connected
    assert known.read_text().splitlines()[-1] == (
        f"{served.host}:{served.port} {served.fingerprint}"
    )


async def test_the_tui_refused_shows_the_form(served: Served, known: pathlib.Path) -> None:
    app = tui(served)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, TrustScreen))
        await pilot.press("escape")
        await wait_until(pilot, lambda: form_shown(app))
        error = str(app.screen.query_one("#connect-error", Static).render())
        assert "certificate not accepted" in error
        assert app.screen.query_one("#host", Input).value == f"tls://{served.host}"
    assert not known.exists()


async def test_a_tls_address_in_the_connect_form(served: Served, known: pathlib.Path) -> None:
    app = ChatApp(served.host, served.tcp_port, None, cursor_blink=False)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_until(pilot, lambda: form_shown(app))
        form = app.screen
        form.query_one("#host", Input).value = f"tls://{served.host}:{served.port}"
        form.query_one("#nick", Input).value = "carol"
        form.action_connect()  # type: ignore[attr-defined]
        await wait_until(pilot, lambda: isinstance(app.screen, TrustScreen))
        await pilot.press("a")
        await wait_until(pilot, lambda: isinstance(app.screen, ChatScreen))
        await wait_until(pilot, lambda: chat(app).session.connected)
    pin = KnownServers().lookup(served.host, served.port)
    assert pin is not None and pin.fingerprint == served.fingerprint


async def test_the_tui_never_offers_a_changed_fingerprint(
    served: Served, known: pathlib.Path
) -> None:
    KnownServers().pin(served.host, served.port, fingerprint(b"old"))
    app = tui(served)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_until(pilot, lambda: form_shown(app))
        error = str(app.screen.query_one("#connect-error", Static).render())
        assert "CHANGED" in error and f"remove line 2 of {known}" in error
