"""The trust-on-first-use prompt: a server's certificate does not verify; pin it or not.

Shows the server and its SHA-256 fingerprint, to compare with the one its operator gave out
(the server logs it at start); dismisses with True (accept and pin) or False.
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static

from chat_client.text import inert
from chat_client.trust import UntrustedCertificate, server_key


class TrustScreen(ModalScreen[bool]):
    """Asks whether to trust a certificate that does not verify (never a changed one)."""

    BINDINGS = [
        Binding("escape", "refuse", "Refuse"),
        Binding("a", "accept", "Accept and pin"),
    ]

    def __init__(self, error: UntrustedCertificate, known_servers: str) -> None:
        super().__init__()
        self.error = error
        self.known_servers = known_servers

    def compose(self) -> ComposeResult:
        server = server_key(self.error.host, self.error.port)
        with Vertical(id="trust-form"):
            yield Static("Unverified certificate", id="trust-title", markup=False)
            yield Static(
                Text(
                    inert(
                        f"The certificate of {server} does not verify (self-signed, or from "
                        f"a CA this machine does not trust). Its SHA-256 fingerprint is:"
                    )
                ),
                markup=False,
            )
            yield Static(Text(self.error.fingerprint), id="trust-fingerprint", markup=False)
            yield Static(
                Text(
                    inert(
                        "Accept only if it is the fingerprint the server's operator gave you. "
                        f"Accepting pins it in {self.known_servers}; a different certificate "
                        "will then be refused."
                    )
                ),
                markup=False,
            )
            with Horizontal(id="trust-buttons"):
                yield Button("Accept and pin", id="trust-accept", variant="warning")
                yield Button("Refuse", id="trust-refuse", variant="primary")

    def on_mount(self) -> None:
        self.query_one("#trust-refuse", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(event.button.id == "trust-accept")

    def action_accept(self) -> None:
        self.dismiss(True)

    def action_refuse(self) -> None:
        self.dismiss(False)
