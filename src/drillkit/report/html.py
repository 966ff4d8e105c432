"""report.html: one self-contained page (inline CSS and SVG, no script, nothing fetched).

It shows the verdict, the targets beside the measurements, a timeline chart of the workload's
operations (ok / fail / info per time bin) with the fault and runbook steps marked and the RPO
and RTO windows shaded, the runbook steps with their durations, and the configuration.
"""

from __future__ import annotations

import json
from html import escape
from typing import Any

from drillkit.history import Op
from drillkit.report.audit import audit_rows
from drillkit.report.chart import legend_html, timeline_summary, timeline_svg
from drillkit.report.format import (
    READER_PHASE_HEADERS,
    cache_summary,
    fmt,
    reader_phase_rows,
    reader_summary,
    target_rows,
)
from drillkit.report.model import Report

__all__ = ["render_html", "timeline_svg"]

_VERDICT_COLOR = {"pass": "#1f7a35", "fail": "#b3261e", "unknown": "#8a6d00"}

_CSS = """
*{box-sizing:border-box}
body{font:15px/1.45 system-ui,sans-serif;margin:24px auto;max-width:1000px;color:#222;
padding:0 12px;overflow-wrap:break-word}
#configuration td,.kv td,code{overflow-wrap:anywhere}.kv th{white-space:nowrap}
h1{font-size:22px;margin:0 0 4px}h2{font-size:18px;margin:24px 0 8px}
table{border-collapse:collapse;margin:4px 0;max-width:100%}
td,th{border:1px solid #ccc;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#f0f0f0}.scroll{overflow-x:auto;max-width:100%}
.verdict{display:inline-block;color:#fff;font-weight:700;padding:6px 14px;border-radius:4px;
font-size:18px}.pass{color:#1f7a35}.fail{color:#b3261e}.unknown{color:#6b5600}
.legend span{display:inline-block;margin:0 14px 4px 0}.swatch{display:inline-block;width:14px;
height:14px;margin-right:4px;vertical-align:middle;border:1px solid #555}
pre{background:#f6f6f6;padding:8px;white-space:pre-wrap}small{color:#555}
figure{margin:0}.timeline-chart{display:block;width:100%;height:auto}
.chart-narrow{display:none}.summary-text{font-size:14px}
@media (max-width:800px){.chart-wide{display:none}.chart-narrow{display:block}
body{margin:12px auto}td,th{padding:3px 5px}}
@media print{body{max-width:none;margin:0;font-size:11pt}td{overflow-wrap:anywhere}
.chart-wide{display:block}
.chart-narrow{display:none}.scroll{overflow:visible}table{page-break-inside:auto}
tr,figure{page-break-inside:avoid}h2{page-break-after:avoid}
.verdict{-webkit-print-color-adjust:exact;print-color-adjust:exact}
svg{-webkit-print-color-adjust:exact;print-color-adjust:exact}}
"""


def _table(headers: list[str], rows: list[list[str]]) -> str:
    """An HTML table; cells are already escaped HTML."""
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f'<div class="scroll"><table><tr>{head}</tr>{body}</table></div>'


def _target_rows(report: Report) -> list[list[str]]:
    return [
        [
            escape(r.label),
            escape(r.target),
            escape(r.measured),
            escape(r.resolution),
            f'<b class="{escape(r.verdict)}">{escape(r.verdict)}</b>',
            escape(r.reason),
        ]
        for r in target_rows(report)
    ]


def _faults_html(report: Report) -> str:
    fault_rows = [
        [
            escape(f.fault + (" (incident)" if f.incident else "")),
            escape(f.status),
            escape(fmt(f.t_effective_seconds, "s")),
            escape(f"{fmt(f.declared_at_seconds, 's')} / {fmt(f.actual_at_seconds, 's')}"),
            escape(
                f"{fmt(f.declared_duration_seconds, 's')} / {fmt(f.actual_duration_seconds, 's')}"
            ),
            escape(fmt(f.acknowledged_writes)),
            escape(fmt(f.lost_writes)),
            escape(fmt(f.failed_writes)),
            escape(f.effective_by or ""),
        ]
        for f in report.faults
    ]
    if not fault_rows:
        return "<p>No fault was injected.</p>"
    return _table(
        [
            "fault",
            "status",
            "effective (s after incident)",
            "at: declared / actual",
            "duration: declared / actual",
            "acked in force",
            "lost of those",
            "failed",
            "effective time from",
        ],
        fault_rows,
    )


def _production_html(report: Report) -> str:
    """ "Drilled with production settings except: ..." per dump (--production-config)."""
    parts = []
    for c in report.production or []:
        where = f"{c.source}, {c.engine}" + (f", node {c.node}" if c.node else "")
        if not c.differences:
            parts.append(
                f"<p>Drilled with production settings ({escape(where)}): no difference "
                f"in {c.compared} settings.</p>"
            )
            continue
        rows = [
            [
                escape(d.setting),
                escape("(absent)" if d.drilled is None else d.drilled),
                escape("(absent)" if d.production is None else d.production),
                '<b class="fail">decides data loss or recovery time</b>' if d.critical else "",
            ]
            for d in sorted(c.differences, key=lambda d: (not d.critical, d.setting))
        ]
        parts.append(
            f"<p>Drilled with production settings ({escape(where)}) except "
            f"{len(c.differences)} of {c.compared} ({len(c.critical)} critical):</p>"
            + _table(["setting", "drilled", "production", ""], rows)
        )
    return '<h2 id="production">Production settings</h2>' + "".join(parts) if parts else ""


def render_html(report: Report, ops: list[Op]) -> str:
    verdict = report.verdict
    measured = report.measured
    rows = _target_rows(report)
    step_rows = [
        [
            escape(e.step or ""),
            f'<b class="{"pass" if e.status == "ok" else "fail"}">{escape(str(e.status))}</b>',
            escape(fmt(e.t_start_seconds, "s")),
            escape(fmt(e.duration_seconds, "s")),
            escape(e.error or json.dumps(e.value, default=str)),
        ]
        for e in report.steps()
    ]
    counts = (
        f"acknowledged {fmt(measured.acknowledged_writes)}, indeterminate "
        f"{fmt(measured.indeterminate_writes)}, failed "
        f"{fmt(measured.failed_writes)}"
    )
    incident = report.incident
    incident_html = (
        f'<p id="incident">Incident: <b>{escape(incident.fault)}</b>'
        + (' <b class="unknown">ambiguous</b>' if incident.ambiguous else "")
        + f": {escape(incident.reason)}.</p>"
        if incident is not None and incident.fault
        else ""
    )
    faults_html = _faults_html(report)
    evidence = report.evidence
    signed = (
        "signed (Ed25519, key " + escape(str(evidence.key_fingerprint)) + ")"
        if evidence is not None and evidence.signed
        else "unsigned (no signing key was set)"
    )
    notes = "".join(f"<li>{escape(n)}</li>" for n in report.notes)
    error = f"<h2>Error</h2><pre>{escape(report.error)}</pre>" if report.error else ""
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>drillkit {escape(report.drill)}: {escape(verdict.upper())}</title>
<style>{_CSS}</style></head><body>
<h1>Drill {escape(report.drill)}</h1>
<p><span id="verdict" class="verdict" style="background:{_VERDICT_COLOR.get(verdict, "#555")}"
>{escape(verdict.upper())}</span></p>
<p>{escape(report.description or "")}<br><small>run {escape(report.run_id)},
{escape(report.started_at)} to {escape(report.finished_at)}
({fmt(report.duration_seconds, "s")}); the incident took effect at
{escape(str(report.fault_effective_at))}; times below are seconds since then</small></p>
<h2>Targets and measurements</h2>
{_table(["", "target", "measured", "resolution", "verdict", "reason"], rows)}
<p>Writes: {escape(counts)}; one write every
{escape(fmt(measured.write_interval_seconds, "s"))}.</p>
{incident_html}
{_readers_html(report)}
{_cache_html(report)}
<h2>Faults</h2>
{faults_html}
{f"<h2>Notes</h2><ul>{notes}</ul>" if notes else ""}{error}
<h2>Timeline</h2>
{_timeline_html(report, ops)}
<h2>Runbook</h2>
{
        _table(["step", "status", "started (s after incident)", "duration", "output"], step_rows)
        if step_rows
        else "<p>No runbook steps ran.</p>"
    }
{_production_html(report)}
<h2>Configuration and versions</h2>
{_config_html(report)}
{_audit_html(report)}
<h2>Evidence</h2><p>This bundle is {signed}. Every file is listed with its SHA-256 in
<code>manifest.sha256</code>; check it with <code>drillkit evidence verify DIR --public-key
SIGNER.pub</code> (the signer's public key from your own records).</p>
</body></html>
"""


def _readers_html(report: Report) -> str:
    if report.readers is None:
        return ""
    rows = [[escape(c) for c in row] for row in reader_phase_rows(report)]
    return (
        '<h2 id="readers">What readers saw</h2>'
        + _table(READER_PHASE_HEADERS, rows)
        + f"<p>{escape(reader_summary(report))}.</p>"
    )


def _cache_html(report: Report) -> str:
    if report.cache is None:
        return ""
    summary = escape(cache_summary(report))
    return f'<h2 id="cache">What reads through the cache saw</h2><p>{summary}.</p>'


def _timeline_html(report: Report, ops: list[Op]) -> str:
    """The chart twice (wide for desktops and print, narrow for phones: CSS shows one), its
    legend, and its text alternative as the figure's caption."""
    return (
        '<figure id="timeline" aria-describedby="timeline-summary">'
        f'<div class="chart-wide">{timeline_svg(report, ops, 960, chart_id="timeline-chart")}'
        "</div>"
        f'<div class="chart-narrow">'
        f"{timeline_svg(report, ops, 400, chart_id='timeline-chart-narrow')}</div>"
        f'<figcaption><div class="legend">{legend_html()}</div>'
        f'<p id="timeline-summary" class="summary-text">{escape(timeline_summary(report))}</p>'
        "</figcaption></figure>"
    )


def _flatten(value: Any, path: str = "") -> list[tuple[str, str]]:
    if isinstance(value, dict) and value:
        return [
            row
            for k, v in value.items()
            for row in _flatten(v, f"{path} / {k}" if path else str(k))
        ]
    if isinstance(value, list) and value and any(isinstance(v, dict | list) for v in value):
        return [row for i, v in enumerate(value) for row in _flatten(v, f"{path}[{i}]")]
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return [(path, text)]


def _config_html(report: Report) -> str:
    """Versions and the configuration fingerprint as readable tables (they print in full)."""
    versions = _table(
        ["component", "version"], [[escape(k), escape(str(v))] for k, v in report.versions.items()]
    )
    if report.configuration is None:
        return versions + "<p>The topology did not provide a configuration fingerprint.</p>"
    rows = [[escape(k), escape(v)] for k, v in _flatten(report.configuration)]
    return versions + '<div id="configuration">' + _table(["setting", "value"], rows) + "</div>"


def _audit_html(report: Report) -> str:
    """Who ran the drill, where, from what; and the control mapping (``--controls``)."""
    rows = audit_rows(report)
    out = ""
    if rows:
        body = "".join(
            f'<tr><th scope="row">{escape(k)}</th><td>{escape(v)}</td></tr>' for k, v in rows
        )
        out += f'<h2 id="audit">Audit</h2><table class="kv">{body}</table>'
    if report.controls:
        out += (
            '<h2 id="controls">Control mapping</h2><p>What this run is evidence for under each '
            "control, and what it cannot show. Evidence for an auditor's test, not a "
            "certification.</p>"
            + _table(
                ["control", "this run is evidence for", "still needs a person"],
                [
                    [
                        f"<b>{escape(c.framework)} {escape(c.control)}</b><br>{escape(c.title)}",
                        escape(c.evidences),
                        escape(c.needs_human),
                    ]
                    for c in report.controls
                ],
            )
        )
    return out
