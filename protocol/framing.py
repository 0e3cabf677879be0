"""Length-prefixed framing: an incremental sans-IO decoder and the frame encoder.

A frame is a 4-byte unsigned big-endian length N followed by N bytes of UTF-8 JSON. The
decoder is fed arbitrary chunks and yields complete bodies; it checks every announced length
against its limit before buffering the body, so a hostile length never allocates anything.
"""

from __future__ import annotations

from protocol.base import WireMessage as _Message
from protocol.errors import ErrorCode, ProtocolError
from protocol.messages import encode_body

HEADER_SIZE = 4
DEFAULT_MAX_FRAME = 65536
MAX_FRAME_LIMIT = 2**32 - 1


def frame(body: bytes) -> bytes:
    """Prefix a body with its length."""
    return len(body).to_bytes(HEADER_SIZE, "big") + body


def encode(message: _Message) -> bytes:
    """Encode a message as one complete frame, ready to be written as is."""
    return frame(encode_body(message))


class FrameTooLarge(ProtocolError):
    """An announced length over the limit. `frames` holds the bodies completed before it."""

    def __init__(self, message: str, frames: list[bytes]) -> None:
        super().__init__(ErrorCode.FRAME_TOO_LARGE, message, fatal=True)
        self.frames = frames


class FrameDecoder:
    """Turns a byte stream into frame bodies.

    Call `feed(data)` with whatever the transport delivered; it returns the completed bodies.
    A length over `max_frame` raises FrameTooLarge, which is fatal: the caller should still
    handle `exc.frames` (complete bodies that preceded it), then send the error and close; the
    decoder refuses any further data.
    """

    __slots__ = ("_buffer", "_failed", "max_frame")

    def __init__(self, max_frame: int = DEFAULT_MAX_FRAME) -> None:
        if not 0 < max_frame <= MAX_FRAME_LIMIT:
            raise ValueError(f"max_frame must be between 1 and {MAX_FRAME_LIMIT}")
        self.max_frame = max_frame
        self._buffer = bytearray()
        self._failed = False

    @property
    def buffered(self) -> int:
        """Bytes received that do not yet form a complete frame."""
        return len(self._buffer)

    def feed(self, data: bytes) -> list[bytes]:
        """Add data and return every body it completed, oldest first."""
        if self._failed:
            raise FrameTooLarge("decoder closed after a fatal error", [])
        buffer = self._buffer
        if not buffer:
            # Fast path: parse straight out of the chunk, buffering only an incomplete tail.
            bodies, offset = self._split(data)
            if offset < len(data):
                buffer += data[offset:]
            return bodies
        buffer += data
        bodies, offset = self._split(buffer)
        del buffer[:offset]
        return bodies

    def _split(self, data: bytes | bytearray) -> tuple[list[bytes], int]:
        bodies: list[bytes] = []
        offset = 0
        end = len(data)
        limit = self.max_frame
        while end - offset >= HEADER_SIZE:
            length = int.from_bytes(data[offset : offset + HEADER_SIZE], "big")
            if length > limit:
                self._failed = True
                self._buffer.clear()
                raise FrameTooLarge(
                    f"frame of {length} bytes exceeds the limit of {limit} bytes", bodies
                )
            stop = offset + HEADER_SIZE + length
            if stop > end:
                break
            bodies.append(bytes(data[offset + HEADER_SIZE : stop]))
            offset = stop
        return bodies, offset
