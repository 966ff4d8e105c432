"""Shipped drills on other engine versions, end to end on real containers: failover and
patroni-failover on PostgreSQL 17 (Debian trixie, Patroni 4), the Sentinel failover on Valkey 8
and on Redis 8, and the write-through cache drill with a Valkey 8 cache.

The versions in each report are read from the running servers, not echoed from the drill file.
The first run on a machine builds the trixie base and images (see docs/operations.md).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from drillkit.drill import run_drill
from drillkit.spec import load_drill

from .conftest import REPO


def run_on(tmp_path: Path, drill: str, topology: dict[str, Any]) -> dict[str, Any]:
    """Run the shipped ``drill`` with its topology replaced by ``topology``; its report."""
    doc = yaml.safe_load((REPO / "drills" / f"{drill}.yaml").read_text(encoding="utf-8"))
    doc["topology"] = topology
    path = tmp_path / f"{drill}.yaml"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    result = run_drill(
        load_drill(path),
        drill_file=str(path),
        report_root=tmp_path / "reports",
        progress=lambda _m: None,
    )
    assert result.error is None, result.error
    report: dict[str, Any] = json.loads((result.report_dir / "report.json").read_text())
    assert report["verdict"] == "pass", json.dumps(report["measured"])
    steps = {
        e["event"]: e["status"] for e in report["timeline"] if e["event"].startswith("runbook:")
    }
    assert steps and set(steps.values()) == {"ok"}, steps
    return report


def test_failover_on_postgresql_17(tmp_path: Path, docker_client: Any) -> None:
    topology = {"kind": "postgres", "replicas": 1, "replication": "async", "version": 17}
    report = run_on(tmp_path, "failover", topology)

    versions = report["versions"]
    assert versions["postgresql"].startswith("17."), versions
    assert versions["debian"] == "trixie"
    assert versions["image"].startswith("drillkit/postgres:pg17-")


def test_patroni_failover_on_postgresql_17(tmp_path: Path, docker_client: Any) -> None:
    doc = yaml.safe_load((REPO / "drills" / "patroni-failover.yaml").read_text(encoding="utf-8"))
    report = run_on(tmp_path, "patroni-failover", {**doc["topology"], "version": 17})

    versions = report["versions"]
    assert versions["postgresql"].startswith("17."), versions
    assert versions["patroni"].startswith("4."), versions


def test_redis_failover_on_valkey_8(tmp_path: Path, docker_client: Any) -> None:
    doc = yaml.safe_load((REPO / "drills" / "redis-failover.yaml").read_text(encoding="utf-8"))
    report = run_on(tmp_path, "redis-failover", {**doc["topology"], "engine": "valkey"})

    versions = report["versions"]
    assert versions["valkey"].startswith("8."), versions
    assert "redis" not in versions  # Valkey's redis_version (the API it implements) is not it
    assert versions["redis_image"].startswith("drillkit/redis:valkey8-")


def test_redis_failover_on_redis_8(tmp_path: Path, docker_client: Any) -> None:
    doc = yaml.safe_load((REPO / "drills" / "redis-failover.yaml").read_text(encoding="utf-8"))
    report = run_on(tmp_path, "redis-failover", {**doc["topology"], "version": 8})

    versions = report["versions"]
    assert versions["redis"].startswith("8."), versions  # INFO server's redis_version
    assert "valkey" not in versions
    assert versions["redis_image"].startswith("drillkit/redis:redis8-")


def test_write_through_cache_on_valkey_8(tmp_path: Path, docker_client: Any) -> None:
    """The cache drill's known result holds with Valkey as the cache: the lost writes' cached
    versions are ghosts only until each key's next write through the promoted node."""
    doc = yaml.safe_load(
        (REPO / "drills" / "cache-failover-write-through.yaml").read_text(encoding="utf-8")
    )
    topology = {**doc["topology"], "cache": {"engine": "valkey"}}
    report = run_on(tmp_path, "cache-failover-write-through", topology)

    versions = report["versions"]
    assert versions["cache_valkey"].startswith("8."), versions  # INFO server of cache0
    assert "cache_redis" not in versions
    assert versions["cache_image"].startswith("drillkit/redis:valkey8-")
    cache = report["cache"]
    assert cache["ghost_reads_after_write"] == 0, cache
    assert cache["ghosts_at_end"] == 0 and cache["unanswered_after"] < cache["reads_after"]
