"""The app shutting down while the server still talks: late events are dropped, not a crash."""

from __future__ import annotations

import asyncio

from protocol import Say
from tests.client.apptest import make_app, peer, started
from tests.client.inprocess import InProcessServer

SIZE = (120, 40)


async def test_events_arriving_during_shutdown_do_not_fail_the_network_worker(
    server: InProcessServer,
) -> None:
    # Leaving run_test shuts the app down without quitting the session (as any exit that
    # skips /quit does): its widgets go first, its network worker is cancelled after. bob
    # keeps talking all the while, so messages arrive in between.
    bob = await peer(server.port, "bob")

    async def chatter() -> None:
        n = 0
        while True:
            await bob.send(Say(room="lobby", text=f"line {n}"))
            n += 1
            await asyncio.sleep(0)

    for _ in range(5):
        app = make_app(server.port)
        async with app.run_test(size=SIZE) as pilot:
            await started(pilot)
            talking = asyncio.create_task(chatter())
            await pilot.pause(0.05)
        talking.cancel()
        await asyncio.gather(talking, return_exceptions=True)
    await bob.close()
