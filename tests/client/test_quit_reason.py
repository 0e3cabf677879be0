"""`/quit REASON`: a reason the server would refuse is left out, so quitting always works."""

from __future__ import annotations

import pytest

from chat_client.commands import quit_reason
from chat_client.plain import PlainClient
from protocol import Quit


@pytest.mark.parametrize("typed", [None, "", "   ", "bye\tnow", "wipe \x1b[2J", "\u202eevil"])
def test_a_reason_the_server_refuses_is_left_out(typed: str | None) -> None:
    assert quit_reason(typed) is None


def test_a_plain_reason_is_sent_as_typed_and_a_long_one_cut_to_256() -> None:
    assert quit_reason("  see you tomorrow ") == "see you tomorrow"
    assert quit_reason("x" * 300) == "x" * 256


def test_plain_mode_quits_without_a_reason_it_cannot_send() -> None:
    client = PlainClient(None)
    assert client.parse("/quit bye\tnow\n") == Quit()
    assert client.parse("/quit later\n") == Quit(reason="later")
