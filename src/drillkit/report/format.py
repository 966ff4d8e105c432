"""Small formatting helpers shared by the renderers (console, Markdown, HTML)."""

from __future__ import annotations

from dataclasses import dataclass

from drillkit.report.model import Report

__all__ = ["NS", "TargetRow", "cell", "fmt", "target_rows"]

NS = 1_000_000_000  # nanoseconds per second: the history's monotonic times are in ns


def fmt(value: object, unit: str = "") -> str:
    """``-`` for a value not measured, three decimals for a float, else the value; then ``unit``."""
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3f}{unit}"
    return f"{value}{unit}"


def cell(text: str) -> str:
    """Text safe inside one Markdown table cell."""
    return text.replace("|", "\\|").replace("\n", " ")


@dataclass(frozen=True)
class TargetRow:
    """One target beside its measurement, formatted: what every renderer's table shows."""

    label: str  # RPO, RTO, lost writes
    target: str
    measured: str
    resolution: str  # "exact", or the measurement's resolution as "±0.110s"
    verdict: str  # the check's verdict, or "not judged"
    reason: str  # the check's reason ("" when not judged)


def target_rows(report: Report) -> list[TargetRow]:
    """RPO, RTO and lost writes: target, measurement, resolution and the check's verdict."""
    measured, targets = report.measured, report.targets
    rows = []
    for label, key, target, value, res, unit in (
        (
            "RPO",
            "rpo_seconds",
            targets.rpo_seconds,
            measured.rpo_seconds,
            measured.rpo_resolution_seconds,
            "s",
        ),
        (
            "RTO",
            "rto_seconds",
            targets.rto_seconds,
            measured.rto_seconds,
            measured.rto_resolution_seconds,
            "s",
        ),
        ("lost writes", "max_lost_writes", targets.max_lost_writes, measured.lost_writes, None, ""),
    ):
        check = report.check(key)
        resolution = "exact" if res is None and key != "rto_seconds" else f"±{fmt(res, unit)}"
        verdict = check.verdict if check else "not judged"
        reason = check.reason if check else ""
        rows.append(
            TargetRow(label, fmt(target, unit), fmt(value, unit), resolution, verdict, reason)
        )
    return rows
