"""The chat core on its own: no sockets, a fake IO per connection, a fake clock."""

from __future__ import annotations

import json

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from chat_server.core import Connection, Phase
from protocol import Ping, frame
from protocol.names import name_key
from tests.core.harness import FakeIO, connect, make_hub, send


def test_one_wakeup_per_flush_however_many_frames() -> None:
    hub, _ = make_hub()
    alice, alice_io = connect(hub, "alice")
    bob, bob_io = connect(hub, "bob")
    for conn in (alice, bob):
        send(hub, conn, {"type": "join", "room": "r"})
    alice_io.drain()
    bob_io.drain()
    before = bob_io.wakeups
    burst = b"".join(
        frame(json.dumps({"type": "say", "room": "r", "text": f"m{i}"}).encode()) for i in range(50)
    )
    hub.receive(alice, burst)
    assert bob_io.wakeups == before + 1
    assert [m["text"] for m in bob_io.drain()] == [f"m{i}" for i in range(50)]


def test_the_same_bytes_go_to_every_recipient() -> None:
    hub, _ = make_hub()
    conns = [connect(hub, f"u{i}") for i in range(3)]
    for conn, _io in conns:
        send(hub, conn, {"type": "join", "room": "r"})
    for _, io in conns:
        io.drain()
    send(hub, conns[0][0], {"type": "say", "room": "r", "text": "shared"})
    frames = [conn.out[0] for conn, _ in conns]
    assert frames[0] is frames[1] is frames[2]


def test_slow_consumer_is_dropped_and_the_room_goes_on() -> None:
    hub, _ = make_hub(max_outbuf=4096, outbuf_hard=16384)
    talker, talker_io = connect(hub, "talker")
    sleeper, sleeper_io = connect(hub, "sleeper")
    for conn in (talker, sleeper):
        send(hub, conn, {"type": "join", "room": "r"})
    talker_io.drain()
    sleeper_io.drain()
    for _i in range(100):  # the sleeper never drains
        send(hub, talker, {"type": "say", "room": "r", "text": "x" * 100})
        talker_io.drain()
    assert sleeper.closed
    last = sleeper_io.drain()
    assert last == [
        {
            "type": "error",
            "code": "slow_consumer",
            "message": "more than 16384 bytes waiting to be read; disconnected",
            "fatal": True,
        }
    ]
    left = [m for m in talker_io.received if m["type"] == "left"]
    assert left == [{**left[0], "nick": "sleeper", "reason": "slow_consumer"}]
    assert [c.nick for c in hub.connections.values()] == ["talker"] and len(hub.nicks) == 1


def test_backend_backlog_over_the_hard_cap_cuts_at_once() -> None:
    hub, _ = make_hub(max_outbuf=1000, outbuf_hard=4000)
    conn, io = connect(hub, "a")
    hub.check_backlog(conn, 3999)
    assert not conn.closed
    hub.check_backlog(conn, 4001)
    assert conn.closed and conn.reset and io.drain()[-1]["code"] == "slow_consumer"


def test_backlog_over_the_soft_cap_is_tolerated_for_a_while() -> None:
    hub, clock = make_hub(max_outbuf=1000, outbuf_hard=4000, outbuf_soft_seconds=10)
    paused, _paused_io = connect(hub, "paused")
    stopped, stopped_io = connect(hub, "stopped")
    for conn in (paused, stopped):
        hub.check_backlog(conn, 2000)
    clock.now += 6
    hub.check_backlog(paused, 900)  # it read some: below the soft cap again
    hub.tick()
    assert not paused.closed and not stopped.closed
    hub.check_backlog(paused, 1500)  # over again: a new period starts
    clock.now += 5
    hub.tick()
    assert stopped.closed and stopped.reset and not paused.closed
    assert "for 10 seconds" in stopped_io.drain()[-1]["message"]


def test_idle_connections_are_reaped() -> None:
    hub, clock = make_hub(idle_timeout=60)
    quiet, quiet_io = connect(hub, "quiet")
    chatty, _ = connect(hub, "chatty")
    clock.now += 45
    send(hub, chatty, {"type": "ping", "token": "t"})
    clock.now += 30
    hub.reap_idle()
    assert quiet.closed and not chatty.closed
    assert quiet_io.drain()[-1]["code"] == "idle_timeout"


def test_shutdown_says_bye_to_everyone() -> None:
    hub, _ = make_hub()
    a, a_io = connect(hub, "a")
    b, b_io = connect(hub)
    hub.shutdown("maintenance")
    for conn, io in ((a, a_io), (b, b_io)):
        assert conn.closed
        assert io.drain()[-1] == {"type": "bye", "reason": "maintenance"}
    late, late_io = connect(hub)
    assert late.closed and late_io.drain()[-1]["code"] == "server_full"


def test_lost_is_idempotent() -> None:
    hub, _ = make_hub()
    a, _a_io = connect(hub, "a")
    b, b_io = connect(hub, "b")
    for conn in (a, b):
        send(hub, conn, {"type": "join", "room": "r"})
    b_io.drain()
    hub.lost(a)
    hub.lost(a)
    assert [m["type"] for m in b_io.drain()] == ["left"]


def test_unexpected_handler_failure_is_an_internal_error(monkeypatch) -> None:
    hub, _ = make_hub()
    conn, io = connect(hub, "a")

    def boom(*args: object) -> None:
        raise RuntimeError("bug")

    monkeypatch.setitem(hub._routes[Phase.REGISTERED], Ping, boom)
    send(hub, conn, {"type": "ping", "token": "x"})
    error = io.drain()[-1]
    assert error["code"] == "internal_error" and error["fatal"] is False
    assert not conn.closed


class HubMachine(RuleBasedStateMachine):
    """Random joins, leaves, says, renames and disconnects keep the core consistent."""

    NICKS = ("ann", "Ann", "bob", "cy", "dee")
    ROOMS = ("lobby", "LOBBY", "dev", "ops")

    def __init__(self) -> None:
        super().__init__()
        self.hub, _ = make_hub(history=5)
        self.clients: list[tuple[Connection, FakeIO]] = []

    @rule(nick=st.sampled_from(NICKS))
    def connect(self, nick: str) -> None:
        conn, io = connect(self.hub)
        send(self.hub, conn, {"type": "hello", "nick": nick, "protocol": 1})
        io.drain()
        self.clients.append((conn, io))

    @rule(i=st.integers(0, 20), room=st.sampled_from(ROOMS))
    def join(self, i: int, room: str) -> None:
        if self.clients:
            conn, _ = self.clients[i % len(self.clients)]
            send(self.hub, conn, {"type": "join", "room": room})

    @rule(i=st.integers(0, 20), room=st.sampled_from(ROOMS))
    def leave(self, i: int, room: str) -> None:
        if self.clients:
            conn, _ = self.clients[i % len(self.clients)]
            send(self.hub, conn, {"type": "leave", "room": room})

    @rule(i=st.integers(0, 20), room=st.sampled_from(ROOMS), text=st.text(min_size=1, max_size=5))
    def say(self, i: int, room: str, text: str) -> None:
        if self.clients:
            conn, _ = self.clients[i % len(self.clients)]
            send(self.hub, conn, {"type": "say", "room": room, "text": text})

    @rule(i=st.integers(0, 20), nick=st.sampled_from(NICKS))
    def rename(self, i: int, nick: str) -> None:
        if self.clients:
            conn, _ = self.clients[i % len(self.clients)]
            send(self.hub, conn, {"type": "nick", "nick": nick})

    @rule(i=st.integers(0, 20))
    def disconnect(self, i: int) -> None:
        if self.clients:
            conn, _ = self.clients.pop(i % len(self.clients))
            self.hub.lost(conn)

    @rule()
    def drain(self) -> None:
        for _, io in self.clients:
            io.drain()

    @invariant()
    def consistent(self) -> None:
        hub = self.hub
        for key, room in hub.rooms.rooms.items():
            assert room.members, "empty rooms are removed"
            assert key == room.key == name_key(room.name)
            assert room.count == len(room.members)
            for conn in room.members:
                assert not conn.closed and conn.rooms[key] is room
            ids = hub.history.ids(room)
            assert ids == sorted(ids) and len(ids) <= 5
        for conn in hub.connections.values():
            for key, room in conn.rooms.items():
                assert hub.rooms.get(key) is room and conn in room.members
        for key, conn in hub.nicks.by_key.items():
            assert conn.key == key and conn.nick is not None and name_key(conn.nick) == key
            assert not conn.closed
        assert len(hub.nicks) == len({c.key for c in hub.connections.values() if c.key})

    @invariant()
    def every_member_sees_messages_in_id_order(self) -> None:
        # Ids increase server-wide, so "sorted and unique for everyone" means every member
        # sees any two messages of a room in the same order.
        for _, io in self.clients:
            io.drain()
        for _, io in self.clients:
            seen: dict[str, list[int]] = {}
            for m in io.received:
                if m["type"] == "message":
                    seen.setdefault(m["room"], []).append(m["id"])
            for ids in seen.values():
                assert ids == sorted(ids) and len(set(ids)) == len(ids)


TestHubMachine = HubMachine.TestCase
TestHubMachine.settings = settings(max_examples=60, stateful_step_count=40, deadline=None)


def test_frames_after_quit_in_the_same_read_are_ignored() -> None:
    hub, _ = make_hub()
    watcher, _watcher_io = connect(hub, "watcher")
    send(hub, watcher, {"type": "join", "room": "r"})
    ghost, _ghost_io = connect(hub, "ghost")
    chunk = b"".join(
        frame(json.dumps(m).encode())
        for m in ({"type": "quit"}, {"type": "join", "room": "r"}, {"type": "join", "room": "s"})
    )
    hub.receive(ghost, chunk + (10**6).to_bytes(4, "big"))
    assert ghost.closed and ghost.rooms == {}
    assert list(hub.rooms.rooms) == ["r"] and list(hub.rooms.rooms["r"].members) == [watcher]


def test_one_read_of_many_small_frames_does_not_drop_healthy_members() -> None:
    # A read can queue several times its size for every member before the backend flushes:
    # that alone is not a slow consumer: the soft cap allows time, only the hard cap is at once.
    hub, _ = make_hub(max_outbuf=4096)
    sender, sender_io = connect(hub, "sender")
    reader, reader_io = connect(hub, "reader")
    for conn in (sender, reader):
        send(hub, conn, {"type": "join", "room": "r"})
    sender_io.drain()
    reader_io.drain()
    burst = b"".join(
        frame(json.dumps({"type": "say", "room": "r", "text": "x"}).encode()) for _ in range(40)
    )
    hub.receive(sender, burst)
    assert reader.out_bytes > 4096 and not reader.closed
    assert len([m for m in reader_io.drain() if m["type"] == "message"]) == 40
    hub.check_backlog(reader, 0)
    assert not reader.closed


def test_history_replay_fits_a_byte_budget() -> None:
    hub, _ = make_hub(max_outbuf=64 * 1024)
    writer, writer_io = connect(hub, "writer")
    send(hub, writer, {"type": "join", "room": "r"})
    for i in range(100):
        send(hub, writer, {"type": "say", "room": "r", "text": f"{i:03d}" + "é" * 3000})
        writer_io.drain()
    joiner, joiner_io = connect(hub, "joiner")
    send(hub, joiner, {"type": "join", "room": "r"})
    history = next(m for m in joiner_io.drain() if m["type"] == "history")
    texts = [m["text"][:3] for m in history["messages"]]
    assert 0 < len(texts) < 100
    assert texts == [f"{i:03d}" for i in range(100 - len(texts), 100)]  # the newest, in order
    assert not joiner.closed


def test_unregistered_connections_must_say_hello_in_time() -> None:
    hub, clock = make_hub(hello_timeout=10, idle_timeout=300)
    lurker, lurker_io = connect(hub)
    member, _ = connect(hub, "member")
    for _ in range(3):  # pings keep it active, but do not register it
        clock.now += 4
        send(hub, lurker, {"type": "ping", "token": "t"})
        hub.reap_idle()
    assert lurker.closed and not member.closed
    assert lurker_io.drain()[-1]["code"] == "idle_timeout"


def test_a_trickle_of_bytes_is_not_activity() -> None:
    hub, clock = make_hub(idle_timeout=60)
    slowpoke, _ = connect(hub, "slowpoke")
    data = frame(json.dumps({"type": "ping", "token": "t"}).encode())
    for byte in data[:-1]:  # never completes a frame
        clock.now += 10
        hub.receive(slowpoke, bytes([byte]))
        hub.reap_idle()
        if slowpoke.closed:
            break
    assert slowpoke.closed
