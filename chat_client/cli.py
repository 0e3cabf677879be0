"""`chat-client`: the Textual TUI by default, or line mode with --plain."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys

from chat_client.accounts import ENV_VAR, account_password
from chat_client.login_name import default_nick
from chat_client.probe import PROBE_TIMEOUT, run_probe


def _to_stderr(line: str) -> None:
    print(line, file=sys.stderr)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="chat-client", description="wirechat client")
    parser.add_argument("--host", default="127.0.0.1", help="server address (default: 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8089, help="server port (default: 8089)")
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
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.probe is not None:
        if not args.probe_timeout > 0:
            parser.error("--probe-timeout must be more than 0 seconds")
        return run_probe(args.probe, args.probe_timeout, err=_to_stderr)
    try:
        account = account_password(args.account_password_file, os.environ)
    except ValueError as exc:
        parser.error(str(exc))
    if args.plain:
        from chat_client.plain import run_plain

        nick = args.nick or default_nick()
        try:
            return asyncio.run(
                run_plain(
                    args.host,
                    args.port,
                    nick,
                    args.room,
                    args.password,
                    args.json,
                    account_password=account,
                )
            )
        except KeyboardInterrupt:
            return 130
    from chat_client.app import ChatApp

    app = ChatApp(
        args.host, args.port, args.nick, args.room, args.password, account_password=account
    )
    app.run()
    # Textual sets a non-zero return code when the app ended with an unhandled error.
    return app.return_code or 0


if __name__ == "__main__":
    sys.exit(main())
