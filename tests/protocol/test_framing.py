"""The frame decoder under random chunking, garbage and hostile lengths (property tests)."""

from __future__ import annotations

import itertools
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol import FrameDecoder, FrameTooLarge, frame

bodies = st.lists(st.binary(max_size=300), max_size=20)


def _chunks(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    edges = [0, *points, len(data)]
    return [data[a:b] for a, b in itertools.pairwise(edges)]


@given(bodies, st.lists(st.integers(min_value=0, max_value=10_000), max_size=30))
def test_any_chunking_yields_the_same_frames(items: list[bytes], cuts: list[int]) -> None:
    stream = b"".join(frame(b) for b in items)
    decoder = FrameDecoder(max_frame=300)
    out: list[bytes] = []
    for chunk in _chunks(stream, cuts):
        out.extend(decoder.feed(chunk))
    assert out == items
    assert decoder.buffered == 0


@given(st.binary(max_size=2000), st.lists(st.integers(min_value=0, max_value=5000), max_size=10))
@settings(max_examples=300)
def test_garbage_never_raises_anything_else_nor_buffers_too_much(
    garbage: bytes, cuts: list[int]
) -> None:
    decoder = FrameDecoder(max_frame=100)
    try:
        for chunk in _chunks(garbage, cuts):
            for body in decoder.feed(chunk):
                assert len(body) <= 100
            assert decoder.buffered <= 100 + 4 + len(chunk)
    except FrameTooLarge as exc:
        assert exc.fatal and exc.code == "frame_too_large"
        assert decoder.buffered == 0
        with pytest.raises(FrameTooLarge):
            decoder.feed(b"\x00\x00\x00\x00")


def test_oversized_length_fails_on_the_header_alone() -> None:
    decoder = FrameDecoder(max_frame=65536)
    with pytest.raises(FrameTooLarge) as info:
        decoder.feed(b"GET / HTTP/1.1\r\n")
    assert "exceeds" in str(info.value)
    assert decoder.buffered == 0


def test_frames_before_an_oversized_one_are_kept() -> None:
    decoder = FrameDecoder(max_frame=10)
    with pytest.raises(FrameTooLarge) as info:
        decoder.feed(frame(b"one") + frame(b"two") + struct.pack(">I", 11) + b"x" * 11)
    assert info.value.frames == [b"one", b"two"]


def test_length_at_the_limit_is_accepted() -> None:
    decoder = FrameDecoder(max_frame=5)
    assert decoder.feed(frame(b"12345")) == [b"12345"]
    assert decoder.feed(frame(b"")) == [b""]


def test_incomplete_header_waits() -> None:
    decoder = FrameDecoder()
    assert decoder.feed(b"\x00\x00") == []
    assert decoder.feed(b"\x00\x02h") == []
    assert decoder.feed(b"i") == [b"hi"]


@pytest.mark.parametrize("bad", [0, -1, 2**32])
def test_limit_must_be_sane(bad: int) -> None:
    with pytest.raises(ValueError):
        FrameDecoder(bad)
