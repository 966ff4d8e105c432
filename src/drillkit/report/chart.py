"""The timeline chart of report.html: an inline SVG, no script.

The workload's write operations (ok / info / fail per time bin) over seconds relative to the
incident taking effect, with the fault and runbook steps marked and the RPO and RTO windows
shaded; :func:`legend_html` is its legend.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from html import escape
from typing import Any

from drillkit.checkers import fault_effective_ns
from drillkit.history import Op, OpType
from drillkit.report.format import NS, fmt
from drillkit.report.model import Report, TimelineEvent

__all__ = ["COLORS", "legend_html", "timeline_svg"]

W, H = 960, 320
LEFT, RIGHT, TOP, BOTTOM = 56, 16, 44, 40
COLORS = {"ok": "#2e9d4a", "info": "#e0a020", "fail": "#d03030"}
RPO_COLOR, RTO_COLOR = "#7b4fc9", "#3b7dd8"
_HALO = 'paint-order="stroke" stroke="#fff" stroke-width="3"'  # labels stay legible over bars
_NICE = (0.01, 0.02, 0.05, 0.1, 0.2, 0.25, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600)


def _nice(span: float, parts: int) -> float:
    raw = span / max(parts, 1)
    return next((n for n in _NICE if n >= raw), _NICE[-1])


@dataclass
class _Bins:
    start: float
    width: float
    counts: list[dict[str, int]]


def _bin_writes(ops: Iterable[Op], zero_ns: int, start: float, end: float) -> _Bins:
    width = _nice(end - start, 160)
    n = max(1, int((end - start) / width) + 1)
    counts = [{"ok": 0, "info": 0, "fail": 0} for _ in range(n)]
    for op in ops:
        if op.f != "write" or op.type is OpType.INVOKE or not op.process.startswith("writer"):
            continue
        t = (op.time_ns - zero_ns) / NS
        i = int((t - start) / width)
        if 0 <= i < n:
            counts[i][op.type.value] += 1
    return _Bins(start, width, counts)


def timeline_svg(report: Report, ops: list[Op]) -> str:
    """The timeline chart as an inline SVG; times in seconds relative to the incident."""
    writes = [op for op in ops if op.f == "write" and op.type is not OpType.INVOKE]
    fault_ns = fault_effective_ns(ops)
    zero_ns = fault_ns if fault_ns is not None else (writes[0].time_ns if writes else 0)
    times = [(op.time_ns - zero_ns) / NS for op in writes]
    events = report.timeline
    for e in events:
        times += [
            t
            for t in (e.t_start_seconds, e.t_end_seconds, e.t_seconds)
            if isinstance(t, int | float)
        ]
    if not times:
        return '<p class="empty">No operations were recorded: nothing to chart.</p>'
    start, end = min(times), max(times)
    if end - start < 1:
        end = start + 1
    bins = _bin_writes(writes, zero_ns, start, end)
    peak = max((sum(c.values()) for c in bins.counts), default=1) or 1
    pw, ph = W - LEFT - RIGHT, H - TOP - BOTTOM

    def x(t: float) -> float:
        return LEFT + (t - start) / (end - start) * pw

    def y(v: float) -> float:
        return TOP + ph - v / peak * ph

    parts: list[str] = [
        f'<svg id="timeline-chart" role="img" viewBox="0 0 {W} {H}" '
        f'xmlns="http://www.w3.org/2000/svg" aria-label="operations over time">',
        f'<rect x="{LEFT}" y="{TOP}" width="{pw}" height="{ph}" fill="#fafafa" stroke="#ccc"/>',
    ]
    rto, rpo = report.measured.rto_seconds, report.measured.rpo_seconds
    if fault_ns is not None and isinstance(rpo, int | float) and rpo > 0:
        parts.append(
            _band(
                x(max(-rpo, start)),
                x(0),
                RPO_COLOR,
                "rpo-window",
                f"RPO window: {rpo:.3f}s of acknowledged writes lost",
            )
        )
    if fault_ns is not None and isinstance(rto, int | float):
        parts.append(
            _band(
                x(0),
                x(min(rto, end)),
                RTO_COLOR,
                "rto-window",
                f"RTO window: {rto:.3f}s until service was stably restored",
            )
        )
    bar_w = max(pw / len(bins.counts) - 0.5, 0.5)
    for i, c in enumerate(bins.counts):
        t0 = bins.start + i * bins.width
        base = 0
        for kind in ("ok", "info", "fail"):
            if c[kind]:
                top = base + c[kind]
                parts.append(
                    f'<rect class="op-{kind}" x="{x(t0):.1f}" y="{y(top):.1f}" '
                    f'width="{bar_w:.1f}" height="{y(base) - y(top):.1f}" fill="{COLORS[kind]}">'
                    f"<title>{t0:+.2f}s: {c[kind]} {kind}</title></rect>"
                )
                base = top
    parts += _markers(events, x, start, end)
    parts += _axes(start, end, peak, bins.width, x, y)
    parts.append("</svg>")
    return "\n".join(parts)


def _band(x0: float, x1: float, color: str, cls: str, label: str) -> str:
    return (
        f'<rect class="{cls}" x="{x0:.1f}" y="{TOP}" width="{max(x1 - x0, 1):.1f}" '
        f'height="{H - TOP - BOTTOM}" fill="{color}" fill-opacity="0.15">'
        f"<title>{escape(label)}</title></rect>"
    )


def _markers(events: list[TimelineEvent], x: Any, start: float, end: float) -> list[str]:
    out: list[str] = []
    row = 0
    for e in events:
        name = e.event
        if name.startswith("runbook:") and isinstance(e.t_start_seconds, int | float):
            t0, t1 = e.t_start_seconds, e.t_end_seconds or e.t_start_seconds
            color = "#555" if e.status == "ok" else COLORS["fail"]
            yy = 6 + (row % 2) * 16
            row += 1
            out.append(
                f'<g class="marker-runbook"><rect x="{x(t0):.1f}" y="{yy}" '
                f'width="{max(x(t1) - x(t0), 2):.1f}" height="12" fill="{color}" opacity="0.8">'
                f"<title>{escape(name)} {e.status} "
                f"({fmt(e.duration_seconds, 's')})</title></rect>"
                f'<text x="{x(t0) + 3:.1f}" y="{yy + 10}" font-size="10" fill="#000">'
                f"{escape(name.removeprefix('runbook:'))}</text></g>"
            )
        elif name.startswith("fault:") and isinstance(e.t_end_seconds, int | float):
            heal = name.startswith("fault:heal")
            t = e.t_end_seconds if heal else 0.0
            if not start <= t <= end:
                continue
            color = "#2e6fb0" if heal else COLORS["fail"]
            label = f"{name} {e.status}" + ("" if heal else " (took effect)")
            out.append(_vline(x(t), color, "marker-fault", label, name.removeprefix("fault:")))
        elif name in ("detection", "recovered") and isinstance(e.t_seconds, int | float):
            color = "#8a6d00" if name == "detection" else "#1f7a35"
            out.append(
                _vline(
                    x(e.t_seconds),
                    color,
                    f"marker-{name}",
                    e.meaning or name,
                    name,
                    dashed=True,
                )
            )
    return out


def _vline(xx: float, color: str, cls: str, title: str, label: str, dashed: bool = False) -> str:
    dash = ' stroke-dasharray="4 3"' if dashed else ""
    ty = TOP + (24 if dashed else 12)  # dashed (detection, recovery) labels sit below the fault's
    anchor = "end" if xx > W - RIGHT - 60 else "start"
    tx = xx - 3 if anchor == "end" else xx + 3
    return (
        f'<g class="{cls}"><line x1="{xx:.1f}" x2="{xx:.1f}" y1="{TOP - 4}" y2="{H - BOTTOM}" '
        f'stroke="{color}" stroke-width="2"{dash}><title>{escape(title)}</title></line>'
        f'<text x="{tx:.1f}" y="{ty}" font-size="10" fill="{color}" text-anchor="{anchor}" '
        f"{_HALO}>"
        f"{escape(label)}</text></g>"
    )


def _axes(start: float, end: float, peak: int, bin_w: float, x: Any, y: Any) -> list[str]:
    out = []
    step = _nice(end - start, 10)
    t = step * int(start / step)
    while t <= end:
        if t >= start:
            out.append(
                f'<line x1="{x(t):.1f}" x2="{x(t):.1f}" y1="{H - BOTTOM}" y2="{H - BOTTOM + 4}" '
                f'stroke="#333"/><text x="{x(t):.1f}" y="{H - BOTTOM + 16}" font-size="10" '
                f'text-anchor="middle">{t:+g}s</text>'
            )
        t += step
    for v in (0, peak // 2, peak):
        out.append(
            f'<text x="{LEFT - 6}" y="{y(v) + 3:.1f}" font-size="10" text-anchor="end">{v}</text>'
        )
    out.append(
        f'<text x="{LEFT + (W - LEFT - RIGHT) / 2}" y="{H - 6}" font-size="11" '
        f'text-anchor="middle">seconds relative to the incident taking effect '
        f"(writes per {bin_w:g}s bin: ok, unknown, failed)</text>"
    )
    return out


def legend_html() -> str:
    """The chart's legend: a swatch per bar kind and shaded window."""
    return "".join(
        f'<span><i class="swatch" style="background:{c}"></i>{k}</span>'
        for k, c in (
            ("ok", COLORS["ok"]),
            ("unknown (info)", COLORS["info"]),
            ("failed", COLORS["fail"]),
            ("RTO window", f"{RTO_COLOR}33"),
            ("RPO window", f"{RPO_COLOR}33"),
        )
    )
