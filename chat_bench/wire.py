"""What the load generator writes and how it checks what it reads, without parsing every frame.

Every benchmark message carries a marker at the start of its 128-character text:
``p<publisher>s<sequence>`` followed by a space. Members find markers with one regular
expression over the raw byte stream (chat frames and Redis replies alike), so the per-message
cost stays in C. `OrderCheck` proves that nothing was lost or duplicated: every member must see
the same sequence of markers (a room has one order), and that sequence must hold each
publisher's messages exactly once, in order.
"""

from __future__ import annotations

import json
import re
from array import array
from bisect import bisect_right

from protocol.framing import frame

TEXT_SIZE = 128
MARKER = re.compile(rb'"text":"(p\d+s\d+) ')
_FINDALL = MARKER.findall
_MATCH = MARKER.match
_OPEN = b'"text":"p'
# A marker cut by the end of a read is completed by the next one; keep this much of the tail.
_TAIL = 48


def marker(publisher: int, seq: int) -> str:
    return f"p{publisher}s{seq}"


def text_for(publisher: int, seq: int) -> str:
    """A 128-character text that starts with the message's marker."""
    head = marker(publisher, seq) + " "
    return head + "x" * (TEXT_SIZE - len(head))


def split_marker(mark: bytes) -> tuple[int, int]:
    pub, _, seq = mark[1:].partition(b"s")
    return int(pub), int(seq)


class MarkerScanner:
    """Finds complete markers in a stream fed in arbitrary chunks (the scan itself runs in C)."""

    __slots__ = ("tail",)

    def __init__(self) -> None:
        self.tail = b""

    def feed(self, data: bytes) -> list[bytes]:
        if self.tail:
            data = self.tail + data
        found: list[bytes] = _FINDALL(data)
        last = data.rfind(_OPEN)
        match = _MATCH(data, last) if last >= 0 else None
        if last >= 0 and match is None and len(data) - last < _TAIL:
            self.tail = data[last:]  # a marker cut by the end of this read
        else:
            start = match.end() if match is not None else 0
            self.tail = data[max(start, len(data) - _TAIL) :]
        return found


class OrderCheck:
    """The one order of a room, learnt from whichever member is ahead, checked for every member."""

    __slots__ = ("order",)

    def __init__(self) -> None:
        self.order: list[bytes] = []

    def advance(self, position: int, marks: list[bytes]) -> int | None:
        """Check `marks` seen by a member at `position`; new position, or None on a mismatch."""
        order = self.order
        known = order[position : position + len(marks)]
        if known and known != marks[: len(known)]:
            return None
        if len(known) < len(marks):
            order.extend(marks[len(known) :])
        return position + len(marks)


class ReferenceStream:
    """The bytes every non-publishing member of a room must receive, learnt once, compared by all.

    Once the room is quiet except for its messages, each member that does not publish receives
    the very same bytes (the server encodes a message once for every recipient). The first member
    to receive a stretch appends it here and its markers are checked against the room's order;
    every other member compares what it reads with the same stretch. That is one memory compare
    per read instead of a scan, so the generator can keep up with far more deliveries.
    """

    __slots__ = ("base", "buf", "ends", "order", "position", "scan_from")

    def __init__(self, order: OrderCheck) -> None:
        self.buf = bytearray()
        self.base = 0  # stream offset of buf[0] (the prefix every member has read is dropped)
        self.scan_from = 0  # stream offset where the next marker scan starts
        self.ends = array("q")  # stream offset of the end of each marker, in order
        self.order = order
        self.position = 0  # markers of this stream in the room's order

    @property
    def length(self) -> int:
        return self.base + len(self.buf)

    def feed(self, offset: int, data: bytes) -> bool:
        """A member at stream `offset` read `data`: False if it differs from the others'."""
        start = offset - self.base
        if start < 0:
            raise ValueError("stream offset already dropped")
        known = len(self.buf) - start
        if known >= len(data):
            return self.buf[start : start + len(data)] == data
        if known > 0:
            if self.buf[start:] != data[:known]:
                return False
            data = data[known:]
        self.buf += data
        return self._scan()

    def _scan(self) -> bool:
        buf = self.buf
        base = self.base
        marks: list[bytes] = []
        ends = self.ends
        last = self.scan_from - base
        for match in MARKER.finditer(buf, last):
            marks.append(match.group(1))
            last = match.end()
            ends.append(base + last)
        self.scan_from = base + max(last, len(buf) - _TAIL)
        if not marks:
            return True
        position = self.order.advance(self.position, marks)
        if position is None:
            return False
        self.position = position
        return True

    def messages_before(self, offset: int) -> int:
        """How many messages a member has received once it has read up to `offset`."""
        return bisect_right(self.ends, offset)

    def drop_before(self, offset: int) -> None:
        """Forget bytes before `offset` (every member has read them)."""
        cut = min(offset, self.scan_from) - self.base
        if cut > 1 << 20:
            del self.buf[:cut]
            self.base += cut


def verify_order(order: list[bytes], sent: dict[int, int]) -> list[str]:
    """Problems with a room's final order given how many messages each publisher sent."""
    problems: list[str] = []
    expected = dict.fromkeys(sent, 0)
    for mark in order:
        pub, seq = split_marker(mark)
        if pub not in expected:
            problems.append(f"message {mark.decode()} from an unknown publisher")
        elif seq != expected[pub]:
            what = "duplicated" if seq < expected[pub] else "lost"
            problems.append(f"publisher {pub}: got #{seq}, expected #{expected[pub]} ({what})")
            expected[pub] = max(expected[pub], seq + 1)
        else:
            expected[pub] = seq + 1
        if len(problems) >= 10:
            break
    for pub, count in sent.items():
        if expected.get(pub, 0) < count and len(problems) < 10:
            problems.append(f"publisher {pub}: {count - expected.get(pub, 0)} messages lost")
    return problems


# ----------------------------------------------------------------- chat frames


def chat_frame(obj: dict[str, object]) -> bytes:
    return frame(json.dumps(obj, separators=(",", ":")).encode())


def chat_hello(nick: str) -> bytes:
    return chat_frame({"type": "hello", "nick": nick, "protocol": 1})


def chat_join(room: str) -> bytes:
    return chat_frame({"type": "join", "room": room})


def chat_say(room: str, text: str, ref: str | None = None) -> bytes:
    obj: dict[str, object] = {"type": "say", "room": room, "text": text}
    if ref is not None:
        obj["ref"] = ref
    return chat_frame(obj)


def chat_ping(token: str) -> bytes:
    return chat_frame({"type": "ping", "token": token})


def chat_quit() -> bytes:
    return chat_frame({"type": "quit"})


class FrameReader:
    """Decodes chat frames into dicts; used only where every frame matters (handshakes)."""

    __slots__ = ("buffer",)

    def __init__(self) -> None:
        self.buffer = bytearray()

    def feed(self, data: bytes) -> list[dict[str, object]]:
        buffer = self.buffer
        buffer += data
        out: list[dict[str, object]] = []
        offset = 0
        while len(buffer) - offset >= 4:
            length = int.from_bytes(buffer[offset : offset + 4], "big")
            if len(buffer) - offset - 4 < length:
                break
            out.append(json.loads(buffer[offset + 4 : offset + 4 + length]))
            offset += 4 + length
        del buffer[:offset]
        return out


# ----------------------------------------------------------------- Redis (RESP)


def resp(*parts: bytes) -> bytes:
    out = [b"*%d\r\n" % len(parts)]
    for part in parts:
        out.append(b"$%d\r\n%s\r\n" % (len(part), part))
    return b"".join(out)


def redis_payload(room: str, nick: str, text: str) -> bytes:
    """The same JSON body a chat server sends for a message, published as is."""
    body = {
        "type": "message",
        "id": 0,
        "room": room,
        "nick": nick,
        "text": text,
        "action": False,
        "ts": "1970-01-01T00:00:00.000Z",
    }
    return json.dumps(body, separators=(",", ":")).encode()
