"""The layers of the timeline chart (:mod:`drillkit.report.chart`): the palette and patterns,
the chart's geometry, and one function per layer (fault bands and labels, the RPO and RTO
windows, lost writes, runbook steps, markers, axes), each returning SVG elements."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from html import escape

from drillkit.report.format import fmt
from drillkit.report.model import Report

__all__ = ["COLORS", "INK"]

# Okabe-Ito bluish green, yellow, and vermillion darkened: relative luminance ~0.26 / 0.76 / 0.03
COLORS = {"ok": "#009e73", "info": "#f0e442", "fail": "#4d1a00"}
RPO_COLOR, RTO_COLOR, FAULT_COLOR = "#cc79a7", "#0072b2", "#999999"
INK = "#222222"
_HALO = 'paint-order="stroke" stroke="#fff" stroke-width="3"'  # labels stay legible over bars
_NICE = (0.01, 0.02, 0.05, 0.1, 0.2, 0.25, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600)

_PATTERNS = (
    '<defs><pattern id="{p}-hatch-info" width="6" height="6" patternUnits="userSpaceOnUse" '
    'patternTransform="rotate(45)"><rect width="6" height="6" fill="#f0e442"/>'
    '<line x1="0" y1="0" x2="0" y2="6" stroke="#8a7d00" stroke-width="2"/></pattern>'
    '<pattern id="{p}-hatch-rpo" width="8" height="8" patternUnits="userSpaceOnUse" '
    'patternTransform="rotate(-45)"><rect width="8" height="8" fill="#cc79a7" '
    'fill-opacity="0.25"/><line x1="0" y1="0" x2="0" y2="8" stroke="#7d2e5a" '
    'stroke-width="2"/></pattern>'
    '<pattern id="{p}-dots-fault" width="8" height="8" patternUnits="userSpaceOnUse">'
    '<rect width="8" height="8" fill="#999" fill-opacity="0.12"/>'
    '<circle cx="4" cy="4" r="1.2" fill="#666"/></pattern></defs>'
)


def _nice(span: float, parts: int) -> float:
    raw = span / max(parts, 1)
    return next((n for n in _NICE if n >= raw), _NICE[-1])


@dataclass(frozen=True)
class _Geometry:
    """The chart's size in CSS pixels (1 SVG unit = 1 px at its natural width)."""

    width: int
    height: int
    font: int
    left: int = 52
    right: int = 12
    top: int = 84
    bottom: int = 48

    @property
    def pw(self) -> int:
        return self.width - self.left - self.right

    @property
    def ph(self) -> int:
        return self.height - self.top - self.bottom


def _fault_bands(report: Report, x: Callable[[float], float], g: _Geometry, pid: str) -> list[str]:
    out = []
    for f in report.faults:
        t0 = f.t_effective_seconds
        if not isinstance(t0, int | float):
            continue
        d = f.actual_duration_seconds
        t1 = t0 + d if isinstance(d, int | float) else None
        x0, x1 = x(t0), x(t1) if t1 is not None else g.left + g.pw
        healed = f"healed {fmt(t1, 's')}" if t1 is not None else "not healed in the chart"
        out.append(
            f'<g class="fault-band"><rect x="{x0:.1f}" y="{g.top}" width="{max(x1 - x0, 3):.1f}" '
            f'height="{g.ph}" fill="url(#{pid}-dots-fault)" stroke="{FAULT_COLOR}" '
            f'stroke-dasharray="2 2"><title>{escape(f.fault)}: in force from '
            f"{fmt(t0, 's')} ({healed})</title></rect></g>"
        )
    return out


def _fault_labels(report: Report, x: Callable[[float], float], g: _Geometry) -> list[str]:
    """Each fault's name at the foot of its band, drawn over the bars."""
    return [
        f'<text class="fault-label" x="{x(f.t_effective_seconds) + 3:.1f}" '
        f'y="{g.top + g.ph - 6 - i * (g.font + 2)}" fill="{INK}" {_HALO}>'
        f"{escape(f.fault)} ({escape(f.kind)})</text>"
        for i, f in enumerate(
            r for r in report.faults if isinstance(r.t_effective_seconds, int | float)
        )
        if isinstance(f.t_effective_seconds, int | float)
    ]


def _windows(
    report: Report, incident: bool, x: Callable[[float], float], g: _Geometry, pid: str
) -> list[str]:
    """The RPO and RTO windows: shaded behind the bars, and as labelled strips above the plot
    (tall bars may cover the shading)."""
    out = []
    rto, rpo = report.measured.rto_seconds, report.measured.rpo_seconds
    strip_y, strip_h, label_y = g.top - 22, 8, g.top - 4
    if incident and isinstance(rpo, int | float) and rpo > 0:
        x0, x1 = x(-rpo), x(0)
        x0 = min(x0, x1 - 6)  # a window of a few ms stays visible
        out.append(
            f'<g class="rpo-window"><rect x="{x0:.1f}" y="{g.top}" width="{x1 - x0:.1f}" '
            f'height="{g.ph}" fill="url(#{pid}-hatch-rpo)" stroke="#7d2e5a">'
            f"<title>RPO window: {rpo:.3f}s of acknowledged writes lost</title></rect>"
            f'<rect class="window-strip" x="{x0:.1f}" y="{strip_y}" width="{x1 - x0:.1f}" '
            f'height="{strip_h}" fill="url(#{pid}-hatch-rpo)" stroke="#7d2e5a"/>'
            f'<text x="{x1 - 4:.1f}" y="{label_y}" text-anchor="end" fill="#7d2e5a" '
            f"{_HALO}>RPO {rpo:.3f}s</text></g>"
        )
    if incident and isinstance(rto, int | float):
        x0, x1 = x(0), x(rto)
        w = max(x1 - x0, 3)
        out.append(
            f'<g class="rto-window"><rect class="rto-window" x="{x0:.1f}" y="{g.top}" '
            f'width="{w:.1f}" height="{g.ph}" fill="{RTO_COLOR}" '
            f'fill-opacity="0.12" stroke="{RTO_COLOR}"><title>RTO window: {rto:.3f}s until '
            f"service was stably restored</title></rect>"
            f'<rect class="window-strip" x="{x0:.1f}" y="{strip_y}" width="{w:.1f}" '
            f'height="{strip_h}" fill="{RTO_COLOR}" fill-opacity="0.35" stroke="{RTO_COLOR}"/>'
            f'<text x="{x0 + 4:.1f}" y="{label_y}" fill="{RTO_COLOR}" '
            f"{_HALO}>RTO {rto:.3f}s</text></g>"
        )
    return out


def _lost(report: Report, x: Callable[[float], float], g: _Geometry) -> list[str]:
    m = report.measured
    if not m.lost_writes or not m.lost_window_seconds:
        return []
    t0, t1 = m.lost_window_seconds
    x0, x1 = x(t0), x(t1)
    x0, x1 = min(x0, x1 - 4), max(x1, x0 + 4)
    yy = g.top + 40
    label = f"{m.lost_writes} lost"
    return [
        f'<g class="lost-writes"><path d="M{x0:.1f},{yy + 6} V{yy} H{x1:.1f} V{yy + 6}" '
        f'fill="none" stroke="{COLORS["fail"]}" stroke-width="2.5"/>'
        f'<path d="M{(x0 + x1) / 2 - 5:.1f},{yy - 10} l10,0 l-5,8 z" fill="{COLORS["fail"]}"/>'
        f"<title>{label}: acknowledged writes absent from the final read, acknowledged "
        f"between {t0:+.3f}s and {t1:+.3f}s</title>"
        f'<text x="{(x0 + x1) / 2 + 8:.1f}" y="{yy - 2}" fill="{COLORS["fail"]}" '
        f'font-weight="700" {_HALO}>{label}</text></g>'
    ]


def _steps(report: Report, x: Callable[[float], float], g: _Geometry) -> list[str]:
    out = []
    for row, e in enumerate(
        s for s in report.steps() if isinstance(s.t_start_seconds, int | float)
    ):
        t0 = e.t_start_seconds or 0.0
        t1 = e.t_end_seconds if isinstance(e.t_end_seconds, int | float) else t0
        yy = 4 + (row % 2) * (g.font + 6)
        ok = e.status == "ok"
        dash = "" if ok else ' stroke-dasharray="3 2"'
        out.append(
            f'<g class="marker-runbook"><rect x="{x(t0):.1f}" y="{yy}" '
            f'width="{max(x(t1) - x(t0), 3):.1f}" height="{g.font + 3}" '
            f'fill="{"#555" if ok else COLORS["fail"]}" opacity="0.25" stroke="{INK}"'
            f"{dash}>"
            f"<title>{escape(e.event)} {e.status} ({fmt(e.duration_seconds, 's')})</title>"
            f'</rect><text x="{x(t0) + 3:.1f}" y="{yy + g.font}" fill="{INK}" {_HALO}>'
            f"{escape(e.step or '')}{'' if ok else ' (failed)'}</text></g>"
        )
    return out


def _markers(
    report: Report,
    incident: bool,
    x: Callable[[float], float],
    g: _Geometry,
    start: float,
    end: float,
) -> list[str]:
    out = []
    if incident and start <= 0 <= end:
        out.append(
            _vline(
                x(0), "#000", "marker-fault", "the incident took effect", "incident", g, top=True
            )
        )
    for e in report.timeline:
        if e.event in ("detection", "recovered") and isinstance(e.t_seconds, int | float):
            color = "#6b5600" if e.event == "detection" else "#005a87"
            out.append(
                _vline(
                    x(e.t_seconds),
                    color,
                    f"marker-{e.event}",
                    e.meaning or e.event,
                    e.event,
                    g,
                    dashed=True,
                )
            )
    return out


def _vline(
    xx: float,
    color: str,
    cls: str,
    title: str,
    label: str,
    g: _Geometry,
    dashed: bool = False,
    top: bool = False,
) -> str:
    dash = ' stroke-dasharray="5 3"' if dashed else ""
    ty = g.top + 14 if top else g.top + g.ph - (3 * g.font + 10)
    anchor = "end" if xx > g.left + g.pw * 0.7 else "start"
    tx = xx - 3 if anchor == "end" else xx + 3
    return (
        f'<g class="{cls}"><line x1="{xx:.1f}" x2="{xx:.1f}" y1="{g.top - 4}" '
        f'y2="{g.top + g.ph}" stroke="{color}" stroke-width="2"{dash}>'
        f"<title>{escape(title)}</title></line>"
        f'<text x="{tx:.1f}" y="{ty}" fill="{color}" text-anchor="{anchor}" {_HALO}>'
        f"{escape(label)}</text></g>"
    )


def _axes(
    start: float,
    end: float,
    peak: int,
    bin_w: float,
    x: Callable[[float], float],
    y: Callable[[float], float],
    g: _Geometry,
) -> list[str]:
    out = []
    step = _nice(end - start, max(g.pw // 80, 3))
    t = step * int(start / step)
    base = g.top + g.ph
    while t <= end + 1e-9:
        if t >= start - 1e-9:
            out.append(
                f'<line x1="{x(t):.1f}" x2="{x(t):.1f}" y1="{base}" y2="{base + 4}" '
                f'stroke="{INK}"/><text class="tick" x="{x(t):.1f}" y="{base + g.font + 4}" '
                f'text-anchor="middle" fill="{INK}">{t:+g}</text>'
            )
        t += step
    for v in sorted({0, peak // 2, peak}):
        out.append(
            f'<text class="tick" x="{g.left - 6}" y="{y(v) + 4:.1f}" text-anchor="end" '
            f'fill="{INK}">{v}</text>'
        )
    out.append(
        f'<text class="axis-label" x="{g.left + g.pw / 2}" y="{g.height - 8}" '
        f'text-anchor="middle" fill="{INK}">time since the incident took effect (s)</text>'
    )
    cy = g.top + g.ph / 2
    out.append(
        f'<text class="axis-label" x="14" y="{cy}" text-anchor="middle" fill="{INK}" '
        f'transform="rotate(-90 14 {cy})">writes per {bin_w:g} s</text>'
    )
    return out
