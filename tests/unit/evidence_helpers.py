"""A literal drill run (history in test milliseconds) turned into a real report, for the
evidence tests: nothing here touches Docker."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from builders import OK, SURVIVORS, failover

from drillkit.checkers import analyze
from drillkit.history import Op
from drillkit.report.evidence import build_report
from drillkit.report.model import Report
from drillkit.spec import load_drill

REPO = Path(__file__).resolve().parents[2]
WALL0 = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def literal_run(
    *, survivors: list[int] | None = None, drill: str = "failover"
) -> tuple[Report, list[Op]]:
    """The builders' failover script with a start marker and a final read, judged and reported."""
    script = failover().add(
        -10,
        "drill",
        OK,
        "start",
        {"run_id": "r1", "drill": drill},
        wall_time_ns=int(WALL0.timestamp() * 1e9) + 0,
    )
    ops = script.final_read(SURVIVORS if survivors is None else survivors, at=2000).ops()
    spec = load_drill(REPO / "drills" / "failover.yaml")
    spec = spec.model_copy(update={"name": drill})
    analysis = analyze(ops, spec.targets, 0.3)
    report = build_report(
        spec,
        ops,
        analysis,
        run_id=f"{drill}-20260102T030405Z-abc123",
        drill_file="drills/x.yaml",
        started_at=WALL0,
        finished_at=WALL0 + timedelta(seconds=3),
        versions={"postgresql": "15.9"},
        context={},
        error=None,
    )
    return report, ops


def edited(report: Report, change: Callable[[dict[str, Any]], object]) -> Report:
    """A copy of ``report`` changed as its report.json would be by ``change`` (then validated)."""
    data = report.as_json()
    change(data)
    return Report.model_validate(data)
