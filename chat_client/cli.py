"""`chat-client`: the Textual TUI by default, or line mode with --plain."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from dataclasses import dataclass

from chat_client.accounts import ENV_VAR, account_password
from chat_client.address import DEFAULT_UNIX_PATH, parse_address
from chat_client.login_name import default_nick, local_nick
from chat_client.probe import PROBE_TIMEOUT, run_probe
from chat_client.trust import TlsOptions, normalize_fingerprint
from chat_client.web import DEFAULT_WEB_HOST, DEFAULT_WEB_PORT


def _to_stderr(line: str) -> None:
    print(line, file=sys.stderr)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="chat-client", description="wirechat client")
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        help=(
            "server address (default: 127.0.0.1); tls://HOST[:PORT] connects with TLS, "
            "unix:///PATH to a Unix socket"
        ),
    )
    parser.add_argument("--port", type=int, default=8089, help="server port (default: 8089)")
    parser.add_argument(
        "--tls",
        action="store_true",
        help=(
            "connect with TLS, verifying the server against the system's CAs; a certificate "
            "that does not verify is trusted on first use (see docs/client.md)"
        ),
    )
    parser.add_argument(
        "--tls-ca",
        default=None,
        metavar="FILE",
        help="with TLS: verify against the CA certificates in FILE (PEM), not the system's",
    )
    parser.add_argument(
        "--tls-fingerprint",
        default=None,
        metavar="SHA256",
        help=(
            "with TLS: accept a certificate that does not verify if its SHA-256 fingerprint "
            "is this one (any case, colons optional)"
        ),
    )
    parser.add_argument(
        "--unix",
        nargs="?",
        const=DEFAULT_UNIX_PATH,
        default=None,
        metavar="PATH",
        help=(
            f"connect to the server's Unix socket (default: {DEFAULT_UNIX_PATH}); the nick "
            "defaults to your login name, which the server asks for there"
        ),
    )
    parser.add_argument("--nick", default=None, help="your nick")
    parser.add_argument("--room", default=None, help="room to join on connect")
    parser.add_argument("--password", default=None, help="server password, if it has one")
    parser.add_argument(
        "--account-password-file",
        default=None,
        metavar="FILE",
        help=(
            f"log in to the account named by the nick with the password on FILE's first line "
            f"(or set ${ENV_VAR}); never given as a flag value, which `ps` would show"
        ),
    )
    parser.add_argument(
        "--no-log",
        action="store_true",
        help=(
            "do not log conversations to files (by default every room's and DM's messages "
            "are appended under the user data directory: see docs/client.md)"
        ),
    )
    parser.add_argument("--plain", action="store_true", help="line mode on stdin/stdout")
    parser.add_argument("--json", action="store_true", help="with --plain: print events as JSON")
    parser.add_argument(
        "--probe",
        default=None,
        metavar="HOST[:PORT]",
        help=(
            "ask the server's UDP status probe (chat-server --udp) for its status, print it "
            "and exit; the port defaults to 8089, IPv6 as [ADDRESS]:PORT"
        ),
    )
    parser.add_argument(
        "--probe-timeout",
        type=float,
        default=PROBE_TIMEOUT,
        metavar="SECONDS",
        help=f"with --probe: how long to wait for the answer (default: {PROBE_TIMEOUT:g})",
    )
    parser.add_argument(
        "--web",
        action="store_true",
        help="serve this client to a browser (one client per tab) instead of the terminal",
    )
    parser.add_argument(
        "--web-host",
        default=DEFAULT_WEB_HOST,
        metavar="ADDRESS",
        help=f"with --web: the address to serve on (default: {DEFAULT_WEB_HOST})",
    )
    parser.add_argument(
        "--web-port",
        type=int,
        default=DEFAULT_WEB_PORT,
        metavar="PORT",
        help=f"with --web: the port to serve on (default: {DEFAULT_WEB_PORT})",
    )
    return parser


@dataclass(frozen=True, slots=True)
class Where:
    host: str
    port: int
    tls: TlsOptions | None
    unix: str | None


def where(args: argparse.Namespace) -> Where:
    """The server from --host (a URL there wins), --port, --tls*, --unix; ValueError if they
    do not fit together."""
    address = parse_address(args.host)
    port = address.port if address.port is not None else args.port
    fingerprint = None
    if args.tls_fingerprint is not None:
        fingerprint = normalize_fingerprint(args.tls_fingerprint)
    wants_tls = address.tls or args.tls or args.tls_ca is not None or fingerprint is not None
    unix = address.unix if address.unix is not None else args.unix
    if unix is not None and wants_tls:
        raise ValueError("a Unix socket is not reached over TLS: --unix or --tls, not both")
    if not 0 < port < 65536:
        raise ValueError("--port must be a number from 1 to 65535")
    tls = TlsOptions(ca_file=args.tls_ca, fingerprint=fingerprint) if wants_tls else None
    return Where(address.host or "127.0.0.1", port, tls, unix)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        server = where(args)
    except ValueError as exc:
        parser.error(str(exc))
    # On the Unix socket the server wants the login name (or NAME-something) as the nick.
    nick = args.nick or (local_nick() if server.unix is not None else None)
    if args.probe is not None:
        if not args.probe_timeout > 0:
            parser.error("--probe-timeout must be more than 0 seconds")
        return run_probe(args.probe, args.probe_timeout, err=_to_stderr)
    try:
        account = account_password(args.account_password_file, os.environ)
    except ValueError as exc:
        parser.error(str(exc))
    if args.web:
        if args.plain:
            parser.error("--web serves the Textual client: --web or --plain, not both")
        if not 0 < args.web_port < 65536:
            parser.error("--web-port must be a number from 1 to 65535")
        from chat_client.web import run_web

        return run_web(args)
    if args.plain:
        from chat_client.plain import run_plain

        try:
            return asyncio.run(
                run_plain(
                    server.host,
                    server.port,
                    nick or default_nick(),
                    args.room,
                    args.password,
                    args.json,
                    account_password=account,
                    tls=server.tls,
                    unix=server.unix,
                )
            )
        except KeyboardInterrupt:
            return 130
    from chat_client.app import ChatApp

    app = ChatApp(
        server.host,
        server.port,
        nick,
        args.room,
        args.password,
        account_password=account,
        tls=server.tls,
        unix=server.unix,
        logs=not args.no_log,
    )
    app.run()
    # Textual sets a non-zero return code when the app ended with an unhandled error.
    return app.return_code or 0


if __name__ == "__main__":
    sys.exit(main())
