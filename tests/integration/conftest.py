"""Integration fixtures: a real Docker engine and drillkit's real images.

Without an engine these tests skip locally, but fail under CI (CI=true): a CI run that silently
skipped every integration test would prove nothing.
"""

from __future__ import annotations

import contextlib
import json
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
from drillkit.images import NodeImages, ensure_images
from drillkit.resources import RUN_LABEL, labels_for, sweep
from drillkit.secrets import Secrets
from drillkit.spec import load_drill
from drillkit.spec.postgres import PostgresTopology
from drillkit.topology.postgres import PostgresCluster

REPO = Path(__file__).resolve().parents[2]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "integration" in item.nodeid:
            item.add_marker(pytest.mark.integration)


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
