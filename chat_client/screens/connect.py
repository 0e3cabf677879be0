"""The connect form: host, port, nick, an optional account password, and a room to join.

The host field takes an address (chat_client/address.py): `tls://HOST[:PORT]` connects with
TLS (a port there wins over the port field), `unix:///PATH` to a Unix socket.

Host, port, nick and room are prefilled from the command line and the login name; the account password
from `--account-password-file` or `$WIRECHAT_ACCOUNT_PASSWORD` (shown masked), unless the
server just refused it. The room's key (for a room with one) is masked too.

F2 asks the server's UDP status probe (`chat-server --udp`, on the port the form names) how
it is before connecting, and shows the answer under the address (widgets/probe_status.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Button, Footer, Input, Label, Static

from chat_client.accounts import check_password
from chat_client.address import Address, parse_address
from chat_client.commands import room_arg
from chat_client.text import inert
from chat_client.widgets.probe_status import ProbeStatus
from protocol.names import normalize_nick


def _error_text(message: str) -> Text:
    """An error for the form; it may quote the server, so it is inert Text, never markup."""
    return Text(inert(message))


class FormInput(Input):
    """An Input of the form that keeps keys typed in a burst in order.

    Textual moves the focus on tab only once the key has bubbled up to the app, by which time
    the keys typed after it (`alice` tab `lobby` from a fast typist, a paste without bracketed
    paste, `tmux send-keys`) are queued to this field already. Here tab and shift+tab move the
    focus as the key arrives, and keys that reach this field after the focus left it are handed
    on to the field that has it, in order.
    """

    async def _on_key(self, event: events.Key) -> None:
        focused = self.screen.focused
        if focused is not self and focused is not None:
            event.stop()
            event.prevent_default()
            if isinstance(focused, FormInput):
                focused.post_message(events.Key(event.key, event.character))  # in order
            elif not await self.app._check_bindings(event.key):
                # The button: its bindings (enter) as the app would have resolved them, by
                # Textual's own resolution (checked against 8.2.8).
                focused.post_message(events.Key(event.key, event.character))
            return
        if event.key in ("tab", "shift+tab"):
            event.stop()
            event.prevent_default()
            if event.key == "tab":
                self.screen.focus_next()
            else:
                self.screen.focus_previous()


@dataclass(frozen=True, slots=True)
class ConnectRequest:
    host: str
    port: int
    nick: str
    account_password: str | None = None  # log in to the account named by `nick`
    room: str | None = None  # join it once connected
    room_key: str | None = None  # the room's key, if it has one
    tls: bool = False  # the host field said tls://
    unix: str | None = None  # the host field said unix:///PATH (host and port unused)


class ConnectScreen(Screen[ConnectRequest]):
    """Asks where to connect and as whom; dismisses with a ConnectRequest."""

    BINDINGS = [
        Binding("escape", "app.quit", "Quit"),
        Binding("enter", "connect", "Connect", show=True, priority=False),
        Binding("f2", "probe", "Server status"),
    ]

    def __init__(
        self,
        host: str,
        port: int,
        nick: str,
        error: str = "",
        account_password: str = "",
        room: str = "",
        room_key: str = "",
    ) -> None:
        super().__init__()
        self._host, self._port, self._nick, self._error = host, port, nick, error
        self._account_password = account_password
        self._room, self._room_key = room, room_key

    def compose(self) -> ComposeResult:
        with Vertical(id="connect-form"):
            yield Static("wirechat", id="connect-title", markup=False)
            # Above the fields, so it shows even when a small terminal cuts the form short.
            error = Static(_error_text(self._error), id="connect-error", markup=False)
            error.display = bool(self._error)
            yield error
            with Horizontal(id="server-row", classes="form-row"):
                with Vertical():
                    yield Label("Host")
                    yield FormInput(
                        self._host, id="host", placeholder="127.0.0.1, tls://HOST[:PORT]"
                    )
                with Vertical(id="port-column"):
                    yield Label("Port")
                    yield FormInput(str(self._port), id="port", type="integer", placeholder="8089")
            yield ProbeStatus(id="probe-status")
            yield Label("Nick")
            yield FormInput(self._nick, id="nick", placeholder="your nick")
            yield Label("Account password (if the nick is registered)")
            yield FormInput(
                self._account_password,
                id="account-password",
                password=True,
                placeholder="none",
            )
            with Horizontal(id="room-row", classes="form-row"):
                with Vertical():
                    yield Label("Room to join")
                    yield FormInput(self._room, id="room", placeholder="none")
                with Vertical():
                    yield Label("Room key")
                    yield FormInput(
                        self._room_key, id="room-key", password=True, placeholder="none"
                    )
            yield Button("Connect", id="connect", variant="primary")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#nick", Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_connect()

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id in ("host", "port"):
            self.query_one("#probe-status", ProbeStatus).forget()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.action_connect()

    def _show_error(self, message: str) -> None:
        error = self.query_one("#connect-error", Static)
        error.update(_error_text(message))
        error.display = True

    def _server(self) -> tuple[Address, int]:
        """The address and port the form names (port 0 for a Unix socket's path).

        Raises ValueError with what to put right."""
        address = parse_address(self.query_one("#host", Input).value.strip() or "127.0.0.1")
        port_text = self.query_one("#port", Input).value.strip()
        try:
            port = address.port if address.port is not None else int(port_text)
            if not 0 < port < 65536:
                raise ValueError
        except ValueError:
            if address.unix is None:  # a socket's path needs no port
                raise ValueError("port must be a number from 1 to 65535") from None
            port = 0
        return address, port

    def action_probe(self) -> None:
        status = self.query_one("#probe-status", ProbeStatus)
        try:
            address, port = self._server()
        except ValueError as exc:
            self._show_error(str(exc))
            return
        if address.unix is not None:
            self._show_error("a Unix socket has no status probe (the probe answers over UDP)")
            return
        status.probe(address.host, port)

    def action_connect(self) -> None:
        try:
            address, port = self._server()
        except ValueError as exc:
            self._show_error(str(exc))
            return
        nick = self.query_one("#nick", Input).value.strip()
        try:
            nick = normalize_nick(nick)
        except ValueError as exc:
            self._show_error(str(exc))
            return
        account_password = self.query_one("#account-password", Input).value or None
        if account_password is not None:
            try:
                check_password(account_password)
            except ValueError as exc:
                self._show_error(str(exc))
                return
        room: str | None = self.query_one("#room", Input).value.strip() or None
        room_key = self.query_one("#room-key", Input).value or None
        try:
            room = room_arg(room) if room is not None else None
            if room_key is not None and (len(room_key) > 256 or len(room_key.split()) != 1):
                raise ValueError("a room key is one word of at most 256 characters")
        except ValueError as exc:
            self._show_error(str(exc))  # never quotes the key
            return
        self.dismiss(
            ConnectRequest(
                address.host,
                port,
                nick,
                account_password,
                room,
                room_key,
                tls=address.tls,
                unix=address.unix,
            )
        )
