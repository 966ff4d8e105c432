"""The summary of a sweep (:mod:`drillkit.sweep_run`): ``summary.json``, ``summary.csv`` and
``summary.html`` (the table and one chart panel per column, linking every run's evidence).

Every renderer iterates :data:`drillkit.sweep.COLUMNS`, so a new column needs no change here.
The chart draws, per column and per cell, the p50 as a bar, the p95 as a tick and each run as a
dot, in the Okabe-Ito palette (one colour per cell, the cell's number beside it as well).
"""

from __future__ import annotations

import csv
import io
import json
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING

from drillkit.report.chart_layers import INK
from drillkit.report.html import _CSS
from drillkit.sweep import COLUMNS, CellSummary, Column, Stat

if TYPE_CHECKING:
    from drillkit.sweep_run import SweepResult

__all__ = [
    "PALETTE",
    "header",
    "number",
    "stat_text",
    "summary_csv",
    "summary_html",
    "write_summary",
]

# Okabe-Ito, black last; a cell's colour is PALETTE[index % 8] (its number is shown too)
PALETTE = ("#e69f00", "#56b4e9", "#009e73", "#0072b2", "#d55e00", "#cc79a7", "#f0e442", "#000000")
_FILES = ("summary.json", "summary.csv", "summary.html")


def number(value: float | None, column: Column) -> str:
    """``-`` when not measured; seconds to the millisecond; counts as integers; else 1 decimal."""
    if value is None:
        return "-"
    if column.unit == "s":
        return f"{value:.3f}"
    return str(int(value)) if float(value).is_integer() else f"{value:.1f}"


def stat_text(stat: Stat, column: Column) -> str:
    """``0.012 / 0.020 (n=3)``: p50 / p95 and how many runs measured it."""
    return f"{number(stat.p50, column)} / {number(stat.p95, column)} (n={stat.n})"


def header(column: Column) -> str:
    return f"{column.label} {column.unit}".strip()


def summary_csv(result: SweepResult) -> str:
    """One row per cell: its settings, runs, verdict counts, p50/p95/n of every column, and
    the folders of its runs' evidence (space-separated, relative to the sweep's folder)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    keys = [a.key for a in result.axes]
    w.writerow(
        [
            "cell",
            *keys,
            "skipped",
            "runs",
            "pass",
            "fail",
            "unknown",
            *(f"{c.key}_{s}" for c in COLUMNS for s in ("p50", "p95", "n")),
            "evidence",
        ]
    )
    for s in result.cells:
        settings = dict(s.cell.settings)
        stats = [s.stat(c) for c in COLUMNS]
        w.writerow(
            [
                s.cell.name,
                *(settings.get(k, "") for k in keys),
                s.skipped or "",
                len(s.runs),
                *s.verdicts.values(),
                *(
                    v
                    for st in stats
                    for v in (
                        "" if st.p50 is None else st.p50,
                        "" if st.p95 is None else st.p95,
                        st.n,
                    )
                ),
                " ".join(r.report_dir for r in s.runs),
            ]
        )
    return buf.getvalue()


def _panel(column: Column, cells: list[CellSummary], width: int = 900) -> str:
    """One column's chart: a row per run cell (bar p50, tick p95, dot per run)."""
    rows = [s for s in cells if s.skipped is None]
    values = [v for s in rows for r in s.runs if (v := r.values.get(column.key)) is not None]
    top = max(values, default=0.0) or 1.0
    left, right, row_h, head = 40, 400, 26, 24
    pw = width - left - right
    height = head + row_h * max(len(rows), 1) + 8

    def x(v: float) -> float:
        return left + pw * v / top

    parts = [
        f'<text x="0" y="16" font-weight="700" fill="{INK}">{escape(header(column))}'
        f" (p50 bar, p95 tick, one dot per run; axis 0 to {escape(number(top, column))})</text>"
    ]
    for i, s in enumerate(rows):
        y = head + i * row_h
        color = PALETTE[s.cell.index % len(PALETTE)]
        st = s.stat(column)
        parts.append(
            f'<text x="{left - 6}" y="{y + 17}" text-anchor="end" fill="{INK}">'
            f"#{s.cell.index + 1}</text>"
        )
        if st.p50 is not None:
            parts.append(
                f'<rect x="{left}" y="{y + 4}" width="{max(x(st.p50) - left, 1):.1f}" '
                f'height="{row_h - 8}" fill="{color}" stroke="{INK}" stroke-width="0.5">'
                f"<title>{escape(s.cell.name)}: {escape(stat_text(st, column))}</title></rect>"
            )
        if st.p95 is not None:
            xp = x(st.p95)
            parts.append(
                f'<line x1="{xp:.1f}" x2="{xp:.1f}" y1="{y + 1}" y2="{y + row_h - 1}" '
                f'stroke="{INK}" stroke-width="2"/>'
            )
        for r in s.runs:
            v = r.values.get(column.key)
            if v is not None:
                parts.append(
                    f'<circle cx="{x(v):.1f}" cy="{y + row_h / 2}" r="3" fill="#fff" '
                    f'stroke="{INK}"><title>run {r.n}: {escape(number(v, column))}</title></circle>'
                )
        parts.append(
            f'<text x="{width - right + 6}" y="{y + 17}" fill="{INK}">'
            f"{escape(stat_text(st, column))}"
            f'<tspan fill="#555"> {escape(_short(s.cell.name))}</tspan></text>'
        )
    return (
        f'<svg class="sweep-chart" role="img" viewBox="0 0 {width} {height}" width="{width}" '
        f'height="{height}" font-size="13" font-family="system-ui,sans-serif">'
        f"<title>{escape(header(column))} per cell</title>{''.join(parts)}</svg>"
    )


def _short(name: str, limit: int = 36) -> str:
    return name if len(name) <= limit else name[: limit - 1] + "…"


def _row(s: CellSummary) -> list[str]:
    swatch = (
        f'<span class="swatch" style="background:{PALETTE[s.cell.index % len(PALETTE)]}"></span>'
    )
    runs = " ".join(
        f'<a href="{escape(r.report_dir)}/report.html">{r.n}</a>'
        f' <small class="{escape(r.verdict)}">{escape(r.verdict)}</small>'
        for r in s.runs
    )
    verdicts = s.verdicts
    return [
        f"{swatch}#{s.cell.index + 1}",
        escape(s.cell.name)
        + (f'<br><small class="unknown">skipped: {escape(s.skipped)}</small>' if s.skipped else ""),
        f"{verdicts['pass']} / {verdicts['fail']} / {verdicts['unknown']}",
        *(escape(stat_text(s.stat(c), c)) for c in COLUMNS),
        runs or "-",
    ]


def summary_html(result: SweepResult) -> str:
    """A self-contained page: the settings swept, the table, a chart panel per column, the
    column definitions, and a link to every run's ``report.html``."""
    heads = ["#", "cell", "pass / fail / unknown"]
    heads += [f"{header(c)} p50 / p95 (n)" for c in COLUMNS] + ["runs (evidence)"]
    head = "".join(f"<th>{escape(h)}</th>" for h in heads)
    body = "".join(
        "<tr>" + "".join(f"<td>{c}</td>" for c in _row(s)) + "</tr>" for s in result.cells
    )
    axes = ", ".join(f"{a.key} = {', '.join(a.values)}" for a in result.axes) or "none"
    state = (
        "interrupted: the summary covers the runs that finished"
        if result.interrupted
        else ("finished" if result.finished_at else "running")
    )
    definitions = "".join(
        f"<dt>{escape(header(c))}</dt><dd>{escape(c.definition)}</dd>" for c in COLUMNS
    )
    charts = "".join(f"<figure>{_panel(c, result.cells)}</figure>" for c in COLUMNS)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>drillkit sweep {escape(result.drill)}</title>
<style>{_CSS}.sweep-chart{{max-width:100%;height:auto}}</style></head><body>
<h1>Sweep of {escape(result.drill)}</h1>
<p><small>{escape(result.sweep_id)}: {escape(result.drill_file)}, {result.repeat} run(s) per
cell, started {escape(result.started_at.isoformat(timespec="seconds"))}; {escape(state)}.
</small></p>
<p>Swept: {escape(axes)}.</p>
<h2>Per configuration</h2>
<div class="scroll"><table id="cells"><tr>{head}</tr>{body}</table></div>
<h2>Chart</h2>{charts}
<h2>Columns</h2><dl>{definitions}<dt>p50, p95</dt><dd>percentiles over the cell's runs that
measured the value, linear interpolation between closest ranks (as drillkit history); n counts
those runs</dd></dl>
</body></html>
"""


def write_summary(result: SweepResult) -> list[Path]:
    """Write ``summary.json``, ``summary.csv`` and ``summary.html`` into the sweep's folder."""
    texts = (
        json.dumps(result.as_json(), indent=2) + "\n",
        summary_csv(result),
        summary_html(result),
    )
    paths = []
    for name, text in zip(_FILES, texts, strict=True):
        path = result.folder / name
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
        paths.append(path)
    return paths
