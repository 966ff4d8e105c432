"""Redis drill files are validated before anything runs; the pure Redis logic on literal input."""

from __future__ import annotations

import io
import tarfile
import types
from pathlib import Path
from typing import Any

import pytest
import yaml
from redis.exceptions import (
    BusyLoadingError,
    ConnectionError,
    ReadOnlyError,
    ResponseError,
    TimeoutError,
)

from drillkit.history import OpType
from drillkit.runbook.redis_files import (
    ArchivedFile,
    backup_candidates,
    build_archive,
    read_archive,
    strip_flushes,
)
from drillkit.spec import DrillFileError, load_drill
from drillkit.spec.redis import RedisTopology, save_points
from drillkit.topology.redis_config import redis_conf, sentinel_conf
from drillkit.workload.redis_writer import classify_error, keeps_connection

REPO = Path(__file__).resolve().parents[2]
REDIS_DRILLS = sorted((REPO / "drills").glob("redis-*.yaml"))


def drill(topology: dict[str, Any] | None = None, **fields: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "name": "unit",
        "topology": {"kind": "redis", **(topology or {})},
        "faults": [{"kind": "kill"}],
        "targets": {"rto_seconds": 5},
    }
    doc.update(fields)
    return doc


def write(tmp_path: Path, doc: dict[str, Any]) -> Path:
    path = tmp_path / "drills" / "drill.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    return path


def error(tmp_path: Path, doc: dict[str, Any]) -> DrillFileError:
    with pytest.raises(DrillFileError) as info:
        load_drill(write(tmp_path, doc))
    return info.value


# -- the topology ---------------------------------------------------------------------------------
def test_defaults_and_node_names(tmp_path: Path) -> None:
    topology = load_drill(write(tmp_path, drill())).topology

    assert isinstance(topology, RedisTopology)
    assert (topology.replicas, topology.sentinels, topology.quorum) == (2, 3, 2)
    assert topology.persistence == "rdb"
    assert topology.min_replicas_to_write == 0
    assert topology.node_names() == ["r0", "r1", "r2", "s1", "s2", "s3"]
    assert topology.save_config == "3600 1 300 100 60 10000"  # Redis's own default


@pytest.mark.parametrize("path", REDIS_DRILLS, ids=lambda p: p.name)
def test_the_shipped_redis_drills_validate(path: Path) -> None:
    spec = load_drill(path)
    assert spec.name == path.stem
    assert spec.topology.kind == "redis"
    assert isinstance(spec.topology, RedisTopology)
    assert spec.topology.down_after_ms <= 1000  # keeps the Redis test file to a few minutes


def test_the_shipped_redis_drills_exist() -> None:
    names = {p.stem for p in REDIS_DRILLS}
    assert {"redis-failover", "redis-split-brain", "redis-split-brain-bounded"} <= names
    assert "redis-restore" in names


@pytest.mark.parametrize(
    ("topology", "field", "problem"),
    [
        ({"quorum": 4}, "topology", "quorum (4) exceeds sentinels (3)"),
        ({"replicas": 1, "min_replicas_to_write": 2}, "topology", "min_replicas_to_write (2)"),
        ({"persistence": "aof-always", "save": "1 1"}, "topology", "save points apply to"),
        ({"save": "1 1 60"}, "topology", "is not 'SECONDS CHANGES' pairs"),
        ({"persistence": "none", "backup_interval_seconds": 1}, "topology", "needs persistence"),
        ({"down_after_ms": 10}, "topology.down_after_ms", "greater than or equal to 100"),
        ({"persistence": "aof"}, "topology.persistence", "'aof' is not allowed"),
        ({"sentinals": 3}, "topology.sentinals", "unknown field"),
    ],
)
def test_topology_errors_name_field_and_fix(
    tmp_path: Path, topology: dict[str, Any], field: str, problem: str
) -> None:
    e = error(tmp_path, drill(topology))

    assert e.field == field
    assert problem in e.problem


def test_unknown_topology_kind(tmp_path: Path) -> None:
    e = error(tmp_path, drill(topology={"kind": "mysql"}))

    assert e.field == "topology.kind"
    kinds = "postgres, patroni, redis, compose, containers"
    assert e.problem == f"'mysql' is not a topology; expected one of {kinds}"


def test_save_points_parse() -> None:
    assert save_points("60 1000  1 1") == [(60, 1000), (1, 1)]


# -- faults, roles and steps that the topology must be able to serve -------------------------------
def test_sentinel_roles_and_redis_nodes_are_targets(tmp_path: Path) -> None:
    doc = drill(
        faults=[
            {"kind": "partition", "groups": [["primary"], ["replicas", "sentinels"]]},
            {"kind": "kill", "target": "s2"},
            {"kind": "flushall"},
            {"kind": "delete-redis-files", "target": "r1", "files": "aof"},
        ]
    )
    spec = load_drill(write(tmp_path, doc))
    assert [f.kind for f in spec.faults] == [
        "partition",
        "kill",
        "flushall",
        "delete-redis-files",
    ]


def test_postgres_node_name_in_a_redis_drill(tmp_path: Path) -> None:
    e = error(tmp_path, drill(faults=[{"kind": "kill", "target": "pg1"}]))

    assert e.field == "faults[0]"
    assert "'pg1' is not a node of this topology; expected one of r0, r1, r2, s1" in e.problem


@pytest.mark.parametrize(
    ("doc", "field", "problem"),
    [
        (
            drill(faults=[{"kind": "drop-table"}]),
            "faults[0].kind",
            "drop-table needs topology.kind: postgres or patroni",
        ),
        (
            drill(runbook=[{"step": "promote"}]),
            "runbook[0].step",
            "promote needs topology.kind: postgres",
        ),
        (
            drill(runbook=[{"step": "redis-restore", "source": "aof"}]),
            "runbook[0].source",
            "source 'aof' needs an AOF",
        ),
        (
            drill(runbook=[{"step": "redis-restore", "source": "backup"}]),
            "runbook[0].source",
            "source 'backup' needs backups: set topology.backup_interval_seconds",
        ),
        (
            drill(
                {"persistence": "aof-everysec"},
                runbook=[{"step": "redis-restore", "source": "rdb"}],
            ),
            "runbook[0].source",
            "source 'rdb' needs RDB snapshots",
        ),
        (
            drill(runbook=[{"step": "redis-restore", "source": "rdb", "node": "s1"}]),
            "runbook[0].node",
            "'s1' is not a data node",
        ),
    ],
)
def test_redis_cross_checks(tmp_path: Path, doc: dict[str, Any], field: str, problem: str) -> None:
    e = error(tmp_path, doc)

    assert e.field == field
    assert e.problem.startswith(problem)


@pytest.mark.parametrize(
    ("fields", "field", "problem"),
    [
        (
            {"faults": [{"kind": "flushall"}]},
            "faults[0].kind",
            "flushall needs topology.kind: redis",
        ),
        (
            {"faults": [{"kind": "kill", "target": "sentinels"}]},
            "faults[0]",
            "role 'sentinels' needs topology.kind: redis",
        ),
        (
            {"runbook": [{"step": "wait-sentinel-failover"}]},
            "runbook[0].step",
            "wait-sentinel-failover needs topology.kind: redis",
        ),
    ],
)
def test_redis_only_parts_in_a_postgres_drill(
    tmp_path: Path, fields: dict[str, Any], field: str, problem: str
) -> None:
    doc = {**drill(), "topology": {"kind": "postgres"}, **fields}
    e = error(tmp_path, doc)

    assert (e.field, e.problem) == (field, problem)


def test_redis_steps_validate_with_defaults(tmp_path: Path) -> None:
    doc = drill(
        {"persistence": "rdb", "backup_interval_seconds": 1, "save": "1 1"},
        runbook=[
            {"step": "wait-sentinel-failover", "converge": True},
            {"step": "redis-promote"},
            {"step": "redis-restore", "source": "backup", "node": "r1"},
        ],
    )
    steps = load_drill(write(tmp_path, doc)).runbook

    assert [s.step for s in steps] == ["wait-sentinel-failover", "redis-promote", "redis-restore"]
    assert steps[1].reconfigure_sentinels is True  # type: ignore[union-attr]


# -- configuration ------------------------------------------------------------------------------
def test_redis_conf_reflects_the_topology() -> None:
    spec = RedisTopology(
        kind="redis",
        persistence="aof-always",
        min_replicas_to_write=1,
        min_replicas_max_lag=2,
    )
    conf = redis_conf(spec, "pw", "10.0.0.2")

    assert 'requirepass "pw"' in conf and 'masterauth "pw"' in conf
    assert "appendonly yes" in conf and "appendfsync always" in conf
    assert 'save ""' in conf
    assert "min-replicas-to-write 1" in conf and "min-replicas-max-lag 2" in conf
    assert conf.rstrip().endswith("replicaof 10.0.0.2 6379")
    assert "replicaof" not in redis_conf(spec, "pw", None)


def test_rdb_persistence_uses_the_save_points() -> None:
    spec = RedisTopology(kind="redis", persistence="rdb", save="1  1")
    conf = redis_conf(spec, "pw", None)
    assert 'save "1 1"' in conf and "appendonly no" in conf


def test_sentinel_conf_carries_timings_and_quorum() -> None:
    spec = RedisTopology(kind="redis", quorum=2, down_after_ms=1000, failover_timeout_ms=5000)
    conf = sentinel_conf(spec, "pw", "10.0.0.2")

    assert "sentinel monitor drillkit 10.0.0.2 6379 2" in conf
    assert "sentinel down-after-milliseconds drillkit 1000" in conf
    assert "sentinel failover-timeout drillkit 5000" in conf
    assert 'sentinel auth-pass drillkit "pw"' in conf
    assert 'sentinel sentinel-pass "pw"' in conf


# -- the writer's outcome rules -----------------------------------------------------------------
@pytest.mark.parametrize(
    ("error_", "sent", "outcome", "keep"),
    [
        (ConnectionError("refused"), False, OpType.FAIL, False),  # never sent
        (TimeoutError("no answer"), True, OpType.INFO, False),  # may have happened
        (ConnectionError("reset by peer"), True, OpType.INFO, False),
        (
            ReadOnlyError("READONLY You can't write against a read only replica."),
            True,
            OpType.FAIL,
            False,
        ),  # demoted: redis-py asks Sentinel again
        (ResponseError("NOREPLICAS Not enough good replicas to write."), True, OpType.FAIL, True),
        (BusyLoadingError("LOADING"), True, OpType.FAIL, False),
    ],
)
def test_outcome_and_connection_rules(
    error_: Exception, sent: bool, outcome: OpType, keep: bool
) -> None:
    assert classify_error(error_, sent=sent) is outcome
    assert keeps_connection(error_) is keep


# -- restoring files ----------------------------------------------------------------------------
def resp(*args: str) -> bytes:
    out = f"*{len(args)}\r\n".encode()
    for a in args:
        out += f"${len(a.encode())}\r\n{a}\r\n".encode()
    return out


def test_strip_flushes_removes_only_flush_commands() -> None:
    aof = (
        resp("SELECT", "0")
        + resp("SADD", "drillkit:ids", "1")
        + b"#TS:1700000000\r\n"
        + resp("flushall")
        + resp("SADD", "drillkit:ids", "2")
        + resp("FLUSHDB", "ASYNC")
    )

    stripped, removed = strip_flushes(aof)

    assert removed == 2
    assert stripped == (
        resp("SELECT", "0")
        + resp("SADD", "drillkit:ids", "1")
        + b"#TS:1700000000\r\n"
        + resp("SADD", "drillkit:ids", "2")
    )


def test_strip_flushes_keeps_a_truncated_tail_and_binary_values() -> None:
    value = "a\r\nb"  # a value may hold CRLF: lengths, not lines, delimit it
    aof = resp("SET", "k", value) + resp("FLUSHALL") + b"*3\r\n$4\r\nSADD\r\n$1\r\nk"

    stripped, removed = strip_flushes(aof)

    assert removed == 1
    assert stripped == resp("SET", "k", value) + b"*3\r\n$4\r\nSADD\r\n$1\r\nk"


def test_strip_flushes_rejects_what_is_not_an_aof() -> None:
    with pytest.raises(ValueError, match="not an AOF command at byte 0"):
        strip_flushes(b"REDIS0011")


def test_archives_round_trip_and_backups_sort_newest_first() -> None:
    files = [
        ArchivedFile("dump-1700000000000000001.rdb", b"old", 100, 101),
        ArchivedFile("dump-1700000000900000000.rdb", b"new", 100, 101),
        ArchivedFile(".incoming", b"partial", 100, 101),
    ]
    tar_bytes = build_archive("redis", files, 100, 101)

    back = read_archive([tar_bytes[:100], tar_bytes[100:]])

    assert [(f.path, f.data, f.uid) for f in back] == [
        ("redis/" + f.path, f.data, 100) for f in files
    ]
    with tarfile.open(fileobj=io.BytesIO(tar_bytes)) as tar:
        root = tar.getmember("redis")
        assert root.isdir() and (root.uid, root.gid) == (100, 101)
    assert [f.data for f in backup_candidates(back)] == [b"new", b"old"]


def test_redis_cluster_fulfils_the_contracts_faults_and_steps_rely_on() -> None:
    from drillkit.faults.redis_data import RedisDataTopology
    from drillkit.runbook.custom import ShellTopology
    from drillkit.secrets import Secrets
    from drillkit.topology import TOPOLOGIES, System
    from drillkit.topology.redis import RedisCluster

    cluster = RedisCluster(
        None,
        RedisTopology(kind="redis"),
        run_id="unit-run",
        labels={},
        image="drillkit/redis:x",
        secrets=Secrets.generate(*RedisCluster.SECRET_NAMES),
    )

    cluster.network = types.SimpleNamespace(name="dk-unit-net")  # what start() creates

    assert TOPOLOGIES["redis"] is RedisCluster
    for contract in (System, RedisDataTopology, ShellTopology):
        assert isinstance(cluster, contract), contract.__name__
