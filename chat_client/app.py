"""The Textual application: picks the connect form or the chat screen and holds global keys."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import replace
from typing import ClassVar

from textual.app import App
from textual.binding import Binding, BindingType
from textual.driver import Driver
from textual.theme import Theme

from chat_client.keys import install_alt_digits, install_alt_enter
from chat_client.logfiles import LogWriter, log_dir
from chat_client.login_name import default_nick
from chat_client.palette import ChatCommands
from chat_client.screens.chat import ChatScreen
from chat_client.screens.connect import ConnectRequest, ConnectScreen
from chat_client.screens.trust import TrustScreen
from chat_client.session import Session
from chat_client.settings import SettingsFile
from chat_client.trust import TlsOptions, UntrustedCertificate
from protocol import ErrorCode


class ChatApp(App[None]):
    """wirechat's terminal client."""

    TITLE = "wirechat"
    CSS_PATH = "styles/app.tcss"
    COMMANDS = App.COMMANDS | {ChatCommands}
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+q", "quit", "Quit", priority=True),
        # The terminal's own ctrl+z is off in Textual's raw mode: suspend as a shell expects.
        Binding("ctrl+z", "suspend_process", "Suspend", show=False, priority=True),
    ]

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 8089,
        nick: str | None = None,
        room: str | None = None,
        password: str | None = None,
        *,
        account_password: str | None = None,
        cursor_blink: bool = True,
        ping_interval: float = 15.0,
        tls: TlsOptions | None = None,
        unix: str | None = None,
        bell: bool | None = None,
        seconds: bool | None = None,
        logs: bool = False,
        settings: SettingsFile | None = None,
    ) -> None:
        super().__init__()
        #: The settings of `/set`, from client.toml in the user's config directory.
        self.settings_file = settings if settings is not None else SettingsFile()
        saved = self.settings_file.current
        # The bell on a mention or DM elsewhere (default on), and HH:MM:SS timestamps (default
        # off, F6 toggles): from the arguments, else $WIRECHAT_BELL / $WIRECHAT_SECONDS, else
        # the settings file.
        self.bell_on = setting(bell, "WIRECHAT_BELL", saved.bell)
        self.seconds = setting(seconds, "WIRECHAT_SECONDS", saved.seconds)
        self._title = ""
        install_alt_digits()  # alt+1..alt+0 reach the window bindings, not the input
        install_alt_enter()  # ESC CR: a new line in the input, not enter
        self.host, self.port, self.nick, self.room = host, port, nick, room
        self._request: ConnectRequest | None = None  # the last one, to connect again
        self.room_key: str | None = None  # typed into the connect form
        self.password = password
        self.account_password = account_password
        self.cursor_blink = cursor_blink
        self.ping_interval = ping_interval
        # --tls-ca, --tls-fingerprint and the known_servers file, used whenever TLS is asked
        # for (by the flags or a tls:// address in the form); `use_tls`: this time.
        self.tls_options = tls or TlsOptions()
        self.use_tls = tls is not None
        self.unix = unix
        #: Every room's and DM's messages appended to files (chat_client/logfiles.py); None:
        #: not logged (--no-log, and the default here: the command line turns it on).
        self.conversation_logs = LogWriter(log_dir()) if logs else None

    def on_mount(self) -> None:
        theme = self.settings_file.current.theme
        if theme in self.available_themes:
            self.theme = theme
        else:
            path = self.settings_file.path
            self.settings_file.warnings.append(f"{path}: no theme {theme!r}: the default is used")
        # A theme picked in the command palette is saved as /set theme would.
        self.theme_changed_signal.subscribe(self, self._theme_changed)
        if self.nick:
            request = ConnectRequest(
                self.host,
                self.port,
                self.nick,
                self.account_password,
                self.room,
                tls=self.use_tls,
                unix=self.unix,
            )
            self.start_chat(request)
        else:
            self.ask_where()

    def ask_where(self, error: str = "") -> None:
        nick = self.nick or default_nick()
        if self.unix is not None:
            host = f"unix://{self.unix}"
        else:
            host = f"tls://{self.host}" if self.use_tls else self.host
        screen = ConnectScreen(
            host,
            self.port,
            nick,
            error,
            self.account_password or "",
            self.room or "",
            self.room_key or "",
        )
        self.push_screen(screen, self.start_chat)

    def start_chat(self, request: ConnectRequest | None) -> None:
        if request is None:
            return
        self.host, self.port, self.nick = request.host, request.port, request.nick
        self.account_password = request.account_password
        self.room, self.room_key = request.room, request.room_key
        self.use_tls, self.unix = request.tls, request.unix
        keys = {request.room: request.room_key} if request.room and request.room_key else {}
        session = Session(
            request.host,
            request.port,
            request.nick,
            password=self.password,
            account_password=request.account_password,
            rooms=[self.room] if self.room else [],
            keys=keys,
            ping_interval=self.ping_interval,
            retry_first=False,  # a wrong host or port: the form comes back, with the error
            tls=self.tls_options if request.tls else None,
            unix=request.unix,
        )
        self._request = request
        self.push_screen(
            ChatScreen(
                session,
                session.address,
                cursor_blink=self.cursor_blink,
                seconds=self.seconds,
                bell=self.bell_on,
                settings=self.settings_file,
            )
        )

    def _theme_changed(self, theme: Theme) -> None:
        current = self.settings_file.current
        if theme.name == current.theme:
            return
        try:
            self.settings_file.change(replace(current, theme=theme.name))
        except OSError as exc:
            self.notify(f"theme not saved: {exc}", severity="warning", markup=False)

    def on_chat_screen_refused(self, event: ChatScreen.Refused) -> None:
        if isinstance(self.screen, ChatScreen):
            self.pop_screen()
        if event.error is not None and event.error.code == ErrorCode.BAD_LOGIN:
            self.account_password = None  # refused: the form asks for it again, empty
        self.ask_where(f"the server said: {event.reason}")

    def on_chat_screen_unreachable(self, event: ChatScreen.Unreachable) -> None:
        if isinstance(self.screen, ChatScreen):
            self.pop_screen()
        self.ask_where(f"{event.reason} (is the server running there?)")

    def on_chat_screen_untrusted(self, event: ChatScreen.Untrusted) -> None:
        if isinstance(self.screen, ChatScreen):
            self.pop_screen()
        error = event.error
        if not isinstance(error, UntrustedCertificate):
            self.ask_where(str(error))  # a changed fingerprint: never accepted from here
            return
        known = self.tls_options.known()
        request = self._request
        if request is None:
            return

        def decided(accepted: bool | None) -> None:
            if not accepted:
                self.ask_where(f"certificate not accepted: {error}")
                return
            try:
                known.pin(error.host, error.port, error.fingerprint)
            except OSError as exc:
                self.ask_where(f"could not pin the certificate in {known.path}: {exc}")
                return
            self.start_chat(request)

        self.push_screen(TrustScreen(error, str(known.path)), decided)

    def get_driver_class(self) -> type[Driver]:
        """Textual's driver for this terminal; on Linux and macOS one whose suspend and resume
        keep every key (chat_client/driver.py)."""
        driver_class = super().get_driver_class()
        if os.environ.get("TEXTUAL_DRIVER"):
            return driver_class  # chosen explicitly: used as it is
        if (driver_class.__module__, driver_class.__name__) == (
            "textual.drivers.linux_driver",
            "LinuxDriver",
        ):
            from chat_client.driver import ResumingDriver

            return ResumingDriver
        return driver_class

    def on_unmount(self) -> None:
        if self.conversation_logs is not None:
            self.conversation_logs.close()  # what is queued is written first

    def set_terminal_title(self, title: str) -> None:
        """Set the terminal's title (OSC 2): Textual's `title` only names the app in its header.

        `title` must be inert already (ChatScreen.title_text strips every control character)."""
        if title == self._title:
            return
        self._title = title
        if self._driver is not None and not self.is_headless:
            self._driver.write(f"\x1b]2;{title}\x07")

    async def action_quit(self) -> None:
        if isinstance(self.screen, ChatScreen):
            await self.screen.session.quit()
        self.exit()


_OFF = {"0", "off", "no", "false"}


def setting(
    given: bool | None, variable: str, default: bool, env: Mapping[str, str] = os.environ
) -> bool:
    """A yes/no setting: `given` if not None, else the environment's `variable` (`0`, `off`,
    `no`, `false` are no; anything else is yes), else `default`."""
    if given is not None:
        return given
    value = env.get(variable)
    if value is None or not value.strip():
        return default
    return value.strip().lower() not in _OFF
