"""summary.md: a short Markdown summary of one run, for pasting into a ticket or a change record."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

__all__ = ["render_markdown"]


def _fmt(value: Any, unit: str = "") -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3f}{unit}"
    return f"{value}{unit}"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_markdown(report: dict[str, Any], report_dir: Path | str | None = None) -> str:
    verdict = str(report.get("verdict", "unknown")).upper()
    measured, targets = report.get("measured", {}), report.get("targets", {})
    checks = {c["name"]: c for c in report.get("checks", [])}
    lines = [
        f"### Drill `{report.get('drill')}`: **{verdict}**",
        "",
        f"{report.get('description') or ''}".strip(),
        "",
        f"Run `{report.get('run_id')}`, {report.get('started_at')} to "
        f"{report.get('finished_at')} ({_fmt(report.get('duration_seconds'), 's')}).",
        "",
        "| | target | measured | resolution | verdict |",
        "|---|---:|---:|---:|---|",
    ]
    for label, key, mkey, unit in (
        ("RPO", "rpo_seconds", "rpo_seconds", "s"),
        ("RTO", "rto_seconds", "rto_seconds", "s"),
        ("lost writes", "max_lost_writes", "lost_writes", ""),
    ):
        check = checks.get(key)
        res = (
            measured.get(mkey.replace("_seconds", "_resolution_seconds"))
            if mkey.endswith("_seconds")
            else None
        )
        res_text = "exact" if res is None and key != "rto_seconds" else f"±{_fmt(res, unit)}"
        lines.append(
            f"| {label} | {_fmt(targets.get(key), unit)} | {_fmt(measured.get(mkey), unit)} | "
            f"{res_text} | {check['verdict'] if check else 'not judged'} |"
        )
    lines += [
        "",
        f"Writes: acknowledged {_fmt(measured.get('acknowledged_writes'))}, indeterminate "
        f"{_fmt(measured.get('indeterminate_writes'))}, failed "
        f"{_fmt(measured.get('failed_writes'))}; detection after "
        f"{_fmt(measured.get('detection_seconds'), 's')}; one write every "
        f"{_fmt(measured.get('write_interval_seconds'), 's')}.",
    ]
    incident = report.get("incident")
    if incident and incident.get("fault"):
        flag = " (**ambiguous**)" if incident.get("ambiguous") else ""
        lines += ["", f"Incident: `{incident['fault']}`{flag}: {_cell(str(incident['reason']))}."]
    faults = report.get("faults") or []
    if faults:
        lines += [
            "",
            "| fault | status | effective (s after incident) | at: declared / actual | "
            "duration: declared / actual | acked in force | lost of those | failed |",
            "|---|---|---:|---:|---:|---:|---:|---:|",
        ]
        for f in faults:
            lines.append(
                f"| {f['fault']}{' (incident)' if f.get('incident') else ''} | {f['status']} | "
                f"{_fmt(f.get('t_effective_seconds'), 's')} | "
                f"{_fmt(f.get('declared_at_seconds'), 's')} / "
                f"{_fmt(f.get('actual_at_seconds'), 's')} | "
                f"{_fmt(f.get('declared_duration_seconds'), 's')} / "
                f"{_fmt(f.get('actual_duration_seconds'), 's')} | "
                f"{_fmt(f.get('acknowledged_writes'))} | {_fmt(f.get('lost_writes'))} | "
                f"{_fmt(f.get('failed_writes'))} |"
            )
    steps = [
        e for e in report.get("timeline", []) if str(e.get("event", "")).startswith("runbook:")
    ]
    if steps:
        lines += [
            "",
            "| runbook step | status | started (s after incident) | duration | output |",
            "|---|---|---:|---:|---|",
        ]
        for e in steps:
            output = e.get("error") or json.dumps(e.get("value"), default=str)
            lines.append(
                f"| {str(e['event']).removeprefix('runbook:')} | {e.get('status')} | "
                f"{_fmt(e.get('t_start_seconds'), 's')} | {_fmt(e.get('duration_seconds'), 's')} "
                f"| {_cell(output)} |"
            )
    problems = [
        f"{c['name']}: {c['reason']}" for c in report.get("checks", []) if c["verdict"] != "pass"
    ]
    problems += [str(n).splitlines()[0] for n in report.get("notes", []) if n]
    if report.get("error"):
        problems.append("error: " + str(report["error"]).splitlines()[0])
    if problems:
        lines += ["", *[f"- {_cell(p)}" for p in problems]]
    versions = report.get("versions") or {}
    shown = ", ".join(
        f"{k} {v}" for k, v in versions.items() if k in ("drillkit", "postgresql", "redis")
    )
    evidence = report.get("evidence") or {}
    signed = (
        f"signed with Ed25519 key {evidence.get('key_fingerprint')}"
        if evidence.get("signed")
        else "unsigned"
    )
    lines += [
        "",
        f"Versions: {shown or '-'}. Evidence: `{report_dir or '.'}` ({signed}; "
        "`drillkit evidence verify` checks it).",
    ]
    return "\n".join(lines).replace("\n\n\n", "\n\n") + "\n"
