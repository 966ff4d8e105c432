"""The runner end to end against the in-memory target: real runner, faults, runbook, checkers
and report; no Docker, milliseconds of waiting (declared sleeps are scaled down 20x)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from drillkit.backend.node import Node
from drillkit.drill import EXIT_INTERRUPTED, DrillResult, run_drill
from drillkit.history import OpType, read_history
from drillkit.platform import Platform
from drillkit.spec import DrillSpec, load_drill
from drillkit.testing import MemoryCluster, MemoryPlatform

REPO = Path(__file__).resolve().parents[2]
SCALE = 20.0


def _fast(seconds: float) -> None:
    time.sleep(seconds / SCALE)


def _spec(**changes: Any) -> DrillSpec:
    """drills/failover.yaml with the stable window scaled like the sleeps, and ``changes``
    (``targets=``, ``steady_state=``, ``faults=``: dicts merged into the drill's own)."""
    spec = load_drill(REPO / "drills" / "failover.yaml")
    doc = spec.model_dump(mode="json", exclude_unset=True)
    doc["workload"]["stable_window_seconds"] = 0.05
    for key, value in changes.items():
        doc[key] = {**doc[key], **value} if isinstance(value, dict) else value
    return DrillSpec.model_validate(doc)


def _run(tmp_path: Path, spec: DrillSpec, platform: MemoryPlatform) -> DrillResult:
    return run_drill(
        spec,
        drill_file="drills/failover.yaml",
        report_root=tmp_path,
        progress=lambda _m: None,
        sleep=_fast,
        platform=platform,
    )


def _report(result: DrillResult) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((result.report_dir / "report.json").read_text())
    return doc


def test_the_memory_target_keeps_the_seams() -> None:
    platform = MemoryPlatform()
    assert isinstance(platform, Platform)
    cluster = MemoryCluster(_spec().topology)
    assert all(isinstance(n, Node) for n in cluster.nodes)


def test_failover_passes_with_rpo_and_rto_from_the_real_checkers(tmp_path: Path) -> None:
    platform = MemoryPlatform()
    started = time.monotonic()
    result = _run(tmp_path, _spec(), platform)
    assert time.monotonic() - started < 2.0  # typically ~0.5 s
    assert result.error is None, result.error
    assert result.verdict.value == "pass", result.analysis.notes
    assert result.exit_code == 0
    report = _report(result)
    assert report["measured"]["lost_writes"] == 0
    assert 0 < report["measured"]["rto_seconds"] < 1.0
    assert report["context"]["steady_state"] == "healthy"
    runbook = {"completed": ["promote"], "failed_step": None, "error": None}
    assert report["context"]["runbook"] == runbook
    assert report["context"]["nodes"] == {"pg0": "primary", "pg1": "replica"}
    assert platform.cluster is not None and platform.cluster.node("pg1").role == "primary"
    assert platform.swept == [result.run_id]
    ops = read_history(result.report_dir / "history.jsonl")
    assert [op.type for op in ops if op.process == "fault" and op.f == "kill"] == [
        OpType.INVOKE,
        OpType.OK,
    ]


def test_a_slow_promotion_misses_the_rto(tmp_path: Path) -> None:
    platform = MemoryPlatform(promote_delay_s=0.4)
    result = _run(tmp_path, _spec(targets={"rto_seconds": 0.2}), platform)
    assert result.error is None, result.error
    assert result.verdict.value == "fail"
    assert result.exit_code == 1
    rto = next(c for c in _report(result)["checks"] if c["name"] == "rto_seconds")
    assert rto["verdict"] == "fail"
    assert rto["measured"] > 0.4


def test_steady_state_never_reached_is_unknown_and_injects_nothing(tmp_path: Path) -> None:
    spec = _spec(steady_state={"min_ok_writes": 1_000_000, "timeout_seconds": 0.2})
    result = _run(tmp_path, spec, MemoryPlatform())
    assert result.verdict.value == "unknown"
    assert result.exit_code == 1
    report = _report(result)
    assert report["notes"][0].startswith("steady state not reached, no fault injected: ")
    assert report["context"]["steady_state"].startswith("not healthy after 0.2s")
    ops = read_history(result.report_dir / "history.jsonl")
    assert not [op for op in ops if op.process == "fault"]


def test_a_crashing_step_still_writes_the_report(tmp_path: Path) -> None:
    def crash() -> None:
        raise RuntimeError("table creation exploded")

    platform = MemoryPlatform(on_prepare=crash)
    result = _run(tmp_path, _spec(), platform)
    assert result.verdict.value == "unknown"
    assert result.exit_code == 1
    report = _report(result)
    assert report["error"].startswith("drill crashed:")
    assert "table creation exploded" in report["error"]
    assert platform.swept == [result.run_id]
    ops = read_history(result.report_dir / "history.jsonl")
    assert [(op.f, op.type) for op in ops if op.process == "drill"][-1] == ("error", OpType.FAIL)


def test_a_failing_runbook_step_is_recorded_and_judged(tmp_path: Path) -> None:
    def refuse() -> None:
        raise RuntimeError("promotion refused")

    # one of two replicas is stopped: the primary is not struck, and pg2 is a candidate
    spec = _spec(
        topology={"replicas": 2},
        faults=[{"kind": "stop", "target": "replica", "at": 0, "duration": 0.1}],
    )
    result = _run(tmp_path, spec, MemoryPlatform(on_promote=refuse))
    assert result.error is None
    # the measurements decide: service never went down, so the unneeded step fails nothing
    assert result.verdict.value == "pass", result.analysis.notes
    runbook = _report(result)["context"]["runbook"]
    assert runbook["failed_step"] == "promote"
    assert "promotion refused" in runbook["error"]


def test_ctrl_c_in_a_step_exits_130_with_faults_healed(tmp_path: Path) -> None:
    def interrupt() -> None:
        raise KeyboardInterrupt

    platform = MemoryPlatform(on_promote=interrupt)
    spec = _spec(faults=[{"kind": "pause", "target": "primary", "at": 0}])
    result = _run(tmp_path, spec, platform)
    assert result.exit_code == EXIT_INTERRUPTED
    assert result.interrupted
    report = _report(result)
    assert report["verdict"] == "unknown"
    assert "interrupted" in report["error"]
    ops = read_history(result.report_dir / "history.jsonl")
    heals = [op for op in ops if op.process == "fault" and op.f == "heal-pause"]
    assert [op.type for op in heals] == [OpType.INVOKE, OpType.OK]
    assert platform.cluster is not None
    assert platform.cluster.node("pg0").role == "primary"
    assert platform.swept == [result.run_id]


@pytest.mark.parametrize("fault", ["stop", "pause"])
def test_a_healed_fault_on_the_replica_passes(tmp_path: Path, fault: str) -> None:
    spec = _spec(
        faults=[{"kind": fault, "target": "replica", "at": 0, "duration": 0.1}], runbook=[]
    )
    result = _run(tmp_path, spec, MemoryPlatform())
    assert result.error is None, result.error
    assert result.verdict.value in ("pass", "unknown"), result.analysis.notes
    ops = read_history(result.report_dir / "history.jsonl")
    assert any(op.f == f"heal-{fault}" and op.type is OpType.OK for op in ops)


def test_production_settings_are_compared_in_the_evidence(tmp_path: Path) -> None:
    from drillkit.report.production import production_config, read_dump

    dump = tmp_path / "prod-pg.csv"
    dump.write_text(
        "name,setting,unit,boot_val,source\n"
        "wal_sender_timeout,60s,,60s,default\n"
        "work_mem,8MB,,4MB,configuration file\n",
        encoding="utf-8",
    )
    with production_config([read_dump(dump)]):
        result = _run(tmp_path, _spec(), MemoryPlatform())

    production = _report(result)["production"]
    assert production[0]["node"] == "pg1"  # the promoted replica: the primary at the end
    differences = {d["setting"]: d for d in production[0]["differences"]}
    assert differences["wal_sender_timeout"] == {
        "setting": "wal_sender_timeout",
        "drilled": "5s",  # drills/failover.yaml (scenario pg-async-pair) declares it
        "production": "60s",
        "critical": True,
    }
    assert differences["work_mem"]["critical"] is False
    html = (result.report_dir / "report.html").read_text()
    assert "Drilled with production settings (prod-pg.csv, postgresql, node pg1) except" in html
    summary = (result.report_dir / "summary.md").read_text()
    assert "| wal_sender_timeout | 5s | 60s | **yes** |" in summary
