"""Reading report.json, the output under test.

Only report.json is read (never history.jsonl, never drillkit.checkers).

"""

from __future__ import annotations

from typing import Any

from tests.calibration.observer import iso_ns

NS = 1_000_000_000


def fault_events(report: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    """Timeline entries of injections of ``kind`` (not their heals)."""
    return [e for e in report.get("timeline", []) if e.get("event") == f"fault:{kind}"]


def effective_ns(report: dict[str, Any], kind: str) -> int | None:
    """Wall-clock ns at which drillkit says the first ``kind`` fault took effect."""
    for e in fault_events(report, kind):
        t = iso_ns(e.get("effective_at"))
        if t is not None:
            return t
    return None


def check_verdict(report: dict[str, Any], name: str) -> str | None:
    for c in report.get("checks", []):
        if name in str(c.get("name", "")):
            return str(c.get("verdict"))
    return None


def fault_row(report: dict[str, Any], kind: str) -> dict[str, Any]:
    """The report's per-fault attribution of the first injection of ``kind``."""
    rows = [f for f in report["faults"] if f["kind"] == kind]
    assert rows, f"report.json attributes no {kind} fault: {report['faults']}"
    return rows[0]
