"""The connect form's status line: a server's UDP status probe, asked before connecting.

The probe (`chat_server.probe.probe`, the same as `chat-client --probe`) blocks for up to
PROBE_TIMEOUT, so it runs in a thread worker and posts its one-line summary back. Everything
in the reply comes from the other end and is shown inert (`status_summary`).
"""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static
from textual.worker import get_current_worker

from chat_client.probe import PROBE_TIMEOUT, duration, where
from chat_client.text import inert


def status_summary(status: dict[str, object], rtt: float) -> str:
    """`wirechat 0.1.0 · asyncio · 3 users · 2 rooms · up 5m 2s · 1.2 ms`, fields the reply
    left out left out too."""
    parts = [" ".join(inert(str(status[key])) for key in ("name", "version") if key in status)]
    if "backend" in status:
        parts.append(inert(str(status["backend"])))
    for key, unit in (("users", "user"), ("rooms", "room")):
        value = status.get(key)
        if isinstance(value, int) and not isinstance(value, bool):
            parts.append(f"{value} {unit}{'' if value == 1 else 's'}")
    uptime = status.get("uptime")
    if isinstance(uptime, int) and not isinstance(uptime, bool) and uptime >= 0:
        parts.append(f"up {duration(uptime)}")
    parts.append(f"{rtt * 1000:.1f} ms")
    return " · ".join(part for part in parts if part)


class ProbeStatus(Static):
    """Shows what the last probe said; `probe(host, port)` asks again."""

    DEFAULT_CSS = """
    ProbeStatus { height: auto; color: $text-muted; }
    ProbeStatus.-up { color: $success; }
    ProbeStatus.-down { color: $warning; }
    """

    def __init__(self, *, timeout: float = PROBE_TIMEOUT, id: str | None = None) -> None:
        super().__init__("", id=id, markup=False)
        self.timeout = timeout
        self.display = False

    def probe(self, host: str, port: int) -> None:
        """Ask `host:port` (UDP) for its status; the answer replaces this line when it comes."""
        self._show(f"probing {inert(where(host, port))}…", "")
        self.run_worker(lambda: self._ask(host, port), thread=True, exclusive=True, group="probe")

    def forget(self) -> None:
        """The address changed: what was said (or is on its way) is about another server."""
        self.workers.cancel_group(self, "probe")
        self.display = False

    def _ask(self, host: str, port: int) -> None:
        from chat_server.probe import ProbeError, probe

        try:
            status, rtt = probe(host, port, self.timeout)
        except (ProbeError, OSError, ValueError) as exc:  # ProbeTimeout is a ProbeError
            line, state = f"no status: {inert(str(exc))}", "-down"
        else:
            line, state = f"status: {status_summary(status, rtt)}", "-up"
        if not get_current_worker().is_cancelled:
            self.app.call_from_thread(self._show, line, state)

    def _show(self, line: str, state: str) -> None:
        self.update(Text(line))
        self.set_class(state == "-up", "-up")
        self.set_class(state == "-down", "-down")
        self.display = True


__all__ = ["ProbeStatus", "status_summary"]
