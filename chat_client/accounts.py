"""Accounts on the client side: where the account password comes from, and what errors mean.

The account password is never a command-line value (it would show in `ps`): it is read from
`--account-password-file FILE` or the `WIRECHAT_ACCOUNT_PASSWORD` environment variable, typed
into the connect form, or given with `/login PASSWORD` (see docs/client.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from chat_client.moderation import explain_error
from protocol import Error, ErrorCode

ENV_VAR = "WIRECHAT_ACCOUNT_PASSWORD"
#: What `hello.auth.password` takes (protocol.Auth).
MAX_PASSWORD = 256
#: A password file is a secret, not a document: anything longer is not one.
MAX_FILE_BYTES = 4096


def check_password(password: str) -> str:
    """`password` if `hello.auth` can carry it; ValueError with a reason that never quotes it.

    Checked wherever a password comes in, so that no model's validation error (which quotes
    the value) can ever show it.
    """
    if not password:
        raise ValueError("the account password is empty")
    if len(password) > MAX_PASSWORD:
        raise ValueError(f"an account password is at most {MAX_PASSWORD} characters")
    return password


def read_password_file(path: str) -> str:
    """The first line of `path`, without its line break; ValueError with a reason otherwise.

    Only the line break is removed: spaces are part of the password.
    """
    try:
        with Path(path).open("rb") as file:
            data = file.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise ValueError(f"cannot read the account password file: {exc.strerror or exc}") from None
    if len(data) > MAX_FILE_BYTES:
        raise ValueError("the account password file is too large to hold a password")
    try:
        text = data.decode()
    except UnicodeDecodeError:
        raise ValueError("the account password file is not UTF-8 text") from None
    password = text.splitlines()[0] if text else ""
    if not password:
        raise ValueError("the account password file is empty")
    return check_password(password)


def account_password(file: str | None, environ: Mapping[str, str]) -> str | None:
    """The account password from `--account-password-file`, else from the environment."""
    if file is not None:
        return read_password_file(file)
    password = environ.get(ENV_VAR)
    return check_password(password) if password else None


#: How to log in, by where the user is.
LOGIN_HINTS = {
    "chat": "/login PASSWORD",
    "form": "the account password field",
    "plain": f"--account-password-file FILE or ${ENV_VAR} (or /login PASSWORD)",
}


def explain(error: Error, nick: str, where: str = "chat") -> str:
    """One line saying what an error means and what to do about it (untrusted parts kept).

    `where` is `chat`, `form` or `plain`: it picks the way to log in the line suggests.
    """
    hint = LOGIN_HINTS.get(where, LOGIN_HINTS["chat"])
    match error.code:
        case ErrorCode.NICK_REGISTERED:
            text = f"the nick {nick} belongs to an account: log in with {hint}"
        case ErrorCode.BAD_LOGIN:
            text = (
                f"login refused: wrong account password, or no account named {nick}; "
                f"try again with {hint}"
            )
        case ErrorCode.REPLACED:
            again = "ctrl+r or /login PASSWORD" if where == "chat" else "start the client again"
            text = (
                f"another login to your account took the nick {nick}; not reconnecting "
                f"(so two devices do not take turns): {again} to take it back"
            )
        case ErrorCode.NOT_LOGGED_IN:
            text = (
                "not logged in: /register PASSWORD makes your nick an account, "
                "/login PASSWORD logs in to it"
            )
        case ErrorCode.STORE_UNAVAILABLE:
            text = "the server cannot read its message store now, so history and search failed"
            if error.message:
                text += f" (server: {error.message})"
        case _:
            return explain_error(error) or f"{error.code}: {error.message}"
    return f"{error.code}: {text}"


__all__ = ["ENV_VAR", "account_password", "check_password", "explain", "read_password_file"]
