"""Runs that end badly: bad input, Ctrl-C mid-run, a harness killed outright, an unhealthy start."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path
from typing import Any

from drillkit.drill import run_drill
from drillkit.history import read_history
from drillkit.images import NodeImages
from drillkit.ownership import HEARTBEAT_SECONDS
from drillkit.resources import sweep_dead_runs
from drillkit.spec import load_drill

from .conftest import REPO, drillkit_cli, labelled


def _wait_for(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def _run_dir(root: Path) -> Path | None:
    dirs = sorted(root.glob("failover-*"))
    return dirs[0] if dirs else None


def _writes_recorded(root: Path) -> bool:
    run_dir = _run_dir(root)
    if run_dir is None or not (run_dir / "history.jsonl").is_file():
        return False
    return '"f":"write","value"' in (run_dir / "history.jsonl").read_text()


def test_bad_drill_file_exits_2_and_starts_nothing(tmp_path: Path, docker_client: Any) -> None:
    drill = tmp_path / "broken.yaml"
    drill.write_text(
        "name: broken-drill\ntopology: {kind: postgres}\n"
        "faults: [{kind: nuke, target: primary}]\ntargets: {rto_seconds: 5}\n"
    )
    mine = {"label": ["drillkit.drill=broken-drill"]}
    docker_events_since = int(time.time())
    proc = drillkit_cli("run", str(drill), "--report-dir", str(tmp_path / "reports"))
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 2
    assert f"{drill}: faults[0].kind: 'nuke' is not a fault" in " ".join(stderr.split())
    # Nothing was created for this drill: no container, and no 'create' event carrying its label.
    assert docker_client.containers.list(all=True, filters=mine) == []
    events = docker_client.events(
        since=docker_events_since,
        until=int(time.time()) + 1,
        filters={"event": "create", **mine},
        decode=True,
    )
    assert list(events) == []
    assert not (tmp_path / "reports").exists()


def test_sigint_mid_run_cleans_up_and_writes_a_partial_report(
    tmp_path: Path, docker_client: Any, images: NodeImages
) -> None:
    reports = tmp_path / "reports"
    proc = drillkit_cli("run", "failover", "--report-dir", str(reports))
    try:
        _wait_for(lambda: _writes_recorded(reports), 60, "the workload to start writing")
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130
    run_dir = _run_dir(reports)
    assert run_dir is not None
    report = json.loads((run_dir / "report.json").read_text())
    assert report["verdict"] == "unknown"
    assert "interrupted" in report["error"]
    assert report["measured"]["acknowledged_writes"] > 0  # what happened before Ctrl-C is kept
    assert labelled(docker_client, report["run_id"]) == {
        "containers": [],
        "networks": [],
        "volumes": [],
    }


def test_a_killed_harness_leaves_nothing_the_next_sweep_misses(
    tmp_path: Path, docker_client: Any, images: NodeImages
) -> None:
    reports = tmp_path / "reports"
    proc = drillkit_cli("run", "failover", "--report-dir", str(reports))
    try:
        _wait_for(lambda: _writes_recorded(reports), 60, "the workload to start writing")
        proc.send_signal(signal.SIGKILL)  # no cleanup can run: a crash
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    run_dir = _run_dir(reports)
    assert run_dir is not None
    run_id = read_history(run_dir / "history.jsonl")[0].value["run_id"]
    assert labelled(docker_client, run_id)["containers"], "the crash should have left containers"
    assert not sweep_dead_runs(docker_client)  # its heartbeat is still fresh: not yet dead
    time.sleep(HEARTBEAT_SECONDS + 1.5)
    swept = sweep_dead_runs(docker_client, stale_after=HEARTBEAT_SECONDS + 1.0)
    assert swept.containers
    assert labelled(docker_client, run_id) == {"containers": [], "networks": [], "volumes": []}


def test_unhealthy_steady_state_injects_nothing(
    tmp_path: Path, docker_client: Any, images: NodeImages
) -> None:
    drill = tmp_path / "impatient.yaml"
    base = (REPO / "drills" / "failover.yaml").read_text()
    drill.write_text(
        base.replace("name: failover", "name: impatient")
        .replace("min_ok_writes: 50", "min_ok_writes: 1000000\n  timeout_seconds: 1")
        .replace("topology: pg-async-pair", "topology: {kind: postgres, replicas: 1}")
    )
    spec = load_drill(drill)
    result = run_drill(
        spec, drill_file=str(drill), report_root=tmp_path / "reports", progress=lambda _m: None
    )
    assert result.verdict.value == "unknown"
    assert result.exit_code == 1
    report = json.loads((result.report_dir / "report.json").read_text())
    assert "steady state not reached" in report["notes"][0]
    ops = read_history(result.report_dir / "history.jsonl")
    assert not [op for op in ops if op.process == "fault"]
    assert labelled(docker_client, result.run_id)["containers"] == []
