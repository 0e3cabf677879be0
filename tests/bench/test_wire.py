"""The load generator's delivery check: markers across reads, one order, nothing lost twice."""

from __future__ import annotations

from chat_bench import wire


def _stream(marks: list[tuple[int, int]]) -> bytes:
    return b"".join(wire.chat_say("room", wire.text_for(p, s)) for p, s in marks)


def test_text_is_128_characters_and_starts_with_its_marker() -> None:
    text = wire.text_for(3, 1234)
    assert len(text) == wire.TEXT_SIZE
    assert text.startswith("p3s1234 ")


def test_scanner_finds_markers_cut_anywhere_by_reads() -> None:
    sent = [(p, s) for s in range(20) for p in range(3)]
    data = _stream(sent)
    expected = [wire.marker(p, s).encode() for p, s in sent]
    for size in (1, 2, 7, 64, 300, len(data)):
        scanner = wire.MarkerScanner()
        found: list[bytes] = []
        for i in range(0, len(data), size):
            found += scanner.feed(data[i : i + size])
        assert found == expected, size


def test_order_check_accepts_members_at_different_positions() -> None:
    check = wire.OrderCheck()
    a = check.advance(0, [b"p0s0", b"p1s0"])
    b = check.advance(0, [b"p0s0"])
    assert (a, b) == (2, 1)
    assert check.advance(1, [b"p1s0", b"p0s1"]) == 3
    assert check.order == [b"p0s0", b"p1s0", b"p0s1"]


def test_order_check_rejects_a_member_that_differs() -> None:
    check = wire.OrderCheck()
    check.advance(0, [b"p0s0", b"p0s1"])
    assert check.advance(0, [b"p0s1"]) is None  # p0s0 lost for this member
    assert check.advance(1, [b"p0s1", b"p0s1"]) == 3  # ahead: becomes the order...
    assert wire.verify_order(check.order, {0: 2})  # ...which then fails the final check


def test_verify_order_reports_lost_duplicated_and_unknown() -> None:
    assert wire.verify_order([b"p0s0", b"p1s0", b"p0s1"], {0: 2, 1: 1}) == []
    assert any("lost" in p for p in wire.verify_order([b"p0s0"], {0: 2}))
    assert any("lost" in p for p in wire.verify_order([b"p0s1"], {0: 2}))
    assert any("duplicated" in p for p in wire.verify_order([b"p0s0", b"p0s0"], {0: 1}))
    assert any("unknown" in p for p in wire.verify_order([b"p9s0"], {0: 0}))


def test_publishers_build_the_frames_the_wire_helpers_describe() -> None:
    from chat_bench.loadgen import Gen, Job, Member, Publisher

    class FakeGen(Gen):
        def __init__(self, job: Job) -> None:
            self.job = job
            self.loop = None  # type: ignore[assignment]

    for kind in ("chat", "redis"):
        gen = FakeGen(Job(scenario="fanout", kind=kind, host="", port=0))
        member = Member.__new__(Member)
        member.room, member.index, member.kind = "bench", 3, kind
        publisher = Publisher(gen, 3, member, None)  # type: ignore[arg-type]
        text = wire.text_for(3, 41)
        if kind == "chat":
            expected = wire.chat_say("bench", text, ref="3-41")
        else:
            payload = wire.redis_payload("bench", publisher.nick, text)
            expected = wire.resp(b"PUBLISH", b"bench", payload)
        assert publisher.build(41) == expected
