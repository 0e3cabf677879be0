"""Every listener kind on every backend at once (TCP, TLS with a throwaway trustme
certificate, a Unix socket with the peer's login name), and what goes wrong clearly: plain
text on the TLS port, TLS on the plain port, a handshake that never comes."""

from __future__ import annotations

import asyncio
import getpass
import hashlib
import pathlib
import re
import signal
import ssl
import tempfile

import pytest
import trustme

from protocol import frame
from tests.helpers import WAIT, ServerProcess, WireClient

_SERVING = re.compile(r"INFO serving (\w+://.+)")


@pytest.fixture(scope="module")
def certificate() -> tuple[str, str, ssl.SSLContext]:
    ca = trustme.CA()
    issued = ca.issue_cert("127.0.0.1", "localhost")
    directory = pathlib.Path(tempfile.mkdtemp(prefix="wirechat-tls-"))
    cert, key = directory / "cert.pem", directory / "key.pem"
    issued.private_key_and_cert_chain_pem.write_to_path(str(cert))
    issued.private_key_pem.write_to_path(str(key))
    client = ssl.create_default_context()
    ca.configure_trust(client)
    return str(cert), str(key), client


async def served(
    backend: str, cert: str, key: str, sock_path: str
) -> tuple[ServerProcess, dict[str, str]]:
    server = ServerProcess(
        backend,
        "--listen", "tcp://127.0.0.1:0",
        "--listen", "tls://127.0.0.1:0",
        "--listen", f"unix://{sock_path}",
        "--tls-cert", cert,
        "--tls-key", key,
        "--hello-timeout", "1",
    ).start()  # fmt: skip
    try:
        assert await server.logged("INFO serving ")
        found = _SERVING.search(server.output())
        assert found is not None
        urls = {url.split(":", 1)[0]: url for url in found.group(1).split()}
    except BaseException:
        server.stop()  # a failed check must not leave the server running
        raise
    return server, urls


def address(url: str) -> tuple[str, int]:
    host, port = url.split("://", 1)[1].rsplit(":", 1)
    return host, int(port)


async def test_tcp_tls_and_unix_at_once(
    backend: str, certificate: tuple[str, str, ssl.SSLContext], tmp_path: pathlib.Path
) -> None:
    cert, key, client_tls = certificate
    sock_path = str(tmp_path / "chat.sock")
    server, urls = await served(backend, cert, key, sock_path)
    writers = []
    try:
        host, port = address(urls["tls"])
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(host, port, ssl=client_tls, server_hostname="127.0.0.1"),
            WAIT,
        )
        writers.append(writer)
        secure = WireClient(reader, writer)
        assert (await secure.hello("secure"))["type"] == "welcome"
        plain = await WireClient.connect(server)  # the TCP listener (the first, as before)
        writers.append(plain.writer)
        await plain.hello("plain")
        reader, writer = await asyncio.wait_for(asyncio.open_unix_connection(sock_path), WAIT)
        writers.append(writer)
        local = WireClient(reader, writer)
        user = getpass.getuser()
        await local.send("hello", nick=f"{user}-test", protocol=1)
        welcome = await local.next_of("welcome")
        assert welcome["local_user"] == user
        local.nick = welcome["nick"]
        for client in (secure, plain, local):
            await client.join("everyone")
        big = "x" * 7000  # several TLS records in one frame
        await secure.send("say", room="everyone", text=big)
        for client in (plain, local):
            assert (await client.expect("message"))["text"] == big
        await local.send("say", room="everyone", text="from the socket")
        assert (await secure.expect("message", nick=local.nick))["text"] == "from the socket"
    finally:
        for writer in writers:
            writer.close()
        server.stop()
    assert not pathlib.Path(sock_path).exists()  # removed on the way out


async def test_mismatched_protocols_fail_clearly(
    backend: str, certificate: tuple[str, str, ssl.SSLContext], tmp_path: pathlib.Path
) -> None:
    cert, key, client_tls = certificate
    server, urls = await served(backend, cert, key, str(tmp_path / "chat.sock"))
    try:
        # Plain text to the TLS port: closed, and the log says why.
        host, port = address(urls["tls"])
        reader, writer = await asyncio.open_connection(host, port)
        writer.write(frame(b'{"type":"hello","nick":"x","protocol":1}'))
        assert await asyncio.wait_for(reader.read(100), WAIT) == b""
        writer.close()
        if backend not in ("asyncio", "uvloop"):  # their TLS is the event loop's own
            assert await server.logged("plain text to the TLS port")
        # TLS to the plain port: the client's handshake fails; nothing hangs.
        host, port = address(urls["tcp"])
        with pytest.raises((ssl.SSLError, ConnectionError)):
            await asyncio.wait_for(
                asyncio.open_connection(host, port, ssl=client_tls, server_hostname="127.0.0.1"),
                WAIT,
            )
        # A handshake that never comes is dropped within the hello window (1 s here).
        host, port = address(urls["tls"])
        reader, writer = await asyncio.open_connection(host, port)
        loop = asyncio.get_running_loop()
        started = loop.time()
        assert await asyncio.wait_for(reader.read(100), WAIT) == b""
        assert loop.time() - started < WAIT
        writer.close()
    finally:
        server.stop()


async def test_a_self_signed_certificate_is_made_once_and_pinned_by_fingerprint() -> None:
    server = ServerProcess("asyncio", "--listen", "tls://127.0.0.1:0", "--tls-self-signed")
    try:
        server.start()
        assert await server.logged("SHA-256 fingerprint")
        made = re.search(
            r"made a self-signed certificate (\S+), SHA-256 fingerprint (\S+)", server.output()
        )
        assert made is not None
        cert_path, pinned = made.group(1), made.group(2)
        assert await server.logged("INFO serving ")
        found = _SERVING.search(server.output())
        assert found is not None
        host, port = address(found.group(1).split()[0])
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE  # trust on first use: the fingerprint decides
        _, writer = await asyncio.open_connection(host, port, ssl=context)
        der = writer.get_extra_info("ssl_object").getpeercert(binary_form=True)
        seen = hashlib.sha256(der).hexdigest().upper()
        assert ":".join(seen[i : i + 2] for i in range(0, 64, 2)) == pinned
        writer.close()
        server.restart()  # the same certificate again, not a new one
        assert await server.logged(f"using the self-signed certificate {cert_path}")
    finally:
        server.stop()


async def test_sighup_loads_a_renewed_certificate_and_keeps_connections(
    backend: str, tmp_path: pathlib.Path
) -> None:
    ca = trustme.CA()
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"

    def issue() -> bytes:
        issued = ca.issue_cert("127.0.0.1")
        issued.private_key_and_cert_chain_pem.write_to_path(str(cert))
        issued.private_key_pem.write_to_path(str(key))
        return ssl.PEM_cert_to_DER_cert(issued.cert_chain_pems[0].bytes().decode())

    first = issue()
    client_tls = ssl.create_default_context()
    ca.configure_trust(client_tls)
    server = ServerProcess(
        backend, "--listen", "tls://127.0.0.1:0", "--tls-cert", str(cert), "--tls-key", str(key)
    ).start()
    writers = []
    try:
        assert await server.logged("INFO serving ")
        found = _SERVING.search(server.output())
        assert found is not None
        host, port = address(found.group(1).split()[0])

        async def connect() -> tuple[WireClient, bytes]:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(host, port, ssl=client_tls, server_hostname="127.0.0.1"),
                WAIT,
            )
            writers.append(writer)
            der = writer.get_extra_info("ssl_object").getpeercert(binary_form=True)
            return WireClient(reader, writer), der

        old, seen = await connect()
        assert seen == first
        await old.hello("kept")
        renewed = issue()
        assert renewed != first
        server.signal(signal.SIGHUP)
        assert await server.logged("loaded again for new connections")
        new, seen = await connect()
        assert seen == renewed
        await new.hello("fresh")
        await old.send("ping", token="still here")
        assert (await old.expect("pong"))["token"] == "still here"
    finally:
        for writer in writers:
            writer.close()
        server.stop()
