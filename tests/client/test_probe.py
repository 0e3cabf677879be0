"""`chat-client --probe HOST[:PORT]` against a real StatusProbe, a silent port and a closed one."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator

import pytest

from chat_client.cli import main
from chat_client.probe import duration, probe_target, status_lines
from chat_server.probe import StatusProbe

STATUS: dict[str, object] = {
    "name": "wirechat",
    "version": "0.1.0",
    "backend": "asyncio",
    "protocol": 1,
    "users": 12,
    "rooms": 4,
    "uptime": 90061,
    "listeners": ["tcp://chat.example.org:8089", "tcp://[::1]:8089"],
}


def _started(host: str, status: Callable[[], dict[str, object]]) -> StatusProbe:
    probe = StatusProbe(host, 0, status)
    try:
        probe.start()
    except OSError as exc:  # no IPv6 on this machine, say
        pytest.skip(f"cannot bind a UDP socket on {host}: {exc}")
    return probe


@pytest.fixture
def status_probe() -> Iterator[StatusProbe]:
    probe = _started("127.0.0.1", lambda: STATUS)
    yield probe
    probe.stop()


def test_probe_prints_the_status_and_round_trip(
    status_probe: StatusProbe, capsys: pytest.CaptureFixture[str]
) -> None:
    port = status_probe.address[1]
    assert main(["--probe", f"127.0.0.1:{port}", "--probe-timeout", "5"]) == 0
    out, err = capsys.readouterr()
    lines = out.splitlines()
    assert lines[0].startswith(f"wirechat 0.1.0 at 127.0.0.1:{port}: answered in ")
    assert lines[0].endswith(" ms")
    assert "  backend:   asyncio" in lines
    assert "  protocol:  1" in lines
    assert "  users:     12" in lines
    assert "  rooms:     4" in lines
    assert "  uptime:    1d 1h 1m 1s" in lines
    assert "  listeners: tcp://chat.example.org:8089, tcp://[::1]:8089" in lines
    assert err == ""


def test_probe_over_ipv6(capsys: pytest.CaptureFixture[str]) -> None:
    probe = _started("::1", lambda: STATUS)
    try:
        port = probe.address[1]
        assert main(["--probe", f"[::1]:{port}", "--probe-timeout", "5"]) == 0
    finally:
        probe.stop()
    assert capsys.readouterr().out.startswith(f"wirechat 0.1.0 at [::1]:{port}: answered in ")


def test_a_hostile_status_is_printed_inert(capsys: pytest.CaptureFixture[str]) -> None:
    hostile: dict[str, object] = {
        "name": "evil\x1b]0;owned\x07",
        "version": "\u202e1",
        "backend": {"nested": "\x1b[2J"},
        "listeners": "tcp://\x9bx",
        "uptime": -5,
    }
    probe = _started("127.0.0.1", lambda: hostile)
    try:
        assert main(["--probe", f"127.0.0.1:{probe.address[1]}", "--probe-timeout", "5"]) == 0
    finally:
        probe.stop()
    out = capsys.readouterr().out
    for bad in ("\x1b", "\x07", "\u202e", "\x9b"):
        assert bad not in out
    assert out.startswith("evil\\x1b]0;owned\\x07 \\u202e1 at ")
    assert "  uptime:    -5" in out.splitlines()


def test_a_silent_port_times_out_in_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
        silent.bind(("127.0.0.1", 0))  # bound, so no ICMP refusal; never answers
        port = silent.getsockname()[1]
        assert main(["--probe", f"127.0.0.1:{port}", "--probe-timeout", "0.3"]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("\n") == 1
    assert err.startswith(f"! probe failed: no answer from 127.0.0.1:{port} within 0.3 s")


def test_a_closed_port_and_a_bad_address_fail_in_one_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as gone:
        gone.bind(("127.0.0.1", 0))
        port = gone.getsockname()[1]
    assert main(["--probe", f"127.0.0.1:{port}", "--probe-timeout", "2"]) == 1
    assert main(["--probe", "host:http"]) == 1
    assert main(["--probe", "a" * 300, "--probe-timeout", "0.3"]) == 1  # too long to resolve
    out, err = capsys.readouterr()
    assert out == ""
    lines = err.splitlines()
    assert len(lines) == 3
    assert lines[0] in (
        f"! probe failed: 127.0.0.1:{port} refused the probe: nothing listens on that UDP port",
        # Without the ICMP refusal (a firewall dropping it), the wait runs out instead.
        f"! probe failed: no answer from 127.0.0.1:{port} within 2 s (no status probe there, "
        "the datagram was lost, or the server is rate-limiting this address)",
    )
    assert lines[1] == "! probe: 'http' is not a port number (1 to 65535)"
    assert lines[2].startswith("! probe failed: cannot probe ")


def test_probe_targets() -> None:
    assert probe_target("chat.example.org", 8089) == ("chat.example.org", 8089)
    assert probe_target("chat.example.org:9000", 8089) == ("chat.example.org", 9000)
    assert probe_target("[::1]:9000", 8089) == ("::1", 9000)
    assert probe_target("[::1]", 8089) == ("::1", 8089)
    assert probe_target("fe80::1", 8089) == ("fe80::1", 8089)
    for bad in ("", ":9000", "[::1", "[]:1", "[::1]9000", "h:0", "h:65536", "h:-1"):
        with pytest.raises(ValueError):
            probe_target(bad, 8089)


def test_status_lines_leave_out_what_a_trimmed_reply_dropped() -> None:
    lines = status_lines({"name": "w", "version": "1", "protocol": 1}, 0.0123, "h", 1)
    assert lines == ["w 1 at h:1: answered in 12.3 ms", "  protocol:  1"]
    assert duration(0) == "0s" and duration(61) == "1m 1s" and duration(3600) == "1h 0m 0s"
