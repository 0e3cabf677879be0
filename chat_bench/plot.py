"""The chart: throughput and p99 latency by server and room size, as a hand-written SVG.

No plotting library is needed: two grouped bar charts on logarithmic axes, drawn as plain SVG
elements, readable in any browser and embeddable in Markdown.
"""

from __future__ import annotations

import math
from html import escape
from pathlib import Path

from chat_bench.results import Summary

_COLOURS = [
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
    "#aec7e8",
    "#ffbb78",
]
_PANEL_W, _PANEL_H = 460, 300
_LEFT, _TOP, _BOTTOM = 70, 40, 50


def write(path: str, summaries: list[Summary]) -> str:
    """Write the chart; a name ending in .png is written as .svg beside it. Returns the path."""
    target = Path(path)
    if target.suffix.lower() != ".svg":
        target = target.with_suffix(".svg")
    target.write_text(render(summaries))
    return str(target)


def render(summaries: list[Summary]) -> str:
    servers = list(
        dict.fromkeys(s.backend for s in summaries if s.scenario in ("fanout", "latency"))
    )
    colours = {name: _COLOURS[i % len(_COLOURS)] for i, name in enumerate(servers)}
    width = 2 * (_PANEL_W + _LEFT) + 40
    height = _TOP + _PANEL_H + _BOTTOM + 30
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'font-family="sans-serif" font-size="12">',
        f'<rect width="{width}" height="{height}" fill="white"/>',
    ]
    parts += _panel(
        summaries,
        "fanout",
        "deliveries_per_s",
        "fanout: deliveries/s (higher is better)",
        servers,
        colours,
        _LEFT,
    )
    parts += _panel(
        summaries,
        "latency",
        "p99_ms",
        "latency: p99 ms (lower is better)",
        servers,
        colours,
        2 * _LEFT + _PANEL_W + 20,
    )
    x = _LEFT
    y = height - 12
    for name in servers:
        parts.append(f'<rect x="{x}" y="{y - 10}" width="12" height="12" fill="{colours[name]}"/>')
        parts.append(f'<text x="{x + 16}" y="{y}">{escape(name)}</text>')
        x += 30 + 8 * len(name)
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def _panel(
    summaries: list[Summary],
    scenario: str,
    metric: str,
    title: str,
    servers: list[str],
    colours: dict[str, str],
    x0: int,
) -> list[str]:
    rows = [s for s in summaries if s.scenario == scenario and metric in s.metrics]
    out = [f'<text x="{x0}" y="{_TOP - 15}" font-weight="bold">{escape(title)}</text>']
    bottom = _TOP + _PANEL_H
    out.append(f'<line x1="{x0}" y1="{bottom}" x2="{x0 + _PANEL_W}" y2="{bottom}" stroke="black"/>')
    out.append(f'<line x1="{x0}" y1="{_TOP}" x2="{x0}" y2="{bottom}" stroke="black"/>')
    values = [s.metrics[metric] for s in rows if s.metrics[metric] > 0]
    if not values:
        out.append(f'<text x="{x0 + 20}" y="{_TOP + 40}">not measured</text>')
        return out
    lo = math.floor(math.log10(min(values)))
    hi = math.ceil(math.log10(max(values)))
    if hi == lo:
        hi += 1

    def y_of(value: float) -> float:
        return bottom - (math.log10(value) - lo) / (hi - lo) * _PANEL_H

    for power in range(lo, hi + 1):
        y = y_of(10.0**power)
        out.append(
            f'<line x1="{x0}" y1="{y:.1f}" x2="{x0 + _PANEL_W}" y2="{y:.1f}" stroke="#ddd"/>'
        )
        out.append(f'<text x="{x0 - 6}" y="{y + 4:.1f}" text-anchor="end">{_tick(power)}</text>')
    sizes = sorted({s.clients for s in rows})
    group_w = _PANEL_W / len(sizes)
    bar_w = group_w * 0.8 / max(1, len(servers))
    for g, n in enumerate(sizes):
        gx = x0 + g * group_w + group_w * 0.1
        out.append(
            f'<text x="{gx + group_w * 0.4:.1f}" y="{bottom + 18}" text-anchor="middle">N = {n}</text>'
        )
        for i, name in enumerate(servers):
            s = next((r for r in rows if r.clients == n and r.backend == name), None)
            if s is None or s.metrics[metric] <= 0:
                continue
            y = y_of(s.metrics[metric])
            x = gx + i * bar_w
            out.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar_w - 2:.1f}" height="{bottom - y:.1f}" '
                f'fill="{colours[name]}"><title>{escape(name)} N={n}: '
                f"{s.metrics[metric]:,.2f}</title></rect>"
            )
    return out


def _tick(power: int) -> str:
    value = 10.0**power
    if value >= 1e6:
        return f"{value / 1e6:g}M"
    if value >= 1e3:
        return f"{value / 1e3:g}k"
    return f"{value:g}"
