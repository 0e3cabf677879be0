"""`chat-client --web`: the same Textual client, served to a browser by textual-serve.

textual-serve runs one `python -m chat_client ...` process per browser tab, with Textual's
web driver, and relays its screen and keys over a websocket to xterm.js on the page. The
command is the normal client invocation with this invocation's connection arguments, less
the --web* flags, so every tab connects to the same server as the same nick.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from typing import Any

DEFAULT_WEB_HOST = "127.0.0.1"
DEFAULT_WEB_PORT = 8000

#: Options passed on to each tab's client, as (dest, flag); a store_true option as its flag.
FORWARDED: tuple[tuple[str, str], ...] = (
    ("host", "--host"),
    ("port", "--port"),
    ("tls", "--tls"),
    ("tls_ca", "--tls-ca"),
    ("tls_fingerprint", "--tls-fingerprint"),
    ("unix", "--unix"),
    ("nick", "--nick"),
    ("room", "--room"),
    ("password", "--password"),
    ("account_password_file", "--account-password-file"),
    ("no_log", "--no-log"),
)
#: Options that are not the tab's business: the web server's own, and the other modes.
NOT_FORWARDED = frozenset(
    {"help", "web", "web_host", "web_port", "plain", "json", "probe", "probe_timeout"}
)
#: Paths are made absolute, so a tab's client finds them whatever its working directory.
_PATHS = frozenset({"tls_ca", "unix", "account_password_file"})


def client_command(args: argparse.Namespace) -> str:
    """The shell command textual-serve runs for each tab: `python -m chat_client` with the
    connection arguments of `args` (those not left at their default are given again)."""
    words = [sys.executable, "-m", "chat_client"]
    for dest, flag in FORWARDED:
        value = getattr(args, dest)
        if value is None or value is False:
            continue
        if value is True:
            words.append(flag)
            continue
        if dest in _PATHS:
            value = os.path.abspath(value)
        words += [flag, str(value)]
    return shlex.join(words)


def web_url(host: str, port: int) -> str:
    """The page's address, an IPv6 literal in brackets."""
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}"


def run_web(args: argparse.Namespace) -> int:
    """Serve the client on --web-host:--web-port until Ctrl+C (or SIGTERM)."""
    from textual_serve.server import Server

    url = web_url(args.web_host, args.web_port)

    class WebServer(Server):
        async def on_startup(self, app: Any) -> None:
            # textual-serve's own banner prints the command, which may hold --password.
            print(f"chat-client in the browser: {url}  (Ctrl+C stops it)", flush=True)

    server = WebServer(
        client_command(args),
        host=args.web_host,
        port=args.web_port,
        title="wirechat",
        public_url=url,
    )
    server.serve()
    return 0
