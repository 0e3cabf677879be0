"""Textual's Linux driver, with its suspend (SIGTSTP) and resume (SIGCONT) made safe for input.

Textual 8.2.8's `LinuxDriver` has two problems there (see docs/client.md, "Known issues"):

1. It restarts application mode on *every* SIGCONT, also one that does not follow its own
   suspend: a second SIGCONT (`bg` then `fg`, `kill -CONT`, a debugger or supervisor that
   stops and continues the process) starts a second input thread beside the first. Both read
   the terminal, each with its own parser: keys go to one or the other, and a large paste is
   split between them in chunks that arrive out of order. Here a SIGCONT resumes only after
   this driver's own suspend, and only when no input thread is running.
2. Before stopping it puts the terminal back in cooked mode (for the shell), so what is typed
   between the stop and the moment the resumed process sets raw mode again goes through the
   terminal's line discipline, which turns Enter (CR) into a newline (ctrl+j): the line typed
   is not sent. Here a ctrl+j read in the first `RESUME_WINDOW` seconds after a resume is
   taken as the Enter it was.
"""

from __future__ import annotations

import os
import signal
import time

from textual import events
from textual.drivers.linux_driver import LinuxDriver
from textual.message import Message

#: Seconds after a resume during which a newline (ctrl+j) is read as Enter.
RESUME_WINDOW = 1.0


class ResumingDriver(LinuxDriver):
    """LinuxDriver that resumes once per suspend, and mends Enter typed while resuming."""

    _suspended = False
    _resumed_at: float | None = None

    def _sigtstp_application(self, *_: object) -> None:
        if self._auto_restart and not self._suspended:
            self.suspend_application_mode()
            self._suspended = True
            self._must_signal_resume = True
        os.kill(os.getpid(), signal.SIGSTOP)

    def _sigcont_application(self, *_: object) -> None:
        if not (self._auto_restart and self._suspended) or self._input_running():
            return  # not stopped by us, or running already: a second resume would read twice
        self._resumed_at = time.monotonic()
        self.resume_application_mode()
        # Continued in the background (`bg`), start_application_mode stops again before it
        # starts reading: still suspended then, and the next SIGCONT (`fg`) resumes.
        self._suspended = not self._input_running()

    def _input_running(self) -> bool:
        thread = self._key_thread
        return thread is not None and thread.is_alive()

    def process_message(self, message: Message) -> None:
        if (
            isinstance(message, events.Key)
            and message.key == "ctrl+j"
            and self._resumed_at is not None
            and time.monotonic() - self._resumed_at < RESUME_WINDOW
        ):
            message = events.Key("enter", "\r")
        super().process_message(message)
