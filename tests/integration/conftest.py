"""Integration fixtures: a real Docker engine and drillkit's real images.

Without an engine these tests skip locally, but fail under CI (CI=true): a CI run that silently
skipped every integration test would prove nothing.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from drillkit.checkers import analyze
from drillkit.drill import run_drill
from drillkit.history import read_history
from drillkit.hostlock import LOCK_ENV
from drillkit.images import NodeImages, ensure_images
from drillkit.resources import RUN_LABEL, labels_for, sweep
from drillkit.secrets import Secrets
from drillkit.spec import load_drill
from drillkit.spec.postgres import PostgresTopology
from drillkit.topology.postgres import PostgresCluster

REPO = Path(__file__).resolve().parents[2]


# Files whose assertions are timings or depend on them (RTO/RPO bounds, elections, loss windows,
# throttled fetch times, drillkit's numbers against the nodes' own logs): marked ``quiet``, they
# run one at a time after the others (./scripts/test.sh, phase 2), like the calibration tests.
# Measured on 2026-12-02 with 4 files at a time on 2 cores: test_redis, test_cache_failover,
# test_patroni_pitr, test_readers, test_fault_drills and test_versions failed on timing alone
# (e.g. a Sentinel vote split three ways: RTO 22 s). The other files passed with 4 at a time.
QUIET_FILES = {
    "test_blocks.py": "RTO bounds of a blocking fault",
    "test_cache.py": "RPO and ghost-window bounds",
    "test_cache_failover.py": "failover time against the observer",
    "test_external_redis.py": "Sentinel failover RTO",
    "test_failover_drill.py": "RTO against the declared delay",
    "test_fault_drills.py": "fault durations and pause RTO",
    "test_network_faults.py": "throttled fetch times",
    "test_patroni.py": "RTO between ttl - loop_wait and its bound",
    "test_patroni_pitr.py": "RPO against PostgreSQL's own log, to the millisecond",
    "test_patroni_sync.py": "a Patroni election",
    "test_pitr.py": "RPO bounds",
    "test_process_faults.py": "op deadlines and pause RTO",
    "test_readers.py": "staleness against its resolution",
    "test_redis.py": "Sentinel elections, loss windows",
    "test_sync.py": "RTO of a synchronous failover",
    "test_testcontainers.py": "an RTO window",
    "test_versions.py": "drills that must pass their RTO targets",
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "integration" in item.nodeid:
            item.add_marker(pytest.mark.integration)
            if Path(str(item.fspath)).name in QUIET_FILES:
                item.add_marker(pytest.mark.quiet)


@pytest.fixture(autouse=True)
def _worker_host_lock(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: Any) -> None:
    """Under pytest-xdist (``./scripts/test.sh`` runs the integration tests in parallel) each
    worker has its own host-lock file, so a worker's ``drillkit run`` is not refused (exit 4)
    because another worker's holds the real one. Heartbeats stay in the shared lock directory:
    one worker's sweep still knows the other workers' runs are alive."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if worker and not os.environ.get(LOCK_ENV):
        path = tmp_path_factory.getbasetemp() / f"host-{worker}.lock"
        monkeypatch.setenv(LOCK_ENV, str(path))


@pytest.fixture(scope="session")
def images(docker_client: Any) -> NodeImages:
    return ensure_images(docker_client, allow_pull=False, progress=lambda _m: None)


def labelled(client: Any, run_id: str) -> dict[str, list[str]]:
    """Every container, network and volume still carrying this run's label."""
    flt = {"label": [f"{RUN_LABEL}={run_id}"]}
    return {
        "containers": [c.name for c in client.containers.list(all=True, filters=flt)],
        "networks": [n.name for n in client.networks.list(filters=flt)],
        "volumes": [v.name for v in client.volumes.list(filters=flt)],
    }


def drillkit_cli(*args: str, **kwargs: Any) -> subprocess.Popen[str]:
    """Start the real CLI (as a user would run it) from the repository root."""
    return subprocess.Popen(
        [sys.executable, "-m", "drillkit", *args],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kwargs,
    )


# -- running shipped drills and checking their reports -------------------------------------------
Run = tuple[Any, dict[str, Any], list[Any]]  # (DrillResult, report.json, history ops)


def run_shipped(name_or_path: str | Path, reports: Path) -> Run:
    """Run ``drills/NAME.yaml`` (or a file) as ``drillkit run`` does: result, report, history."""
    path = Path(name_or_path)
    if path.suffix != ".yaml":
        path = REPO / "drills" / f"{name_or_path}.yaml"
    result = run_drill(
        load_drill(path), drill_file=str(path), report_root=reports, progress=lambda _m: None
    )
    report = json.loads((result.report_dir / "report.json").read_text())
    return result, report, read_history(result.report_dir / "history.jsonl")


def runbook_event(report: dict[str, Any], step: str) -> dict[str, Any]:
    return next(e for e in report["timeline"] if e["event"] == f"runbook:{step}")


def assert_agrees_with_history(name: str, run: Run, docker_client: Any) -> None:
    """The report's numbers are what the checkers compute from its own history, the history is
    consistent with the final read, and the run left nothing behind."""
    result, report, ops = run
    spec = load_drill(REPO / "drills" / f"{name}.yaml")
    again = analyze(ops, spec.targets, spec.workload.stable_window_seconds)
    assert again.verdict.value == report["verdict"]
    assert again.lost is not None and again.rpo is not None and again.rto is not None
    measured = report["measured"]
    assert measured["lost_writes"] == again.lost.count
    assert measured["rpo_seconds"] == pytest.approx(again.rpo.seconds)
    assert measured["rto_seconds"] == pytest.approx(again.rto.seconds)
    assert measured["never_written"] == 0
    assert measured["failed_but_present"] == 0
    assert labelled(docker_client, result.run_id) == {
        "containers": [],
        "networks": [],
        "volumes": [],
    }


FAST_REPLICATION = {
    "wal_sender_timeout": "5s",
    "wal_receiver_timeout": "5s",
    "wal_retrieve_retry_interval": "500ms",
}


@contextlib.contextmanager
def pg_cluster(
    client: Any, images: NodeImages, name: str, replicas: int = 1, **topology: Any
) -> Iterator[PostgresCluster]:
    """A PostgreSQL topology for one test file: labelled, always swept, and checked to leave
    no labelled container, network or volume behind."""
    run_id = f"test-{name}-{secrets.token_hex(3)}"
    # as the shipped drills declare: replication liveness in seconds, not PostgreSQL's minute
    topology.setdefault("postgresql", FAST_REPLICATION)
    cluster = PostgresCluster(
        client,
        PostgresTopology(replicas=replicas, **topology),
        run_id=run_id,
        labels=labels_for(run_id, f"test-{name}"),
        image=images.postgres,
        secrets=Secrets.generate(*PostgresCluster.SECRET_NAMES),
        progress=lambda _m: None,
    )
    try:
        with cluster:
            yield cluster
    finally:
        sweep(client, run_id)
    assert labelled(client, run_id) == {"containers": [], "networks": [], "volumes": []}
