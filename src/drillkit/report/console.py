"""What a person sees at the end of a run: targets beside measurements, and the evidence path."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from drillkit.report.format import (
    cache_summary,
    fmt,
    reader_phase_rows,
    reader_summary,
    reader_target_rows,
)
from drillkit.report.model import Report
from drillkit.safetext import markup

__all__ = ["print_summary"]

_STYLE = {"pass": "green", "fail": "red", "unknown": "yellow"}


def _styled(verdict: str) -> str:
    style = _STYLE.get(verdict)
    return f"[{style}]{verdict}[/]" if style else verdict


def print_summary(report: Report, report_path: str, console: Console) -> None:
    measured = report.measured
    targets = report.targets
    table = Table(title=f"drill {markup(report.drill)} ({markup(report.run_id)})")
    table.add_column("")
    table.add_column("target", justify="right")
    table.add_column("measured", justify="right")
    table.add_column("resolution", justify="right")
    table.add_column("verdict")
    for name, target, value, res in (
        ("rpo_seconds", targets.rpo_seconds, measured.rpo_seconds, measured.rpo_resolution_seconds),
        ("rto_seconds", targets.rto_seconds, measured.rto_seconds, measured.rto_resolution_seconds),
    ):
        check = report.check(name)
        verdict = check.verdict if check else "not judged"
        table.add_row(
            name,
            fmt(target, "s"),
            fmt(value, "s"),
            "exact" if res is None and name == "rpo_seconds" else f"±{fmt(res, 's')}",
            _styled(verdict),
        )
    check = report.check("max_lost_writes")
    verdict = check.verdict if check else "not judged"
    table.add_row(
        "lost_writes",
        fmt(targets.max_lost_writes),
        fmt(measured.lost_writes),
        "exact",
        _styled(verdict),
    )
    for row in reader_target_rows(report):
        table.add_row(row.label, row.target, row.measured, row.resolution, _styled(row.verdict))
    console.print(table)
    for phase in reader_phase_rows(report):
        console.print(
            f"  {phase[0]}: {phase[1]} reads ({phase[2]} unanswered), staleness "
            f"p50/p95/max {phase[3]}, writes behind {phase[4]}",
            highlight=False,
        )
    if report.readers is not None:
        console.print(f"  {markup(reader_summary(report))}", highlight=False)
    if report.cache is not None:
        console.print(f"  {markup(cache_summary(report))}", highlight=False)
    if report.overrides:
        shown = " ".join(f"--set {k}={v!r}" for k, v in report.overrides.items())
        console.print(f"overrides: {markup(shown)}", highlight=False)
    incident = report.incident
    if incident and incident.fault:
        flag = " [yellow](ambiguous)[/]" if incident.ambiguous else ""
        console.print(
            f"incident: {markup(incident.fault)}{flag} ({markup(incident.reason)})", highlight=False
        )
    console.print(
        f"acknowledged {fmt(measured.acknowledged_writes)}, "
        f"indeterminate {fmt(measured.indeterminate_writes)} "
        f"(survived {fmt(measured.indeterminate_survived)}, "
        f"vanished {fmt(measured.indeterminate_vanished)}), "
        f"failed {fmt(measured.failed_writes)}"
    )
    for c in report.checks:
        if c.verdict != "pass":
            console.print(f"  {markup(c.name)}: {markup(c.reason)}", highlight=False)
    for note in report.notes:
        console.print(f"  note: {markup((note.splitlines() or [''])[0])}", highlight=False)
    if report.error:
        console.print(f"[red]error:[/red] {markup(report.error.splitlines()[0])}", highlight=False)
    verdict = report.verdict
    shown = f"[{_STYLE[verdict]}]{verdict.upper()}[/]"
    if report.expected != "pass":
        shown += f" ({report.outcome}; the drill declares expect: {report.expected})"
    console.print(f"verdict: {shown}   evidence: {markup(report_path)}", highlight=False)
