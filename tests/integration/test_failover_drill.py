"""The failover drill on real containers: its report agrees with its own history, and with the
ground truth the drill controls (the declared detection delay before promotion)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from drillkit.checkers import analyze, final_read, write_outcomes
from drillkit.drill import run_drill
from drillkit.history import OpType, read_history
from drillkit.images import NodeImages
from drillkit.spec import load_drill

from .conftest import REPO, labelled


@pytest.fixture(scope="module")
def failover(
    tmp_path_factory: pytest.TempPathFactory, docker_client: Any, images: NodeImages
) -> tuple[Any, dict[str, Any], Path]:
    spec = load_drill(REPO / "drills" / "failover.yaml")
    result = run_drill(
        spec,
        drill_file="drills/failover.yaml",
        report_root=tmp_path_factory.mktemp("reports"),
        progress=lambda _m: None,
    )
    report = json.loads((result.report_dir / "report.json").read_text())
    return result, report, result.report_dir


def test_drill_completes_with_a_verdict_and_evidence(failover: Any) -> None:
    result, report, report_dir = failover
    assert result.error is None, result.error
    assert (report_dir / "history.jsonl").is_file()
    assert report["schema_version"] == 1
    assert report["drill"] == "failover"
    assert report["verdict"] in ("pass", "fail")
    assert report["versions"]["postgresql"].startswith("15.")
    assert report["measured"]["acknowledged_writes"] > 100
    events = [e["event"] for e in report["timeline"]]
    assert "fault:kill" in events and "runbook:promote" in events and "recovered" in events


def test_report_numbers_agree_with_the_history(failover: Any) -> None:
    _, report, report_dir = failover
    ops = read_history(report_dir / "history.jsonl")
    spec = load_drill(REPO / "drills" / "failover.yaml")
    again = analyze(ops, spec.targets, spec.workload.stable_window_seconds)
    measured = report["measured"]
    assert again.verdict.value == report["verdict"]
    assert again.rpo is not None and again.rto is not None and again.lost is not None
    assert measured["rpo_seconds"] == pytest.approx(again.rpo.seconds)
    assert measured["rto_seconds"] == pytest.approx(again.rto.seconds)
    # Lost writes recomputed by hand: acknowledged ids that the final read does not contain.
    outcomes = write_outcomes(ops)
    survivors = set(final_read(ops) or [])
    lost = {i for i, t in outcomes.outcome.items() if t is OpType.OK} - survivors
    assert measured["lost_writes"] == len(lost)
    assert measured["acknowledged_writes"] == sum(
        1 for op in ops if op.f == "write" and op.type is OpType.OK
    )
    # Nothing can be present that the workload never wrote or saw fail.
    assert measured["never_written"] == 0
    assert measured["failed_but_present"] == 0


def test_rto_respects_the_declared_detection_delay(failover: Any) -> None:
    """No write can succeed before promotion: the primary is dead and the replica read-only.
    So RTO >= the declared delay, and should not exceed delay + promotion + a reconnect by much."""
    _, report, _ = failover
    spec = load_drill(REPO / "drills" / "failover.yaml")
    delay = spec.runbook[0].delay_seconds
    promote = next(e for e in report["timeline"] if e["event"] == "runbook:promote")
    rto = report["measured"]["rto_seconds"]
    assert rto >= delay
    assert rto <= promote["t_end_seconds"] + 1.0
    # Promotion is requested only after the delay, and the fault took effect before it.
    assert promote["t_start_seconds"] >= delay


def test_fault_is_recorded_with_requested_and_effective_times(failover: Any) -> None:
    _, report, _ = failover
    kill = next(e for e in report["timeline"] if e["event"] == "fault:kill")
    assert kill["requested_at"] <= report["fault_effective_at"] <= kill["finished_at"]
    assert "container exited" in kill["detail"]["evidence"]


def test_no_resource_outlives_the_run(failover: Any, docker_client: Any) -> None:
    result, _, _ = failover
    assert labelled(docker_client, result.run_id) == {
        "containers": [],
        "networks": [],
        "volumes": [],
    }
