"""Presence over real sockets, on every backend: `away` reaches each member sharing a room once
and shows in `members`, `whois` answers, and a `dm` can be an action.

The rules one by one are tested in process (tests/core/test_presence.py).
"""

from __future__ import annotations

from tests.conftest import ConnectFactory


async def test_away_and_whois_cross_the_wire(connect: ConnectFactory, unique) -> None:
    one, two = unique("pres"), unique("pres")
    ann = await connect("ann", one)
    await ann.join(two)
    bob = await connect("bob", one)
    await bob.join(two)  # shares both rooms with ann
    await ann.sync()

    await ann.send("away", message="lunch")
    changed = await ann.expect("away_changed")
    assert changed == {"type": "away_changed", "nick": ann.nick, "message": "lunch"}
    seen = await bob.sync()
    assert [m for m in seen if m["type"] == "away_changed"] == [changed]  # once, not twice
    await bob.send("who", room=one)
    assert (await bob.expect("members", room=one))["away"] == [ann.nick]

    await bob.send("whois", nick=ann.nick)
    reply = await bob.expect("whois_reply")
    assert reply["nick"] == ann.nick and reply["away"] == "lunch"
    assert reply["rooms"] == [one, two] and isinstance(reply["connected"], str)
    await bob.send("whois", nick=unique("nobody"))
    assert (await bob.expect("error"))["code"] == "no_such_nick"

    await ann.send("away")
    assert await bob.expect("away_changed", nick=ann.nick) == {
        "type": "away_changed",
        "nick": ann.nick,
    }
    await ann.send("dm", to=bob.nick, text="waves", action=True)
    assert (await bob.expect("dm"))["action"] is True
