"""report.json: built only from the history and the analysis; secrets redacted on write."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from builders import OK, SURVIVORS, Script, failover

from drillkit.checkers import analyze
from drillkit.history import Op
from drillkit.report.evidence import SCHEMA_VERSION, build_report, write_report
from drillkit.report.model import Report
from drillkit.secrets import Secrets
from drillkit.spec import DrillSpec

STARTED = datetime(2025, 1, 1, tzinfo=UTC)
WALL0_NS = int(STARTED.timestamp()) * 1_000_000_000

SPEC = DrillSpec.model_validate(
    {
        "name": "unit",
        "topology": {"kind": "postgres"},
        "workload": {"stable_window_seconds": 0.3},
        "faults": [{"kind": "kill"}],
        "runbook": [{"step": "promote", "delay_seconds": 0.1}],
        "targets": {"rpo_seconds": 0.5, "rto_seconds": 1, "max_lost_writes": 0},
    }
)


def started(script: Script) -> Script:
    """The run's start marker, which maps monotonic test time 0 to 2025-01-01T00:00:00Z."""
    return script.add(0, "drill", OK, "start", {"drill": "unit"}, wall_time_ns=WALL0_NS)


def report_of(ops: list[Op], **overrides: Any) -> Report:
    analysis = analyze(ops, SPEC.targets, SPEC.workload.stable_window_seconds)
    kwargs: dict[str, Any] = {
        "run_id": "unit-20250101T000000Z-abc123",
        "drill_file": "drills/unit.yaml",
        "started_at": STARTED,
        "finished_at": STARTED + timedelta(seconds=3),
        "versions": {"postgres": "15.8"},
        "context": {"nodes": {"pg0": "primary", "pg1": "replica"}},
        "error": None,
    }
    kwargs.update(overrides)
    return build_report(SPEC, ops, analysis, **kwargs)


def json_of(ops: list[Op], **overrides: Any) -> dict[str, Any]:
    """What report.json holds for this run."""
    return report_of(ops, **overrides).as_json()


def at(seconds: str) -> str:
    return f"2025-01-01T00:00:{seconds}+00:00"


def test_report_header_verdict_and_targets() -> None:
    report = json_of(started(failover()).final_read(SURVIVORS, at=1600).ops())

    assert report["schema_version"] == SCHEMA_VERSION == 1
    assert report["drill"] == "unit"
    assert report["run_id"] == "unit-20250101T000000Z-abc123"
    assert report["duration_seconds"] == 3.0
    assert report["verdict"] == "pass"
    assert report["targets"] == {"rpo_seconds": 0.5, "rto_seconds": 1.0, "max_lost_writes": 0}
    assert [(c["name"], c["verdict"]) for c in report["checks"]] == [
        ("rpo_seconds", "pass"),
        ("max_lost_writes", "pass"),
        ("rto_seconds", "pass"),
    ]
    assert report["fault_effective_at"] == at("00.500")
    json.dumps(report)  # serialisable as is


def test_measured_values() -> None:
    report = json_of(started(failover()).final_read(SURVIVORS, at=1600).ops())

    assert {
        k: report["measured"][k]
        for k in (
            "rpo_seconds",
            "rto_seconds",
            "lost_writes",
            "acknowledged_writes",
            "indeterminate_writes",
            "failed_writes",
            "indeterminate_vanished",
            "detection_seconds",
        )
    } == {
        "rpo_seconds": 0.0,
        "rto_seconds": 0.51,
        "lost_writes": 0,
        "acknowledged_writes": 11,
        "indeterminate_writes": 1,
        "failed_writes": 0,
        "indeterminate_vanished": 1,
        "detection_seconds": 0.46,
    }


def test_measured_loss() -> None:
    report = json_of(started(failover()).final_read([1, 2, 3, *range(7, 13)], at=1600).ops())

    assert report["verdict"] == "fail"
    assert report["measured"]["rpo_seconds"] == 0.19
    assert report["measured"]["lost_writes"] == 2
    assert report["measured"]["lost_ids_sample"] == [4, 5]
    assert report["measured"]["lost_window_seconds"] == [-0.19, -0.09]
    assert report["measured"]["lost_after_fault"] == 0


def test_without_a_final_read_writes_are_counted_from_the_history() -> None:
    report = json_of(started(failover()).ops())

    assert report["verdict"] == "unknown"
    assert report["measured"]["lost_writes"] is None
    assert report["measured"]["rpo_seconds"] is None
    assert report["measured"]["acknowledged_writes"] == 11
    assert report["measured"]["indeterminate_writes"] == 1
    assert report["notes"] == ["no final read of surviving writes: lost writes and RPO unknown"]


def test_timeline_shows_the_fault_with_requested_and_effective_times() -> None:
    report = json_of(started(failover()).final_read(SURVIVORS, at=1600).ops())

    [fault] = [e for e in report["timeline"] if e["event"] == "fault:kill"]
    assert fault == {
        "event": "fault:kill",
        "status": "ok",
        "started_at": at("00.450"),
        "finished_at": at("00.500"),
        "t_start_seconds": -0.05,
        "t_end_seconds": 0.0,
        "requested_at": at("00.450"),
        "effective_at": at("00.500"),
        "reported_effective_at": at("00.500"),
        "detail": {"evidence": "container exited with status 137"},
        "value": {"node": "pg-0", "target": "primary"},
    }


def test_timeline_in_order_with_runbook_detection_recovery_and_final_read() -> None:
    report = json_of(started(failover()).final_read(SURVIVORS, at=1600).ops())

    timeline = report["timeline"]
    assert [e["event"] for e in timeline] == [
        "fault:kill",
        "runbook:promote",
        "detection",
        "recovered",
        "final-read:read",
    ]
    promote = timeline[1]
    assert (promote["status"], promote["duration_seconds"]) == ("ok", 0.3)
    assert promote["value"] == {"promoted": "pg1"}
    assert (promote["t_start_seconds"], promote["t_end_seconds"]) == (0.1, 0.4)
    assert (timeline[2]["at"], timeline[2]["t_seconds"]) == (at("00.960"), 0.46)
    assert (timeline[3]["at"], timeline[3]["t_seconds"]) == (at("01.010"), 0.51)


def test_write_report_redacts_secrets(tmp_path: Path) -> None:
    secrets = Secrets({"postgres": "s3cr3t-pw"})
    report = report_of(
        started(failover()).final_read(SURVIVORS, at=1600).ops(),
        context={"dsn": "postgresql://postgres:s3cr3t-pw@pg0:5432/postgres"},
        error="drill crashed: password s3cr3t-pw rejected",
    )

    path = write_report(tmp_path / "run", report, redact=secrets.redact)

    text = path.read_text(encoding="utf-8")
    assert path == tmp_path / "run" / "report.json"
    assert "s3cr3t-pw" not in text
    written = json.loads(text)
    assert written["context"]["dsn"] == "postgresql://postgres:***@pg0:5432/postgres"
    assert written["error"] == "drill crashed: password *** rejected"
    assert list(path.parent.iterdir()) == [path]  # no temporary file left behind
