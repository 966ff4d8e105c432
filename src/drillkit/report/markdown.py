"""summary.md: a short Markdown summary of one run, for pasting into a ticket or a change record."""

from __future__ import annotations

import json
from pathlib import Path

from drillkit.report.audit import audit_rows
from drillkit.report.format import cache_summary, cell, fmt, target_rows
from drillkit.report.model import Report

__all__ = ["render_markdown"]


def _or_absent(value: str | None) -> str:
    return "(absent)" if value is None else value


def render_markdown(report: Report, report_dir: Path | str | None = None) -> str:
    verdict = report.verdict.upper()
    if report.expected != "pass":
        verdict += f"** ({report.outcome}; expect: {report.expected})**"
    measured = report.measured
    lines = [
        f"### Drill `{report.drill}`: **{verdict}**",
        "",
        f"{report.description or ''}".strip(),
        "",
        f"Run `{report.run_id}`, {report.started_at} to "
        f"{report.finished_at} ({fmt(report.duration_seconds, 's')}).",
        "",
    ]
    if report.overrides:
        sets = ", ".join(f"{k}={v!r}" for k, v in report.overrides.items())
        lines += [f"Overrides (`--set`): {cell(sets)}.", ""]
    lines += [
        "| | target | measured | resolution | verdict |",
        "|---|---:|---:|---:|---|",
    ]
    lines += [
        f"| {r.label} | {r.target} | {r.measured} | {r.resolution} | {r.verdict} |"
        for r in target_rows(report)
    ]
    lines += [
        "",
        f"Writes: acknowledged {fmt(measured.acknowledged_writes)}, indeterminate "
        f"{fmt(measured.indeterminate_writes)}, failed "
        f"{fmt(measured.failed_writes)}; detection after "
        f"{fmt(measured.detection_seconds, 's')}; one write every "
        f"{fmt(measured.write_interval_seconds, 's')}.",
    ]
    if report.cache is not None:
        lines += ["", f"Cache: {cell(cache_summary(report))}."]
    incident = report.incident
    if incident and incident.fault:
        flag = " (**ambiguous**)" if incident.ambiguous else ""
        lines += ["", f"Incident: `{incident.fault}`{flag}: {cell(incident.reason)}."]
    if report.faults:
        lines += [
            "",
            "| fault | status | effective (s after incident) | at: declared / actual | "
            "duration: declared / actual | acked in force | lost of those | failed |",
            "|---|---|---:|---:|---:|---:|---:|---:|",
        ]
        for f in report.faults:
            lines.append(
                f"| {f.fault}{' (incident)' if f.incident else ''} | {f.status} | "
                f"{fmt(f.t_effective_seconds, 's')} | "
                f"{fmt(f.declared_at_seconds, 's')} / "
                f"{fmt(f.actual_at_seconds, 's')} | "
                f"{fmt(f.declared_duration_seconds, 's')} / "
                f"{fmt(f.actual_duration_seconds, 's')} | "
                f"{fmt(f.acknowledged_writes)} | {fmt(f.lost_writes)} | "
                f"{fmt(f.failed_writes)} |"
            )
    steps = report.steps()
    if steps:
        lines += [
            "",
            "| runbook step | status | started (s after incident) | duration | output |",
            "|---|---|---:|---:|---|",
        ]
        for e in steps:
            output = e.error or json.dumps(e.value, default=str)
            lines.append(
                f"| {e.step} | {e.status} | "
                f"{fmt(e.t_start_seconds, 's')} | {fmt(e.duration_seconds, 's')} "
                f"| {cell(output)} |"
            )
    problems = [f"{c.name}: {c.reason}" for c in report.checks if c.verdict != "pass"]
    problems += [n.splitlines()[0] for n in report.notes if n]
    if report.error:
        problems.append("error: " + report.error.splitlines()[0])
    if problems:
        lines += ["", *[f"- {cell(p)}" for p in problems]]
    for c in report.production or []:
        where = f"{c.source}, {c.engine}" + (f", node {c.node}" if c.node else "")
        if not c.differences:
            lines += ["", f"Drilled with production settings ({cell(where)}): no difference."]
            continue
        lines += [
            "",
            f"Drilled with production settings ({cell(where)}) except "
            f"({len(c.critical)} critical: decides data loss or recovery time):",
            "",
            "| setting | drilled | production | critical |",
            "|---|---|---|---|",
        ]
        for d in sorted(c.differences, key=lambda d: (not d.critical, d.setting)):
            lines.append(
                f"| {cell(d.setting)} | {cell(_or_absent(d.drilled))} "
                f"| {cell(_or_absent(d.production))} "
                f"| {'**yes**' if d.critical else ''} |"
            )
    shown = ", ".join(
        f"{k} {v}"
        for k, v in report.versions.items()
        if k in ("drillkit", "postgresql", "redis", "valkey")
    )
    evidence = report.evidence
    signed = (
        f"signed with Ed25519 key {evidence.key_fingerprint}"
        if evidence and evidence.signed
        else "unsigned"
    )
    lines += [
        "",
        f"Versions: {shown or '-'}. Evidence: `{report_dir or '.'}` ({signed}; "
        "`drillkit evidence verify --public-key SIGNER.pub` checks it).",
    ]
    lines += _audit_lines(report)
    return "\n".join(lines).replace("\n\n\n", "\n\n") + "\n"


def _audit_lines(report: Report) -> list[str]:
    """The audit fields and the control mapping (``--controls``)."""
    lines = [f"- {label}: {cell(value)}" for label, value in audit_rows(report)]
    if lines:
        lines = ["", "Audit:", "", *lines]
    if report.controls:
        lines += [
            "",
            "| control | this run is evidence for | still needs a person |",
            "|---|---|---|",
        ]
        lines += [
            f"| {cell(c.framework)} {cell(c.control)} ({cell(c.title)}) | {cell(c.evidences)} "
            f"| {cell(c.needs_human)} |"
            for c in report.controls
        ]
    return lines
