"""Moderation from the terminal client through the real server (in process), end to end.

Alice creates a room (a guest's room: its creator is op) and moderates bob, who is a raw
connection; the scripted cases of each frame are in test_app_moderation.py.
"""

from __future__ import annotations

from chat_client.widgets.member_list import MemberList
from protocol import Error, Join, Joined, Kicked, RoleChanged, Say
from tests.client.apptest import (
    chat,
    enter,
    make_app,
    peer,
    recv_until,
    started,
    text_of,
    wait_until,
)
from tests.client.inprocess import InProcessServer

SIZE = (120, 40)


async def test_an_op_keys_mutes_kicks_and_bans(server: InProcessServer) -> None:
    app = make_app(server.port, room="den")
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot, "den")
        members = chat(app).query_one(MemberList)
        await wait_until(pilot, lambda: "[op]" in str(chat(app).query_one("#topic").render()))
        await enter(pilot, "/key sesame")
        await wait_until(pilot, lambda: "alice set the modes: key set" in text_of(app, "den"))
        bob = await peer(server.port, "bob", room=None)
        await bob.send(Join(room="den"))
        refused = await recv_until(bob, lambda m: isinstance(m, Error))
        assert isinstance(refused, Error) and refused.code == "bad_key"
        await bob.send(Join(room="den", key="sesame"))
        await recv_until(bob, lambda m: isinstance(m, Joined))
        await wait_until(pilot, lambda: "bob" in members.nicks)
        assert members.nicks == ["alice", "bob"]  # the op first
        await enter(pilot, "/mute bob 10m")
        await recv_until(bob, lambda m: isinstance(m, RoleChanged) and m.muted)
        await wait_until(pilot, lambda: "alice muted bob" in text_of(app, "den"))
        await bob.send(Say(room="den", text="let me speak"))
        muted = await recv_until(bob, lambda m: isinstance(m, Error))
        assert isinstance(muted, Error) and muted.code == "muted"
        await enter(pilot, "/kick bob [b]enough[/b]")
        kicked = await recv_until(bob, lambda m: isinstance(m, Kicked))
        assert isinstance(kicked, Kicked) and kicked.reason == "[b]enough[/b]"
        await wait_until(pilot, lambda: "bob was kicked by alice" in text_of(app, "den"))
        assert "bob was kicked by alice ([b]enough[/b])" in text_of(app, "den")
        assert members.nicks == ["alice"]
        await enter(pilot, "/ban bob 1h flooding")
        await wait_until(pilot, lambda: "bans of #den: 1" in text_of(app, "den"))
        assert "nick:bob by alice" in text_of(app, "den")
        await bob.send(Join(room="den", key="sesame"))
        banned = await recv_until(bob, lambda m: isinstance(m, Error))
        assert isinstance(banned, Error) and banned.code == "banned"
        await enter(pilot, "/modlog")
        await wait_until(pilot, lambda: "moderation log of #den" in text_of(app, "den"))
        await enter(pilot, "/kill bob")
        await wait_until(pilot, lambda: "not_admin: for server admins only" in text_of(app, "den"))
        await bob.close()
