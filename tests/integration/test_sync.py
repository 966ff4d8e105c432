"""Synchronous replication on real containers: a failover loses no acknowledged write, and while
the only synchronous standby is gone, commits hang (recorded as unknown), never fail or succeed."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from drillkit.checkers import analyze, fault_effective_ns, final_read, write_outcomes
from drillkit.drill import DrillResult
from drillkit.history import Op, OpType
from drillkit.images import NodeImages
from drillkit.spec import load_drill

from .conftest import REPO, labelled, run_shipped

NS = 1_000_000_000


@pytest.fixture(scope="module")
def failover_sync(
    tmp_path_factory: pytest.TempPathFactory, docker_client: Any, images: NodeImages
) -> tuple[DrillResult, dict[str, Any], list[Op]]:
    return run_shipped(REPO / "drills" / "failover-sync.yaml", tmp_path_factory.mktemp("reports"))


def test_failover_sync_loses_no_acknowledged_write(failover_sync: Any) -> None:
    result, report, ops = failover_sync
    assert result.error is None, result.error
    assert report["verdict"] == "pass", report["checks"]
    measured = report["measured"]
    assert measured["acknowledged_writes"] > 200
    assert measured["lost_writes"] == 0
    assert measured["rpo_seconds"] == 0
    # Recomputed by hand from the history: every acknowledged id is in the final read.
    outcomes = write_outcomes(ops)
    survivors = set(final_read(ops) or [])
    assert outcomes.acknowledged <= survivors
    # Writes were acknowledged right up to the kill: the loss is zero because of sync, not idle.
    fault_ns = fault_effective_ns(ops)
    assert fault_ns is not None
    last_ack_before = max(
        t
        for i, t in outcomes.completed_ns.items()
        if outcomes.outcome[i] is OpType.OK and t < fault_ns
    )
    assert fault_ns - last_ack_before < 0.1 * NS


def test_report_agrees_with_history_and_names_the_sync_setting(failover_sync: Any) -> None:
    _, report, ops = failover_sync
    spec = load_drill(REPO / "drills" / "failover-sync.yaml")
    again = analyze(ops, spec.targets, spec.workload.stable_window_seconds)
    assert again.verdict.value == report["verdict"]
    assert again.rto is not None
    assert report["measured"]["rto_seconds"] == pytest.approx(again.rto.seconds)
    promote = next(e for e in report["timeline"] if e["event"] == "runbook:promote")
    assert promote["status"] == "ok"
    # The promoted standby has no standby of its own: sync is suspended, and the report says so.
    assert promote["value"]["synchronous_standby_names"] == ""
    assert "suspended" in promote["value"]["note"]
    # The old primary rejoins with pg_rewind and becomes the synchronous standby again.
    rejoin = next(e for e in report["timeline"] if e["event"] == "runbook:rejoin")
    assert rejoin["status"] == "ok", rejoin.get("error")
    assert rejoin["value"]["node"] == "pg0" and rejoin["value"]["primary"] == "pg1"
    assert rejoin["value"]["timeline"] == 2
    assert "pg_rewind" in rejoin["value"]["pg_rewind"]
    assert rejoin["value"]["synchronous_standby_names"] == 'ANY 1 ("pg0")'
    assert report["context"]["steady_state"] == "healthy"


def test_failover_sync_leaves_nothing_behind(failover_sync: Any, docker_client: Any) -> None:
    result, _, _ = failover_sync
    assert labelled(docker_client, result.run_id) == {
        "containers": [],
        "networks": [],
        "volumes": [],
    }


PAUSE_S = 3.0


@pytest.fixture(scope="module")
def standby_paused(
    tmp_path_factory: pytest.TempPathFactory, docker_client: Any, images: NodeImages
) -> tuple[DrillResult, dict[str, Any], list[Op]]:
    """The synchronous standby freezes for PAUSE_S seconds; nobody intervenes."""
    doc = yaml.safe_load((REPO / "drills" / "failover-sync.yaml").read_text())
    doc.update(
        name="sync-standby-paused",
        faults=[{"kind": "pause", "target": "replica", "at": 0, "duration": PAUSE_S}],
        runbook=[],
        targets={"max_lost_writes": 0},
    )
    doc["workload"]["observe_seconds"] = 2
    tmp = tmp_path_factory.mktemp("drills")
    path = tmp / "drills" / "sync-standby-paused.yaml"
    path.parent.mkdir()
    path.write_text(yaml.safe_dump(doc))
    return run_shipped(path, tmp / "reports")


def test_commits_hang_as_unknown_while_the_standby_is_gone(standby_paused: Any) -> None:
    result, report, ops = standby_paused
    assert result.error is None, result.error
    pause = next(op for op in ops if op.f == "pause" and op.type is OpType.OK)
    heal = next(op for op in ops if op.f == "heal-pause" and op.type is OpType.INVOKE)
    deadline = int(
        load_drill(REPO / "drills" / "failover-sync.yaml").workload.op_timeout_seconds * NS
    )
    # Writes invoked while the standby was frozen and whose deadline also passed before the
    # heal could not be confirmed by it: each one is unknown (info), none ok, none failed.
    outcomes = write_outcomes(ops)
    frozen = [
        i
        for i, t in outcomes.invoked_ns.items()
        if pause.extra["effective_ns"] <= t and t + deadline < heal.time_ns
    ]
    assert len(frozen) >= PAUSE_S  # at least one a second per writer went out and hung
    assert {outcomes.outcome[i] for i in frozen} == {OpType.INFO}
    errors = {
        op.error
        for op in ops
        if op.f == "write" and op.value in set(frozen) and op.type is OpType.INFO
    }
    assert all("awaiting the server" in (e or "") for e in errors), errors
    # After the heal the standby confirms again and writes succeed.
    assert any(
        outcomes.outcome[i] is OpType.OK and t > heal.time_ns
        for i, t in outcomes.completed_ns.items()
    )
    assert report["measured"]["lost_writes"] == 0
    assert report["verdict"] == "pass"


def test_a_hung_commit_is_committed_locally_and_survives(standby_paused: Any) -> None:
    """The primary wrote the commit before waiting for the standby: the client gave up, but the
    row is there. That is why an unanswered write is unknown, not failed."""
    _, report, _ = standby_paused
    assert report["measured"]["indeterminate_survived"] > 0
    assert report["measured"]["failed_but_present"] == 0
