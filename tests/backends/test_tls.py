"""The sans-IO TLS layer between a real client SSLObject and the server's, with throwaway
certificates from trustme: the handshake, records both ways, a plain-text peer, garbage."""

from __future__ import annotations

import ssl
import warnings

import pytest
import trustme

from chat_server.backends.tls import TlsFailed, TlsSession, server_context


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


def contexts(
    ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory
) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    cert = ca.issue_cert("localhost")
    directory = tmp_path_factory.mktemp("tls")
    cert_file, key_file = directory / "cert.pem", directory / "key.pem"
    cert.private_key_and_cert_chain_pem.write_to_path(str(cert_file))
    cert.private_key_pem.write_to_path(str(key_file))
    server = server_context(str(cert_file), str(key_file))
    client = ssl.create_default_context()
    ca.configure_trust(client)
    return server, client


class Client:
    """A TLS client over memory, like a socket's peer."""

    def __init__(self, context: ssl.SSLContext) -> None:
        self.incoming = ssl.MemoryBIO()
        self.outgoing = ssl.MemoryBIO()
        self.obj = context.wrap_bio(self.incoming, self.outgoing, server_hostname="localhost")

    def step(self) -> bool:
        try:
            self.obj.do_handshake()
            return True
        except ssl.SSLWantReadError:
            return False


def handshake(server: TlsSession, client: Client) -> None:
    for _ in range(10):
        done = client.step()
        sent = client.outgoing.read()
        if sent or not server.established:
            assert server.receive(sent) == b""
        client.incoming.write(server.outgoing())
        if done and server.established:
            return
    raise AssertionError("no handshake in 10 rounds")


def test_a_handshake_then_records_both_ways(
    ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory
) -> None:
    server_ctx, client_ctx = contexts(ca, tmp_path_factory)
    server, client = TlsSession(server_ctx), Client(client_ctx)
    handshake(server, client)
    assert server.version in ("TLSv1.2", "TLSv1.3")
    client.obj.write(b"hello " * 10_000)  # several records at once
    assert server.receive(client.outgoing.read()) == b"hello " * 10_000
    client.incoming.write(server.send(b"welcome"))
    assert client.obj.read(100) == b"welcome"


def test_plain_text_on_the_tls_port_is_refused_clearly(
    ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory
) -> None:
    server_ctx, _ = contexts(ca, tmp_path_factory)
    server = TlsSession(server_ctx)
    with pytest.raises(TlsFailed, match="plain text"):
        server.receive(b'\x00\x00\x00\x2d{"type":"hello","nick":"x","protocol":1}')


def test_garbage_mid_stream_fails_and_never_raises_anything_else(
    ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory
) -> None:
    server_ctx, client_ctx = contexts(ca, tmp_path_factory)
    server, client = TlsSession(server_ctx), Client(client_ctx)
    handshake(server, client)
    with pytest.raises(TlsFailed):
        server.receive(b"\x17\x03\x03\x00\x20" + b"\x00" * 32)


def test_a_client_below_tls_1_2_is_refused(
    ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory
) -> None:
    server_ctx, client_ctx = contexts(ca, tmp_path_factory)
    with warnings.catch_warnings():  # asking for TLS 1.1 is deprecated: that is the point
        warnings.simplefilter("ignore", DeprecationWarning)
        client_ctx.minimum_version = ssl.TLSVersion.TLSv1
        client_ctx.maximum_version = ssl.TLSVersion.TLSv1_1
    server, client = TlsSession(server_ctx), Client(client_ctx)
    with pytest.raises((TlsFailed, ssl.SSLError)):
        handshake(server, client)
