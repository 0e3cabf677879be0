"""Helper threads of the core (the store's writer and readers, the password hasher)."""

from __future__ import annotations

import signal

#: The signals that stop a server: only the thread that serves takes them.
STOP_SIGNALS = {signal.SIGINT, signal.SIGTERM}
#: What that thread takes: the stop signals and SIGHUP, which reloads the settings.
SERVING_SIGNALS = {*STOP_SIGNALS, signal.SIGHUP}


def ignore_stop_signals() -> None:
    """Run first in every helper thread: a stop or reload signal must reach the thread that
    waits for it (the thread backends block them there and `sigwait`), never kill the
    process through a thread that did not block them (SIGHUP's default is to terminate)."""
    signal.pthread_sigmask(signal.SIG_BLOCK, SERVING_SIGNALS)
