"""Render docs/screenshot.svg from the real client talking to a local server on a free port."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
from pathlib import Path

from chat_client.app import ChatApp
from chat_client.net import ChatConnection
from protocol import Join, Say, SendDm, SetTopic

ROOT = Path(__file__).resolve().parent.parent


async def main() -> None:
    server = subprocess.Popen(
        [sys.executable, "-m", "chat_server", "--host", "127.0.0.1", "--port", "0"],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stderr is not None
        match = None
        while match is None:
            line = server.stderr.readline()
            if not line:
                raise SystemExit("server did not start")
            match = re.search(r"listening on [0-9.]+:(\d+)", line)
        port = int(match.group(1))
        friends = []
        for nick in ("bob", "carol", "dave"):
            conn = await ChatConnection.open("127.0.0.1", port)
            await conn.hello(nick)
            await conn.send(Join(room="lobby"))
            friends.append(conn)
        bob, carol, dave = friends
        await bob.send(SetTopic(room="lobby", topic="wirechat: chat over long-lived TCP"))
        await bob.send(Say(room="lobby", text="morning all"))
        await asyncio.sleep(0.05)
        await carol.send(Say(room="lobby", text="hi bob! did the new backend land?"))
        await asyncio.sleep(0.05)
        await bob.send(Say(room="lobby", text="yes, asyncio is the default now"))
        await asyncio.sleep(0.2)
        app = ChatApp("127.0.0.1", port, "alice", "lobby", cursor_blink=False)
        async with app.run_test(size=(120, 32)) as pilot:
            await pilot.pause(0.5)
            await dave.send(Say(room="lobby", text="hey alice, welcome"))
            await dave.send(Say(room="lobby", text="grabs a coffee", action=True))
            await pilot.pause(0.2)
            screen = app.screen
            screen.run_line("thanks! reading the history now")  # type: ignore[attr-defined]
            await pilot.pause(0.2)
            await carol.send(Say(room="lobby", text="[bold]markup[/] stays text here"))
            await bob.send(SendDm(to="alice", text="lunch later?"))
            await pilot.pause(0.5)
            await pilot.press(*"see you at noon")
            await pilot.pause(0.2)
            app.save_screenshot("screenshot.svg", path=str(ROOT / "docs"))
        for conn in friends:
            await conn.close()
    finally:
        server.terminate()
        server.wait(5)


if __name__ == "__main__":
    asyncio.run(main())
