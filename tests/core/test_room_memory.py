"""Which rooms a server with a database remembers, and when it forgets them (--room-ttl)."""

from __future__ import annotations

import pathlib
import time

from tests.store.harness import client, make_hub, settled

DAY = 86400.0


def test_an_empty_room_with_history_stays_and_is_listed_with_no_members(
    tmp_path: pathlib.Path,
) -> None:
    hub, _ = make_hub(tmp_path / "db")
    try:
        alice = client(hub, "alice", "kept")
        alice.send("say", room="kept", text="remember me")
        alice.next_of("message")
        alice.send("leave", room="kept")
        alice.next_of("left")
        alice.send("rooms")
        assert alice.next_of("room_list")["rooms"] == [{"name": "kept", "members": 0, "topic": ""}]
    finally:
        hub.shutdown()


def test_a_room_that_never_had_a_message_or_topic_goes_with_its_last_member(
    tmp_path: pathlib.Path,
) -> None:
    hub, _ = make_hub(tmp_path / "db")
    try:
        alice = client(hub, "alice", "typo")
        alice.send("leave", room="typo")
        alice.next_of("left")
        alice.send("rooms")
        assert alice.next_of("room_list")["rooms"] == []
    finally:
        hub.shutdown()
    hub, _ = make_hub(tmp_path / "db")  # and it is not in the database either
    try:
        assert len(hub.rooms) == 0
    finally:
        hub.shutdown()


def test_an_empty_room_quiet_for_longer_than_the_ttl_is_forgotten_with_its_history(
    tmp_path: pathlib.Path,
) -> None:
    hub, _ = make_hub(tmp_path / "db", room_ttl_days=30)
    try:
        alice = client(hub, "alice", "old")
        client(hub, "bob", "busy")  # stays in its room: never forgotten
        for room in ("old", "quiet"):
            alice.send("join", room=room)
            alice.send("say", room=room, text=f"in {room}")
            alice.send("leave", room=room)
        alice.pending()
        now = time.time()
        hub.rooms.get("old").last_active = now - 31 * DAY  # type: ignore[union-attr]
        hub.rooms.get("quiet").last_active = now - 29 * DAY  # type: ignore[union-attr]
        hub.rooms.get("busy").last_active = now - 90 * DAY  # type: ignore[union-attr]
        hub.prune_rooms(now)
        settled(hub)
        alice.send("rooms")
        assert sorted(r["name"] for r in alice.next_of("room_list")["rooms"]) == [
            "busy",
            "quiet",
        ]
    finally:
        hub.shutdown()
    hub, _ = make_hub(tmp_path / "db")
    try:
        assert hub.rooms.get("old") is None and hub.rooms.get("quiet") is not None
        carol = client(hub, "carol", "old")  # a new room of that name starts empty
        carol.send("history", room="old")
        page = carol.next_of("history")
        assert page["messages"] == [] and page["complete"] is True
    finally:
        hub.shutdown()
