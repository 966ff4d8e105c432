"""What a person sees at the end of a run: targets beside measurements, and the evidence path."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

__all__ = ["print_summary"]

_STYLE = {"pass": "green", "fail": "red", "unknown": "yellow"}


def _fmt(value: Any, unit: str = "") -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3f}{unit}"
    return f"{value}{unit}"


def _styled(verdict: str) -> str:
    style = _STYLE.get(verdict)
    return f"[{style}]{verdict}[/]" if style else verdict


def print_summary(report: dict[str, Any], report_path: str, console: Console) -> None:
    measured = report["measured"]
    targets = report["targets"]
    checks = {c["name"]: c for c in report["checks"]}
    table = Table(title=f"drill {report['drill']} ({report['run_id']})")
    table.add_column("")
    table.add_column("target", justify="right")
    table.add_column("measured", justify="right")
    table.add_column("resolution", justify="right")
    table.add_column("verdict")
    for name, unit in (("rpo_seconds", "s"), ("rto_seconds", "s")):
        check = checks.get(name)
        verdict = check["verdict"] if check else "not judged"
        res = measured.get(name.replace("_seconds", "_resolution_seconds"))
        table.add_row(
            name,
            _fmt(targets.get(name), unit),
            _fmt(measured.get(name), unit),
            "exact" if res is None and name == "rpo_seconds" else f"±{_fmt(res, unit)}",
            _styled(verdict),
        )
    check = checks.get("max_lost_writes")
    verdict = check["verdict"] if check else "not judged"
    table.add_row(
        "lost_writes",
        _fmt(targets.get("max_lost_writes")),
        _fmt(measured.get("lost_writes")),
        "exact",
        _styled(verdict),
    )
    console.print(table)
    incident = report.get("incident")
    if incident and incident.get("fault"):
        flag = " [yellow](ambiguous)[/]" if incident.get("ambiguous") else ""
        console.print(f"incident: {incident['fault']}{flag} ({incident['reason']})")
    console.print(
        f"acknowledged {_fmt(measured.get('acknowledged_writes'))}, "
        f"indeterminate {_fmt(measured.get('indeterminate_writes'))} "
        f"(survived {_fmt(measured.get('indeterminate_survived'))}, "
        f"vanished {_fmt(measured.get('indeterminate_vanished'))}), "
        f"failed {_fmt(measured.get('failed_writes'))}"
    )
    for check in report["checks"]:
        if check["verdict"] != "pass":
            console.print(f"  {check['name']}: {check['reason']}")
    for note in report["notes"]:
        console.print(f"  note: {note.splitlines()[0]}")
    if report.get("error"):
        console.print(f"[red]error:[/red] {report['error'].splitlines()[0]}")
    verdict = report["verdict"]
    console.print(f"verdict: [{_STYLE[verdict]}]{verdict.upper()}[/]   evidence: {report_path}")
