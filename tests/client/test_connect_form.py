"""The connect form on a small terminal: every field and the Connect button can be reached with
the keyboard and are in sight when focused; keys typed as soon as it opens are kept."""

from __future__ import annotations

import pytest
from textual.widgets import Button, Input

from chat_client.app import ChatApp
from chat_client.screens.connect import ConnectScreen
from tests.client.apptest import form_shown, started, wait_until
from tests.client.inprocess import InProcessServer
from tests.client.test_first_run import free_port

FIELDS = ["host", "port", "nick", "account-password", "room", "room-key", "connect"]


def form_app(port: int) -> ChatApp:
    return ChatApp("127.0.0.1", port, None, None, cursor_blink=False)


@pytest.mark.parametrize("size", [(80, 24), (80, 20), (140, 40)])
async def test_every_field_is_reachable_and_in_sight(size: tuple[int, int]) -> None:
    app = form_app(free_port())
    async with app.run_test(size=size) as pilot:
        await wait_until(pilot, lambda: form_shown(app))
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, ConnectScreen)
        seen = []
        for _ in range(len(FIELDS) + 2):
            focused = app.focused
            assert focused is not None
            await pilot.pause()
            region = focused.region
            # On screen, above the footer, whole.
            assert region.height > 0 and region.y >= 0, (focused.id, region)
            assert region.bottom <= size[1] - 1, (focused.id, region, size)
            if focused.id not in seen:
                seen.append(focused.id)
            await pilot.press("tab")
        assert set(FIELDS) <= set(seen), seen
        # Back up with shift+tab to the host field: still in sight.
        while app.focused is not None and app.focused.id != "host":
            await pilot.press("shift+tab")
        await pilot.pause()
        host = screen.query_one("#host", Input)
        assert host.region.y >= 0 and host.region.bottom <= size[1] - 1


async def test_the_connect_button_connects_from_the_keyboard(server: InProcessServer) -> None:
    app = form_app(server.port)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: form_shown(app))
        screen = app.screen
        screen.query_one("#nick", Input).value = "alice"
        screen.query_one("#room", Input).value = "lobby"
        while not isinstance(app.focused, Button):
            await pilot.press("tab")
        await pilot.pause()
        button = app.focused
        assert button.region.bottom <= 23
        await pilot.press("enter")
        await started(pilot)


async def test_keys_typed_as_the_form_opens_are_kept() -> None:
    app = form_app(free_port())
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press(*"bob-fast")  # at once: the form may not be up yet
        await wait_until(pilot, lambda: form_shown(app))
        await pilot.pause()
        nick = app.screen.query_one("#nick", Input)
        assert nick.value.endswith("bob-fast"), nick.value


async def test_a_burst_of_keys_with_tabs_fills_the_fields_in_order() -> None:
    """`tmux send-keys alice Tab 6000`, fast typing: keys after a tab go to the next field."""
    from textual import events

    app = form_app(free_port())
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: form_shown(app))
        await pilot.pause()
        screen = app.screen
        screen.query_one("#nick", Input).value = ""
        keys = [*"bob", "tab", *"pw", "tab", *"dev"]
        for key in keys:
            char = "\t" if key == "tab" else key
            app.post_message(events.Key(key, char))
        await pilot.pause(0.3)
        assert screen.query_one("#nick", Input).value == "bob"
        assert screen.query_one("#account-password", Input).value == "pw"
        assert screen.query_one("#room", Input).value == "dev"
