"""The timeline chart of report.html: an inline SVG, no script.

The workload's write operations (ok / unknown / failed per time bin) over seconds since the
incident took effect, with a band per fault (effective to healed), the runbook steps, the
incident, detection and recovery marked, the RPO window (the span of lost acknowledged writes'
acknowledgements before the incident) and the RTO window shaded, and the lost writes bracketed.

Colour-blind and greyscale safe: the three bar kinds come from the Okabe-Ito palette with
strongly different lightness (ok mid, unknown light and hatched, failed near black) and every
window has its own pattern and a text label. :func:`timeline_svg` draws one chart for a given
width in CSS pixels (report.html holds a wide and a narrow one, so labels keep their size on a
phone); :func:`timeline_summary` says in words what the chart shows.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from html import escape

from drillkit.checkers import fault_effective_ns
from drillkit.history import Op, OpType
from drillkit.report.chart_layers import (
    _PATTERNS,
    COLORS,
    RTO_COLOR,
    _axes,
    _fault_bands,
    _fault_labels,
    _Geometry,
    _lost,
    _markers,
    _nice,
    _steps,
    _windows,
)
from drillkit.report.format import NS, fmt
from drillkit.report.model import Report

__all__ = ["COLORS", "legend_html", "timeline_summary", "timeline_svg"]


@dataclass
class _Bins:
    start: float
    width: float
    counts: list[dict[str, int]]


def _bin_writes(ops: Iterable[Op], zero_ns: int, start: float, end: float, parts: int) -> _Bins:
    width = _nice(end - start, parts)
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


def _span(report: Report, writes: list[Op], zero_ns: int) -> tuple[float, float] | None:
    times = [(op.time_ns - zero_ns) / NS for op in writes]
    for e in report.timeline:
        times += [
            t
            for t in (e.t_start_seconds, e.t_end_seconds, e.t_seconds)
            if isinstance(t, int | float)
        ]
    if not times:
        return None
    start, end = min(times), max(times)
    return (start, end) if end - start >= 1 else (start, start + 1)


def timeline_svg(report: Report, ops: list[Op], width: int = 960, *, chart_id: str = "") -> str:
    """The timeline chart as an inline SVG ``width`` px wide; times in seconds since the
    incident took effect."""
    g = _Geometry(width, 360 if width >= 600 else 320, 12 if width >= 600 else 11)
    writes = [op for op in ops if op.f == "write" and op.type is not OpType.INVOKE]
    fault_ns = fault_effective_ns(ops)
    zero_ns = fault_ns if fault_ns is not None else (writes[0].time_ns if writes else 0)
    span = _span(report, writes, zero_ns)
    if span is None:
        return '<p class="empty">No operations were recorded: nothing to chart.</p>'
    start, end = span
    bins = _bin_writes(writes, zero_ns, start, end, max(g.pw // 6, 20))
    peak = max((sum(c.values()) for c in bins.counts), default=1) or 1
    pid = chart_id or f"c{width}"

    def x(t: float) -> float:
        return g.left + (min(max(t, start), end) - start) / (end - start) * g.pw

    def y(v: float) -> float:
        return g.top + g.ph - v / peak * g.ph

    summary = timeline_summary(report)
    parts: list[str] = [
        f'<svg id="{escape(pid)}" class="timeline-chart" role="img" '
        f'viewBox="0 0 {g.width} {g.height}" width="{g.width}" height="{g.height}" '
        f'xmlns="http://www.w3.org/2000/svg" aria-label="{escape(summary)}" '
        f'font-family="system-ui,sans-serif" font-size="{g.font}">',
        _PATTERNS.format(p=pid),
        f'<rect x="{g.left}" y="{g.top}" width="{g.pw}" height="{g.ph}" fill="#fff" '
        'stroke="#bbb"/>',
    ]
    parts += _fault_bands(report, x, g, pid)
    parts += _windows(report, fault_ns is not None, x, g, pid)
    bar_w = max(g.pw / len(bins.counts) - 0.5, 0.5)
    for i, c in enumerate(bins.counts):
        t0 = bins.start + i * bins.width
        base = 0
        for kind in ("ok", "info", "fail"):
            if c[kind]:
                top = base + c[kind]
                fill = f"url(#{pid}-hatch-info)" if kind == "info" else COLORS[kind]
                parts.append(
                    f'<rect class="op-{kind}" x="{x(t0):.1f}" y="{y(top):.1f}" '
                    f'width="{bar_w:.1f}" height="{y(base) - y(top):.1f}" fill="{fill}">'
                    f"<title>{t0:+.2f}s: {c[kind]} {kind}</title></rect>"
                )
                base = top
    parts += _fault_labels(report, x, g)
    parts += _lost(report, x, g)
    parts += _steps(report, x, g)
    parts += _markers(report, fault_ns is not None, x, g, start, end)
    parts += _axes(start, end, peak, bins.width, x, y, g)
    parts.append("</svg>")
    return "\n".join(parts)


def timeline_summary(report: Report) -> str:
    """The chart in words (its text alternative)."""
    m = report.measured
    parts = [f"Timeline of the workload's writes around the incident ({report.verdict})."]
    for f in report.faults:
        if isinstance(f.t_effective_seconds, int | float):
            d = f.actual_duration_seconds
            lasting = f"for {fmt(d, ' s')}" if isinstance(d, int | float) else "until the end"
            parts.append(
                f"Fault {f.fault} ({f.kind}) in force from {fmt(f.t_effective_seconds, ' s')} "
                f"{lasting}; {f.acknowledged_writes} writes acknowledged meanwhile."
            )
    if m.detection_seconds is not None:
        parts.append(f"First failed or unanswered write at {fmt(m.detection_seconds, ' s')}.")
    steps = [f"{e.step} ({e.status}, {fmt(e.duration_seconds, ' s')})" for e in report.steps()]
    if steps:
        parts.append("Runbook steps: " + ", ".join(steps) + ".")
    parts.append(
        f"Writes: {fmt(m.acknowledged_writes)} acknowledged, {fmt(m.indeterminate_writes)} "
        f"unknown, {fmt(m.failed_writes)} failed; {fmt(m.lost_writes)} acknowledged writes lost."
    )
    parts.append(
        f"RPO {fmt(m.rpo_seconds, ' s')}, RTO {fmt(m.rto_seconds, ' s')} after the incident."
    )
    return " ".join(parts)


def legend_html() -> str:
    """The chart's legend: a swatch per bar kind, window and mark."""
    items = (
        ("ok (acknowledged)", f"background:{COLORS['ok']}"),
        (
            "unknown (info)",
            f"background:repeating-linear-gradient(45deg,{COLORS['info']} 0 3px,#8a7d00 3px 5px)",
        ),
        ("failed", f"background:{COLORS['fail']}"),
        ("fault in force", "background:#eee;border:1px dashed #999"),
        (
            "RPO window",
            "background:repeating-linear-gradient(-45deg,#f2dbe8 0 3px,#7d2e5a 3px 5px)",
        ),
        ("RTO window", f"background:{RTO_COLOR}33;border:1px solid {RTO_COLOR}"),
        ("lost writes (bracket)", f"border-top:3px solid {COLORS['fail']}"),
    )
    return "".join(
        f'<span><i class="swatch" style="{style}"></i>{escape(k)}</span>' for k, style in items
    )
