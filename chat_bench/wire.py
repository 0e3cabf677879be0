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
