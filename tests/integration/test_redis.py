"""The Redis drills on real containers: each report agrees with its own history, and each drill
shows the property it exists for (Sentinel failover time, writes a deposed master acknowledged
and lost, the bound min-replicas-to-write puts on them, data back after FLUSHALL)."""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from drillkit.checkers import analyze, final_read, write_outcomes
from drillkit.drill import DrillResult, run_drill
from drillkit.history import Op, OpType, read_history
from drillkit.images import NodeImages
from drillkit.secrets import Secrets
from drillkit.spec import DrillSpec, load_drill
from drillkit.spec.redis import RedisTopology

from .conftest import REPO, labelled

SHIPPED = [
    "redis-failover",
    "redis-split-brain",
    "redis-split-brain-bounded",
    "redis-restore",
    "redis-restore-aof",
]


@dataclass
class Ran:
    spec: DrillSpec
    result: DrillResult
    report: dict[str, Any]
    ops: list[Op]

    @property
    def measured(self) -> dict[str, Any]:
        return dict(self.report["measured"])

    @property
    def topology(self) -> RedisTopology:
        assert isinstance(self.spec.topology, RedisTopology)
        return self.spec.topology

    def step(self, name: str) -> dict[str, Any]:
        return next(e for e in self.report["timeline"] if e["event"] == f"runbook:{name}")

    def fault(self, kind: str) -> dict[str, Any]:
        return next(e for e in self.report["timeline"] if e["event"] == f"fault:{kind}")


@pytest.fixture(scope="module")
def drill(
    tmp_path_factory: pytest.TempPathFactory, docker_client: Any, images: NodeImages
) -> Callable[[str | DrillSpec], Ran]:
    """Run a drill (a shipped one by name, or a spec) once per module; later calls reuse it."""
    root = tmp_path_factory.mktemp("redis-reports")
    runs: dict[str, Ran] = {}

    def get(which: str | DrillSpec) -> Ran:
        spec = load_drill(REPO / "drills" / f"{which}.yaml") if isinstance(which, str) else which
        if spec.name not in runs:
            result = run_drill(
                spec, drill_file=f"drills/{spec.name}.yaml", report_root=root, progress=print
            )
            assert labelled(docker_client, result.run_id) == {
                "containers": [],
                "networks": [],
                "volumes": [],
            }
            report = json.loads((result.report_dir / "report.json").read_text())
            runs[spec.name] = Ran(
                spec, result, report, read_history(result.report_dir / "history.jsonl")
            )
        return runs[spec.name]

    return get


def inline(name: str, **fields: Any) -> DrillSpec:
    """A drill built in the test from the failover drill's parts, with ``fields`` replaced."""
    base = load_drill(REPO / "drills" / "redis-failover.yaml").model_dump()
    base.update(name=name, **fields)
    return DrillSpec.model_validate(base)


# -- every drill: the report is what its own history says ----------------------------------------
@pytest.mark.parametrize("name", SHIPPED)
def test_report_agrees_with_its_history(drill: Callable[[str], Ran], name: str) -> None:
    ran = drill(name)
    assert ran.result.error is None, ran.result.error
    assert ran.report["versions"]["redis"].startswith("7.")
    again = analyze(ran.ops, ran.spec.targets, ran.spec.workload.stable_window_seconds)
    measured = ran.measured
    assert again.verdict.value == ran.report["verdict"]
    assert again.lost is not None and again.rpo is not None and again.rto is not None
    assert measured["rpo_seconds"] == pytest.approx(again.rpo.seconds)
    assert measured["rto_seconds"] == pytest.approx(again.rto.seconds)
    assert measured["lost_after_fault"] == again.rpo.lost_after_fault
    # Lost writes by hand: acknowledged ids the final read does not hold.
    outcomes = write_outcomes(ran.ops)
    survivors = set(final_read(ran.ops) or [])
    acked = {i for i, t in outcomes.outcome.items() if t is OpType.OK}
    assert measured["lost_writes"] == len(acked - survivors)
    assert measured["acknowledged_writes"] == len(acked) > 500
    # The writer never claims fail for what happened, nor does the store invent ids.
    assert measured["never_written"] == 0
    assert measured["failed_but_present"] == 0


# -- the drills' own properties -------------------------------------------------------------------
def test_failover_elects_a_new_master_no_sooner_than_down_after(
    drill: Callable[[str], Ran],
) -> None:
    ran = drill("redis-failover")
    killed = ran.fault("kill")["value"]["nodes"]
    elected = ran.step("wait-sentinel-failover")["value"]
    assert elected["old_master"] == killed[0] != elected["new_master"]
    down_after = ran.topology.down_after_ms / 1000
    rto = ran.measured["rto_seconds"]
    # No replica accepts a write before Sentinel promotes one, which it cannot do before
    # down-after-milliseconds has passed; election and promotion take about a second more.
    assert down_after <= rto <= down_after + 5
    assert ran.report["verdict"] == "pass"


def test_split_brain_loses_acknowledged_writes_with_the_default_config(
    drill: Callable[[str], Ran],
) -> None:
    ran = drill("redis-split-brain")
    measured = ran.measured
    assert measured["lost_writes"] > 0
    assert measured["lost_after_fault"] > 0
    # The deposed master went on acknowledging after the heal, until Sentinel demoted it.
    heal = ran.fault("heal-partition")["t_end_seconds"]
    latest_lost = measured["lost_window_seconds"][1]
    assert latest_lost > heal
    converged = ran.step("wait-sentinel-failover")["value"]
    assert converged["converged"] and converged["new_master"] != converged["old_master"]
    assert ran.report["verdict"] == "fail"  # the bounded variant passes the same target


def test_min_replicas_to_write_bounds_the_loss(drill: Callable[[str], Ran]) -> None:
    default, bounded = drill("redis-split-brain"), drill("redis-split-brain-bounded")
    measured = bounded.measured
    assert measured["lost_writes"] < default.measured["lost_writes"] / 4
    assert bounded.report["verdict"] == "pass"
    # The deposed master refused writes (NOREPLICAS) once its replicas' acks were older than
    # min-replicas-max-lag; replicas ack once a second, lag has 1 s resolution and the count of
    # good replicas is refreshed once a second: nothing it acknowledged later was lost.
    refused = [
        op for op in bounded.ops if op.type is OpType.FAIL and "NOREPLICAS" in (op.error or "")
    ]
    assert refused
    if measured["lost_writes"]:
        bound = bounded.topology.min_replicas_max_lag + 2.5
        assert measured["lost_window_seconds"][1] <= bound


def _snapshot_age(ran: Ran) -> float:
    evidence = ran.fault("flushall")["detail"]["evidence"]
    match = re.search(r"last RDB snapshot ([0-9.]+)s earlier", evidence)
    assert match, evidence
    return float(match.group(1))


def test_restore_from_backup_brings_data_back_with_rpo_of_the_snapshot_age(
    drill: Callable[[str], Ran],
) -> None:
    ran = drill("redis-restore")
    measured = ran.measured
    restore = ran.step("redis-restore")
    assert restore["status"] == "ok"
    assert restore["value"]["source"] == "backup" and restore["value"]["members_added"] > 0
    # Acknowledged before the flush: most came back; the rest were newer than the snapshot.
    fault_ns = ran.result.analysis.fault_ns
    assert fault_ns is not None
    before = sum(
        1 for op in ran.ops if op.f == "write" and op.type is OpType.OK and op.time_ns < fault_ns
    )
    assert 0 < measured["lost_writes"] < before
    assert measured["lost_after_fault"] == 0  # writes made after the flush were kept
    # RPO is the age of the restored snapshot: at least the age of the last snapshot taken
    # before the flush (1 s resolution), at most a backup interval and a save interval more.
    age = _snapshot_age(ran)
    assert age - 1.1 <= measured["rpo_seconds"] <= age + 2 + 1.1


def test_restore_from_the_aof_loses_nothing(drill: Callable[[str], Ran]) -> None:
    ran = drill("redis-restore-aof")
    restore = ran.step("redis-restore")["value"]
    assert "1 FLUSHALL/FLUSHDB removed" in restore["file"]
    assert restore["members_added"] > 100
    assert ran.measured["lost_writes"] == 0
    assert ran.report["verdict"] == "pass"


# -- a manual failover, and a master that restarts without its files --------------------------
def test_manual_promotion_repoints_replicas_and_sentinels(
    drill: Callable[[DrillSpec], Ran], monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = inline(
        "redis-manual-promote",
        topology={
            **load_drill(REPO / "drills" / "redis-failover.yaml").topology.model_dump(),
            "down_after_ms": 60000,  # Sentinel would not act within the drill
        },
        runbook=[{"step": "redis-promote", "delay_seconds": 1, "timeout_seconds": 30}],
    )
    # A known password, to prove it reaches no file of the evidence (the promotion sends it
    # to every Sentinel with SENTINEL SET auth-pass).
    password = "drillkit-test-" + secrets.token_hex(12)
    monkeypatch.setattr(
        Secrets, "generate", classmethod(lambda cls, *names: cls(dict.fromkeys(names, password)))
    )
    ran = drill(spec)
    assert ran.result.error is None, ran.result.error
    promoted = ran.step("redis-promote")["value"]
    assert promoted["node"] != "r0"
    assert sorted(promoted["sentinels"]) == ["s1", "s2", "s3"]
    assert promoted["repointed"]  # the other replica follows the new master
    # Writes resume only after the operator acted (the declared delay), through Sentinel.
    assert ran.measured["rto_seconds"] >= 1.0
    assert ran.measured["rto_seconds"] <= ran.step("redis-promote")["t_end_seconds"] + 1.0
    for path in ran.result.report_dir.rglob("*"):
        if path.is_file():
            assert password.encode() not in path.read_bytes(), path


def test_master_restarting_without_its_files_empties_every_replica(
    drill: Callable[[DrillSpec], Ran],
) -> None:
    spec = inline(
        "redis-lose-files",
        topology={
            **load_drill(REPO / "drills" / "redis-failover.yaml").topology.model_dump(),
            "down_after_ms": 10000,
        },  # it is back long before Sentinel would fail over
        faults=[{"kind": "delete-redis-files", "target": "primary", "files": "all"}],
        runbook=[],
        targets={"max_lost_writes": 0},
    )
    ran = drill(spec)
    assert ran.result.error is None, ran.result.error
    evidence = ran.fault("delete-redis-files")["detail"]["evidence"]
    assert "appendonlydir" in evidence and "started again (running)" in evidence
    fault_ns = ran.result.analysis.fault_ns
    assert fault_ns is not None
    acked_before = sum(
        1 for op in ran.ops if op.f == "write" and op.type is OpType.OK and op.time_ns < fault_ns
    )
    # The replicas resynchronised from the emptied master: almost nothing from before survived.
    assert ran.measured["lost_writes"] >= 0.9 * acked_before
    assert ran.report["verdict"] == "fail"
