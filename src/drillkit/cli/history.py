"""``drillkit history``: recent runs, percentiles per drill and RTO regressions."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from drillkit.cli.output import JsonOpt, console, print_json
from drillkit.report.format import fmt
from drillkit.safetext import markup
from drillkit.trends import default_db, drill_stats, recent_runs

__all__ = ["history"]

_out = console()


def history(
    drill: Annotated[str | None, typer.Argument(help="only this drill")] = None,
    report_dir: Annotated[Path, typer.Option(help="where the evidence folders are")] = Path(
        "reports"
    ),
    limit: Annotated[int, typer.Option(help="how many recent runs to list")] = 20,
    as_json: Annotated[bool, JsonOpt] = False,
) -> None:
    """Recent runs, p50/p95 RTO and RPO per drill, and RTO regressions."""
    db = default_db(report_dir)
    runs = recent_runs(db, drill, limit=limit)
    if as_json:
        print_json(
            _out,
            {
                "database": str(db),
                "runs": [asdict(r) for r in runs],
                "drills": [asdict(s) for s in drill_stats(db, drill)] if runs else [],
            },
        )
        return
    if not runs:
        _out.print(f"no runs recorded in {markup(db)}", highlight=False)
        return
    table = Table(title="recent runs (newest first)")
    for column in ("started", "drill", "verdict", "RTO s", "RPO s", "lost", "", "evidence"):
        table.add_column(column, overflow="fold")
    for r in runs:
        flag = ""
        if r.rto_regressed and r.recent_rto_range is not None:
            lo, hi = r.recent_rto_range
            flag = f"[red]RTO regressed[/red] (recent {lo:.3f}..{hi:.3f}s)"
        style = {"pass": "green", "fail": "red"}.get(r.verdict, "yellow")
        table.add_row(
            markup(r.started_at),
            markup(r.drill),
            f"[{style}]{markup(r.verdict)}",
            fmt(r.rto_seconds),
            fmt(r.rpo_seconds),
            "-" if r.lost_writes is None else str(r.lost_writes),
            flag,
            markup(r.report_path),
        )
    _out.print(table)
    stats = Table(title="per drill (latest 20 runs)")
    for column in (
        "drill",
        "runs",
        "passed",
        "RTO p50",
        "RTO p95",
        "RPO p50",
        "RPO p95",
        "last success",
    ):
        stats.add_column(column)
    for s in drill_stats(db, drill):
        stats.add_row(
            markup(s.drill),
            str(s.runs),
            str(s.passed),
            fmt(s.rto_p50),
            fmt(s.rto_p95),
            fmt(s.rpo_p50),
            fmt(s.rpo_p95),
            markup(s.last_success or "never"),
        )
    _out.print(stats)
