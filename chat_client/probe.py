"""`chat-client --probe HOST[:PORT]`: ask a server's UDP status probe how it is, and print it.

The asking is `chat_server.probe.probe` (one padded datagram, one reply); this module reads the
address the user typed and turns the reply into a few lines. Everything in the reply comes
from the other end, so every value is printed inert (`chat_client.text.inert`), whatever its
JSON type, and a field the server left out (a reply is cut down to fit) is simply not shown.
"""

from __future__ import annotations

from collections.abc import Callable

from chat_client.text import inert

#: What `--probe` waits for an answer by default, in seconds.
PROBE_TIMEOUT = 2.0

#: The fields shown, in order, each with its label.
_FIELDS = (
    ("backend", "backend"),
    ("protocol", "protocol"),
    ("users", "users"),
    ("rooms", "rooms"),
    ("uptime", "uptime"),
    ("listeners", "listeners"),
)


def probe_target(text: str, default_port: int) -> tuple[str, int]:
    """HOST and PORT of `HOST`, `HOST:PORT`, `[IPV6]`, `[IPV6]:PORT` or a bare IPv6 address.

    Raises ValueError with a one-line reason.
    """
    text = text.strip()
    if text.startswith("["):
        host, bracket, rest = text[1:].partition("]")
        if not bracket or not host or (rest and not rest.startswith(":")):
            raise ValueError(f"{text!r} is not HOST[:PORT] (IPv6 as [ADDRESS]:PORT)")
        port_text = rest[1:] if rest else ""
    elif text.count(":") > 1:
        host, port_text = text, ""  # a bare IPv6 address: no port can follow it unbracketed
    else:
        host, _, port_text = text.partition(":")
    if not host:
        raise ValueError(f"{text!r} is not HOST[:PORT]")
    if not port_text:
        return host, default_port
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ValueError(f"{port_text!r} is not a port number (1 to 65535)")
    return host, int(port_text)


def where(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def duration(seconds: int) -> str:
    """`3d 4h 5m 6s`, leaving out the leading units that are zero."""
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [(days, "d"), (hours, "h"), (minutes, "m"), (secs, "s")]
    while len(parts) > 1 and parts[0][0] == 0:
        parts.pop(0)
    return " ".join(f"{value}{unit}" for value, unit in parts)


def _value(key: str, value: object) -> str:
    if key == "uptime" and isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return duration(value)
    if key == "listeners" and isinstance(value, list):
        return ", ".join(inert(str(item)) for item in value) or "(none listed)"
    return inert(str(value))


def status_lines(status: dict[str, object], rtt: float, host: str, port: int) -> list[str]:
    """The reply as lines to print: a heading with the name, version and round trip, then one
    `label: value` line per field the reply has."""
    name = inert(str(status.get("name", "?")))
    version = inert(str(status.get("version", "?")))
    lines = [f"{name} {version} at {inert(where(host, port))}: answered in {rtt * 1000:.1f} ms"]
    width = max(len(label) for _, label in _FIELDS) + 1
    for key, label in _FIELDS:
        if key in status:
            lines.append(f"  {label + ':':<{width}} {_value(key, status[key])}")
    return lines


def run_probe(
    target: str,
    timeout: float = PROBE_TIMEOUT,
    out: Callable[[str], None] = print,
    err: Callable[[str], None] = print,
) -> int:
    """Probe `target` (HOST[:PORT]) and print what it said (0), or why it did not (1)."""
    from chat_server.probe import DEFAULT_PORT, ProbeError, probe

    try:
        host, port = probe_target(target, DEFAULT_PORT)
    except ValueError as exc:
        err(f"! probe: {inert(str(exc))}")
        return 1
    try:
        status, rtt = probe(host, port, timeout)
    except ProbeError as exc:  # ProbeTimeout included
        err(f"! probe failed: {inert(str(exc))}")
        return 1
    except (OSError, ValueError) as exc:  # a host name the resolver cannot even encode
        err(f"! probe failed: cannot probe {inert(where(host, port))}: {inert(str(exc))}")
        return 1
    for line in status_lines(status, rtt, host, port):
        out(line)
    return 0


__all__ = ["PROBE_TIMEOUT", "duration", "probe_target", "run_probe", "status_lines"]
