"""Drill history in SQLite: percentiles, RTO regressions beyond the recent range, last success."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from evidence_helpers import edited, literal_run

from drillkit.report.model import Report
from drillkit.trends import (
    drill_stats,
    last_success,
    percentile,
    recent_runs,
    record_run,
    regressed,
)

BASE, _ = literal_run()


def _report(
    n: int, rto: float | None, verdict: str = "pass", drill: str = "failover", rpo: float = 0.0
) -> Report:
    def change(r: dict[str, Any]) -> None:
        r.update(
            run_id=f"{drill}-{n}",
            drill=drill,
            started_at=f"2026-01-{n:02d}T00:00:00.000+00:00",
            finished_at=f"2026-01-{n:02d}T00:00:10.000+00:00",
            verdict=verdict,
            versions={"drillkit": "0.1.0", "postgresql": "15.9"},
        )
        r["measured"].update(rpo_seconds=rpo, rto_seconds=rto, lost_writes=0)

    return edited(BASE, change)


def test_percentile_interpolates_between_closest_ranks() -> None:
    assert percentile([], 50) is None
    assert percentile([3.0], 95) == 3.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == pytest.approx(2.5)
    assert percentile(list(map(float, range(1, 21))), 95) == pytest.approx(19.05)
    assert percentile([5.0, 1.0, 3.0], 0) == 1.0 and percentile([5.0, 1.0, 3.0], 100) == 5.0


def test_regression_needs_enough_history_and_a_margin_above_the_recent_maximum() -> None:
    assert not regressed(9.0, [1.0, 1.1])  # too few runs to have a range
    assert not regressed(1.3, [1.0, 1.1, 1.2])  # within 20 % of the maximum
    assert regressed(1.5, [1.0, 1.1, 1.2])
    assert not regressed(None, [1.0, 1.1, 1.2])
    assert regressed(1.3, [1.0, 1.1, 1.2], tolerance=0.05)


def test_runs_are_recorded_and_a_regressed_run_is_flagged(tmp_path: Path) -> None:
    db = tmp_path / "drillkit.sqlite3"
    rtos = [1.0, 1.2, 1.1, 1.15, 2.0, None]
    for n, rto in enumerate(rtos, 1):
        record_run(db, _report(n, rto, "pass" if rto and rto < 1.9 else "fail"), tmp_path / str(n))
    record_run(db, _report(1, 3.0, drill="other"), tmp_path / "o")
    record_run(db, _report(3, 1.1), tmp_path / "3")  # the same run again replaces its row
    runs = recent_runs(db, "failover")
    assert [r.run_id for r in runs] == [f"failover-{n}" for n in range(6, 0, -1)]
    flagged = {r.run_id: r for r in runs if r.rto_regressed}
    assert list(flagged) == ["failover-5"]
    assert flagged["failover-5"].recent_rto_range == (1.0, 1.2)
    assert runs[0].versions["postgresql"] == "15.9"
    assert len(recent_runs(db, limit=3)) == 3
    assert {r.drill for r in recent_runs(db)} == {"failover", "other"}


def test_stats_per_drill_give_p50_p95_and_last_success(tmp_path: Path) -> None:
    db = tmp_path / "drillkit.sqlite3"
    for n, rto in enumerate([1.0, 2.0, 3.0, 4.0], 1):
        record_run(db, _report(n, rto, rpo=rto / 10), tmp_path)
    record_run(db, _report(5, None, "fail"), tmp_path)
    (stats,) = drill_stats(db, "failover")
    assert (stats.runs, stats.passed) == (5, 4)
    assert stats.rto_p50 == pytest.approx(2.5)
    assert stats.rto_p95 == pytest.approx(3.85)
    assert stats.rpo_p50 == pytest.approx(0.2)  # 0.0, 0.1, 0.2, 0.3, 0.4
    assert stats.last_success == "2026-01-04T00:00:10.000+00:00"
    assert last_success(db, "failover") == pytest.approx(1767484810.0)
    assert last_success(db, "never-ran") is None
    assert drill_stats(tmp_path / "absent.sqlite3") == []
