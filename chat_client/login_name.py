"""The nick to suggest when none is given: the user's login name, if a server would take it."""

from __future__ import annotations

import contextlib
import getpass
import os

from protocol.names import normalize_nick

#: The last resort: no login name can be found, or it cannot be a nick (`root` is reserved).
FALLBACK_NICK = "guest"


def _login_names() -> list[str]:
    """The login name from the environment ($LOGNAME, $USER, $LNAME, $USERNAME, as `getpass`
    reads them, then the password database), and from the password database alone (for an
    environment that names someone odd, or no one)."""
    names: list[str] = []
    # getpass raises OSError (KeyError before Python 3.13) with no variable and no entry.
    with contextlib.suppress(OSError, KeyError, ImportError):
        names.append(getpass.getuser())
    # No pwd module on Windows; no entry for our uid in a bare container.
    with contextlib.suppress(ImportError, KeyError, OSError):
        import pwd

        names.append(pwd.getpwuid(os.getuid()).pw_name)
    return names


def default_nick() -> str:
    """The login name as a nick (NFC, checked as the server checks it), or `guest`."""
    for name in _login_names():
        try:
            return normalize_nick(name.strip())
        except ValueError:
            continue
    return FALLBACK_NICK


def local_nick() -> str:
    """The nick for the server's Unix socket, which takes the peer's uid's login name as the
    identity: that name (the password database's first, which is what the server reads), or
    `NAME-local` when NAME itself cannot be a nick (`root` is reserved), else `default_nick`."""
    names = _login_names()[::-1]  # the password database's name first
    for name in names:
        for nick in (name.strip(), f"{name.strip()}-local"):
            with contextlib.suppress(ValueError):
                return normalize_nick(nick)
    return default_nick()


__all__ = ["FALLBACK_NICK", "default_nick", "local_nick"]
