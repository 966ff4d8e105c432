"""Drill history across runs: an embedded SQLite database under ``reports/``.

Every finalized run is one row (drill, start, verdict, RPO, RTO, lost writes, versions, report
path). From it come recent runs, p50/p95 of RTO and RPO per drill, the time of the last success
(for the ``drillkit_last_success_timestamp_seconds`` metric) and RTO regressions: a run whose RTO
is above the drill's recent range, i.e. more than ``tolerance`` above the highest RTO of the
previous ``window`` runs that measured one (at least ``min_runs`` of them).
"""

from __future__ import annotations

import json
import math
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from drillkit.report.model import Report

__all__ = [
    "DB_FILE",
    "DrillStats",
    "RunRow",
    "default_db",
    "drill_stats",
    "last_success",
    "percentile",
    "recent_runs",
    "record_run",
    "regressed",
]

DB_FILE = "drillkit.sqlite3"
WINDOW = 10
TOLERANCE = 0.2
MIN_RUNS = 3

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY,
    drill TEXT NOT NULL,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    verdict TEXT NOT NULL,
    rpo_seconds REAL,
    rto_seconds REAL,
    lost_writes INTEGER,
    versions TEXT NOT NULL DEFAULT '{}',
    report_path TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS runs_by_drill ON runs (drill, started_at);
"""


def default_db(report_root: Path) -> Path:
    return report_root / DB_FILE


@contextmanager
def _connect(db: Path) -> Iterator[sqlite3.Connection]:
    db.parent.mkdir(parents=True, exist_ok=True)
    with closing(sqlite3.connect(db, timeout=30)) as conn:
        conn.row_factory = sqlite3.Row
        conn.executescript(_SCHEMA)
        with conn:  # one transaction
            yield conn


def record_run(db: Path, report: Report, report_dir: Path) -> None:
    """Insert (or replace) the run described by ``report``."""
    measured = report.measured
    with _connect(db) as conn:
        conn.execute(
            "INSERT OR REPLACE INTO runs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                report.run_id,
                report.drill,
                report.started_at,
                report.finished_at,
                report.verdict,
                measured.rpo_seconds,
                measured.rto_seconds,
                measured.lost_writes,
                json.dumps(report.versions, sort_keys=True),
                str(report_dir),
            ),
        )


def percentile(values: Sequence[float], q: float) -> float | None:
    """The ``q``-th percentile (0..100) with linear interpolation between closest ranks."""
    if not values:
        return None
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100
    lo, hi = math.floor(pos), math.ceil(pos)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def regressed(
    rto: float | None,
    previous: Sequence[float],
    *,
    tolerance: float = TOLERANCE,
    min_runs: int = MIN_RUNS,
) -> bool:
    """Whether ``rto`` is beyond the recent range: above ``max(previous) * (1 + tolerance)``."""
    if rto is None or len(previous) < min_runs:
        return False
    return rto > max(previous) * (1 + tolerance)


@dataclass(frozen=True)
class RunRow:
    run_id: str
    drill: str
    started_at: str
    verdict: str
    rpo_seconds: float | None
    rto_seconds: float | None
    lost_writes: int | None
    versions: dict[str, Any]
    report_path: str
    rto_regressed: bool = False
    recent_rto_range: tuple[float, float] | None = None


def _rows(db: Path, drill: str | None) -> list[sqlite3.Row]:
    if not db.is_file():
        return []
    with _connect(db) as conn:
        sql = "SELECT * FROM runs" + (" WHERE drill = ?" if drill else "")
        return list(conn.execute(sql + " ORDER BY started_at, run_id", (drill,) if drill else ()))


def recent_runs(
    db: Path,
    drill: str | None = None,
    *,
    limit: int = 20,
    window: int = WINDOW,
    tolerance: float = TOLERANCE,
) -> list[RunRow]:
    """The latest ``limit`` runs (newest first), each flagged if its RTO regressed."""
    out: list[RunRow] = []
    previous: dict[str, list[float]] = {}
    for r in _rows(db, drill):
        seen = previous.setdefault(r["drill"], [])
        recent = seen[-window:]
        out.append(
            RunRow(
                r["run_id"],
                r["drill"],
                r["started_at"],
                r["verdict"],
                r["rpo_seconds"],
                r["rto_seconds"],
                r["lost_writes"],
                json.loads(r["versions"] or "{}"),
                r["report_path"],
                regressed(r["rto_seconds"], recent, tolerance=tolerance),
                (min(recent), max(recent)) if recent else None,
            )
        )
        if r["rto_seconds"] is not None:
            seen.append(float(r["rto_seconds"]))
    return out[::-1][:limit]


@dataclass(frozen=True)
class DrillStats:
    drill: str
    runs: int
    passed: int
    rto_p50: float | None
    rto_p95: float | None
    rpo_p50: float | None
    rpo_p95: float | None
    last_run: str | None
    last_success: str | None


def drill_stats(db: Path, drill: str | None = None, *, window: int = 20) -> list[DrillStats]:
    """Per drill, over its latest ``window`` runs: pass count and p50/p95 of RTO and RPO."""
    by_drill: dict[str, list[sqlite3.Row]] = {}
    for r in _rows(db, drill):
        by_drill.setdefault(r["drill"], []).append(r)
    out = []
    for name, rows in sorted(by_drill.items()):
        latest = rows[-window:]
        rto = [float(r["rto_seconds"]) for r in latest if r["rto_seconds"] is not None]
        rpo = [float(r["rpo_seconds"]) for r in latest if r["rpo_seconds"] is not None]
        passed = [r for r in rows if r["verdict"] == "pass"]
        out.append(
            DrillStats(
                name,
                len(latest),
                sum(1 for r in latest if r["verdict"] == "pass"),
                percentile(rto, 50),
                percentile(rto, 95),
                percentile(rpo, 50),
                percentile(rpo, 95),
                rows[-1]["started_at"],
                passed[-1]["finished_at"] if passed else None,
            )
        )
    return out


def last_success(db: Path, drill: str) -> float | None:
    """Unix time at which ``drill`` last finished with verdict pass, if it ever did."""
    stats = drill_stats(db, drill)
    if not stats or stats[0].last_success is None:
        return None
    return datetime.fromisoformat(stats[0].last_success).timestamp()
