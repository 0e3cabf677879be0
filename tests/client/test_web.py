"""`chat-client --web` in a real headless browser: Debian's chromium driven by Playwright.

A real server; `chat-client --web` serving alice's client on a free loopback port; the page
opened in chromium, a line typed into it, bob (a raw protocol client) reading it and answering,
and the answer read back from the page.

textual-serve's page draws the terminal with xterm.js on a canvas and keeps no text in the DOM
(no accessibility tree either: xterm.js's screen-reader mode is off), so the test reads what
the page shows from xterm.js's own screen buffer, the one the canvas is drawn from. The page
holds its terminal in a local variable; an init script catches it as the page's code assigns
`this.fitAddon` in its constructor. Every request that is not to the loopback web server is
refused (the page asks for a web font): the test never leaves the machine.

With WIRECHAT_WEB_SCREENSHOT=FILE the page is also saved there (docs/web-client.png is made so).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from chat_client.address import DEFAULT_UNIX_PATH
from chat_client.cli import build_parser
from chat_client.web import FORWARDED, NOT_FORWARDED, client_command, web_url
from tests.helpers import ServerProcess, WireClient

CHROMIUM = "/usr/bin/chromium"
try:
    from playwright.async_api import Page, Route, async_playwright
except ImportError:  # pragma: no cover - depends on the machine
    async_playwright = None  # type: ignore[assignment]

needs_browser = pytest.mark.skipif(
    async_playwright is None or not os.path.exists(CHROMIUM),
    reason="no browser: needs /usr/bin/chromium (Debian's package chromium) and playwright",
)

BROWSER_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
WAIT_MS = 20_000  # any one wait in the browser
_SERVING = re.compile(r"chat-client in the browser: (http://127\.0\.0\.1:\d+)")

# Catches the page's terminal object (see the module's docstring) as window.__wirechatTerm.
CATCH_TERMINAL = """
Object.defineProperty(Object.prototype, "fitAddon", {
  configurable: true,
  set(value) {
    Object.defineProperty(this, "fitAddon", {
      value, writable: true, configurable: true, enumerable: true,
    });
    window.__wirechatTerm = this.terminal;
  },
});
"""
# The terminal's screen, one string per row.
SCREEN = """() => {
  const term = window.__wirechatTerm;
  if (!term) return "";
  const rows = [];
  for (let y = 0; y < term.rows; y++) {
    const line = term.buffer.active.getLine(y);
    rows.push(line ? line.translateToString(true) : "");
  }
  return rows.join("\\n");
}"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class WebClient:
    """`python -m chat_client ... --web` in its own process group, its output read by a
    thread (as ServerProcess reads a server's)."""

    def __init__(self, args: list[str], home: Path) -> None:
        self.args = args
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("WIRECHAT_")}
        # Its own config and data: a developer's known_servers never reaches the test's tabs.
        self.env.update(PYTHONUNBUFFERED="1", XDG_CONFIG_HOME=str(home), XDG_DATA_HOME=str(home))
        self.proc: subprocess.Popen[str] | None = None
        self.url = ""
        self.output: list[str] = []
        self._reader: threading.Thread | None = None

    def start(self, tries: int = 3) -> WebClient:
        for _ in range(tries):  # a port found free may be taken before the server binds it
            port = _free_port()
            cmd = [sys.executable, "-m", "chat_client", *self.args, "--web-port", str(port)]
            self.proc = subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                env=self.env,
                start_new_session=True,
            )
            if self._wait_serving(time.monotonic() + 20):
                return self
            self.stop()
        raise RuntimeError(f"chat-client --web did not start: {''.join(self.output)}")

    def _wait_serving(self, deadline: float) -> bool:
        proc = self.proc
        assert proc is not None
        serving = threading.Event()

        def pump() -> None:
            assert proc.stdout is not None
            for line in proc.stdout:
                self.output.append(line)
                if not serving.is_set() and (match := _SERVING.search(line)):
                    self.url = match.group(1)
                    serving.set()

        self._reader = threading.Thread(target=pump, daemon=True)
        self._reader.start()
        while not serving.wait(0.05):
            if proc.poll() is not None or time.monotonic() > deadline:
                return False
        return True

    def stop(self) -> None:
        """SIGTERM to the web server, then to whatever of its group is left (the tabs'
        clients), killed if still there after a bounded wait."""
        proc, self.proc = self.proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)  # raises when nothing of the group is left
            time.sleep(0.5)
            os.killpg(proc.pid, signal.SIGKILL)
        if self._reader is not None:
            self._reader.join(5)
        if proc.stdout is not None:
            proc.stdout.close()


@pytest.fixture
def chat_server() -> Iterator[ServerProcess]:
    srv = ServerProcess("asyncio").start()
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture
def web_client(chat_server: ServerProcess, tmp_path: Path) -> Iterator[WebClient]:
    args = ["--port", str(chat_server.port), "--nick", "alice", "--room", "lobby", "--web"]
    client = WebClient(args, tmp_path).start()
    try:
        yield client
    finally:
        client.stop()


async def _loopback_only(route: Route, base: str) -> None:
    if route.request.url.startswith(base):
        await route.continue_()
    else:
        await route.abort()


@pytest.fixture
async def page(web_client: WebClient) -> AsyncIterator[Page]:
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, args=BROWSER_ARGS, timeout=WAIT_MS
        )
        try:
            tab = await browser.new_page(viewport={"width": 1120, "height": 640})
            tab.set_default_timeout(WAIT_MS)
            await tab.route("**/*", lambda route: _loopback_only(route, web_client.url))
            await tab.add_init_script(CATCH_TERMINAL)
            await tab.goto(web_client.url, wait_until="domcontentloaded")
            yield tab
        finally:
            await browser.close()


async def screen_shows(page: Page, text: str) -> str:
    """Wait (bounded) until the page's terminal shows `text`; the screen's text."""
    try:
        await page.wait_for_function(
            f"text => ({SCREEN})().includes(text)", arg=text, timeout=WAIT_MS
        )
    except Exception as exc:
        screen = await page.evaluate(SCREEN)
        raise AssertionError(f"the page never showed {text!r}; it shows:\n{screen}") from exc
    return str(await page.evaluate(SCREEN))


@needs_browser
async def test_the_browser_client_chats_with_another_client(
    chat_server: ServerProcess, web_client: WebClient, page: Page, tmp_path: Path
) -> None:
    await screen_shows(page, "you joined #lobby")
    bob = await WireClient.connect(chat_server)
    try:
        await bob.hello("bob")
        await bob.join("lobby")  # in: his join is not shown (the smart filter: he is silent)

        # Keys typed into the page reach the client's input, and enter sends the line.
        await page.focus(".xterm-helper-textarea")
        await page.keyboard.type("hello from the browser")
        await page.keyboard.press("Enter")
        said = await bob.expect("message", timeout=15, room="lobby", nick="alice")
        assert said["text"] == "hello from the browser"

        await bob.send("say", room="lobby", text="hi alice, bob here on the terminal")
        screen = await screen_shows(page, "hi alice, bob here on the terminal")
        assert "hello from the browser" in screen
        assert "connected" in screen and "as alice" in screen

        await page.screenshot(path=str(tmp_path / "web-client.png"))
        if shot := os.environ.get("WIRECHAT_WEB_SCREENSHOT"):
            await page.screenshot(path=shot)

        # Closing the tab ends its client, which leaves the server.
        await page.close()
        await bob.expect("left", timeout=15, room="lobby", nick="alice")
    finally:
        await bob.close()


async def test_the_page_title_and_the_printed_url_hold_no_password(
    chat_server: ServerProcess, tmp_path: Path
) -> None:
    """textual-serve titles the page (and would print) the command it runs, which may hold
    --password: the client gives it a title of its own and prints only the URL."""
    args = ["--port", str(chat_server.port), "--nick", "carol", "--password", "s3cret", "--web"]
    client = WebClient(args, tmp_path).start()
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", int(client.url.rsplit(":")[-1]))
        writer.write(b"GET / HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        await writer.drain()
        body = (await asyncio.wait_for(reader.read(), 10)).decode()
        writer.close()
        assert "200 OK" in body.splitlines()[0]
        assert "wirechat" in body and "s3cret" not in body
        assert "s3cret" not in "".join(client.output)
    finally:
        client.stop()


def test_each_tab_runs_the_client_with_the_connection_arguments_less_the_web_ones(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = tmp_path / "pw"
    args = build_parser().parse_args(
        [
            *("--host", "tls://chat.example:7000", "--tls-fingerprint", "AB:cd"),
            *("--nick", "al ice", "--room", "dev", "--account-password-file", "pw"),
            *("--web", "--web-port", "9000"),
        ]
    )
    monkeypatch.chdir(tmp_path)
    command = client_command(args)
    assert shlex.split(command) == [
        sys.executable,
        "-m",
        "chat_client",
        "--host",
        "tls://chat.example:7000",
        "--port",
        "8089",
        "--tls-fingerprint",
        "AB:cd",
        "--nick",
        "al ice",
        "--room",
        "dev",
        "--account-password-file",
        str(secret),
    ]
    plain = build_parser().parse_args(["--unix", "--web", "--web-host", "::1"])
    assert shlex.split(client_command(plain))[3:] == [
        "--host",
        "127.0.0.1",
        "--port",
        "8089",
        "--unix",
        DEFAULT_UNIX_PATH,
    ]
    assert web_url("::1", 8000) == "http://[::1]:8000"
    assert web_url("127.0.0.1", 8000) == "http://127.0.0.1:8000"


def test_every_option_is_either_passed_to_the_tabs_or_named_as_not() -> None:
    """A connection option added to the parser must be added to FORWARDED too (or the tabs
    would connect without it), and anything else to NOT_FORWARDED."""
    dests = {action.dest for action in build_parser()._actions}
    forwarded = {dest for dest, _ in FORWARDED}
    assert not forwarded & NOT_FORWARDED
    assert dests == forwarded | NOT_FORWARDED
