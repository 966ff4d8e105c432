"""PostgreSQL topology options and restore steps in drill files: defaults, rules, messages."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from test_spec import drill, error, write

from drillkit.spec import load_drill
from drillkit.spec import postgres as postgres_spec
from drillkit.topology.postgres import sync_standby_names


def test_replication_defaults_to_async(tmp_path: Path) -> None:
    topology = load_drill(write(tmp_path, drill())).topology

    assert (topology.replication, topology.synchronous_commit) == ("async", "on")


def test_sync_replication_with_a_level(tmp_path: Path) -> None:
    topology = load_drill(
        write(
            tmp_path,
            drill(
                topology={
                    "kind": "postgres",
                    "replicas": 2,
                    "replication": "sync",
                    "synchronous_commit": "remote_apply",
                    "sync_standbys": 2,
                }
            ),
        )
    ).topology

    assert (topology.replication, topology.synchronous_commit, topology.sync_standbys) == (
        "sync",
        "remote_apply",
        2,
    )


def test_unquoted_yaml_on_means_the_level_on(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "name: unit\ntopology: {kind: postgres, replication: sync, synchronous_commit: on}\n"
        "faults: [{kind: kill}]\ntargets: {rpo_seconds: 0}\n",
    )

    assert load_drill(path).topology.synchronous_commit == "on"


@pytest.mark.parametrize(
    ("topology", "message"),
    [
        (
            {"replication": "sync", "synchronous_commit": "local"},
            "topology: replication: sync with synchronous_commit: local waits for no standby; "
            "use on, remote_write or remote_apply",
        ),
        (
            {"replication": "sync", "replicas": 2, "sync_standbys": 3},
            "topology: sync_standbys (3) exceeds replicas (2): no commit could ever be confirmed",
        ),
        ({"sync_standbys": 1}, "topology: sync_standbys needs replication: sync"),
        (
            {"synchronous_commit": "always"},
            "topology.synchronous_commit: 'always' is not allowed; expected 'on', "
            "'remote_write', 'remote_apply', 'local' or 'off'",
        ),
    ],
)
def test_incoherent_sync_options(tmp_path: Path, topology: dict[str, Any], message: str) -> None:
    path = write(tmp_path, drill(topology={"kind": "postgres", **topology}))

    assert str(error(path)) == f"{path}: {message}"


def test_sync_standby_names_is_a_quorum_of_the_named_standbys() -> None:
    assert sync_standby_names(["pg1", "pg2"], 1) == 'ANY 1 ("pg1", "pg2")'
    assert sync_standby_names(["pg1"], 2) == 'ANY 1 ("pg1")'  # never more than are named
    assert sync_standby_names([], 1) == ""


def test_sync_standby_names_refuses_what_it_cannot_quote() -> None:
    with pytest.raises(ValueError, match="cannot be named"):
        sync_standby_names(["pg1'; DROP"], 1)


PGBACKREST = {"kind": "postgres", "pgbackrest": {"archive_timeout_seconds": 2}}


def test_a_restore_drill_with_a_repository(tmp_path: Path) -> None:
    spec = load_drill(
        write(
            tmp_path,
            drill(
                topology=PGBACKREST,
                runbook=[
                    {"step": "restore", "onto": "pg0"},
                    {"step": "verify-restore"},
                    {"step": "repoint", "to": "pg0"},
                ],
            ),
        )
    )

    pgbackrest = spec.topology.pgbackrest
    assert pgbackrest is not None and pgbackrest.archive_timeout_seconds == 2
    restore = spec.runbook[0]
    assert (restore.type, restore.onto, restore.timeout_seconds) == ("time", "pg0", 180)


@pytest.mark.parametrize(
    ("topology", "step", "message"),
    [
        (
            {"kind": "postgres"},
            {"step": "restore"},
            "runbook[0].step: restore needs a backup repository: set topology.pgbackrest "
            "(e.g. pgbackrest: {archive_timeout_seconds: 5})",
        ),
        (
            PGBACKREST,
            {"step": "restore", "type": "latest", "target_time": "2026-01-31T12:00:00Z"},
            "runbook[0]: type: latest replays every archived segment; it takes no target",
        ),
        (
            PGBACKREST,
            {"step": "restore", "target_time": "2026-01-31T12:00:00"},
            "runbook[0]: target_time needs a time zone, e.g. 2026-01-31T12:00:00Z",
        ),
        (
            PGBACKREST,
            {"step": "restore", "onto": "pg9"},
            "runbook[0].onto: 'pg9' is not a node of this topology; expected host, primary, "
            "replica or one of pg0, pg1",
        ),
        (
            PGBACKREST,
            {"step": "repoint", "to": "pg7"},
            "runbook[0].to: 'pg7' is not a node of this topology; expected host, primary, "
            "replica or one of pg0, pg1",
        ),
    ],
)
def test_restore_steps_are_checked_against_the_topology(
    tmp_path: Path, topology: dict[str, Any], step: dict[str, Any], message: str
) -> None:
    path = write(tmp_path, drill(topology=topology, runbook=[step]))

    assert str(error(path)) == f"{path}: {message}"


def test_a_patroni_topology_with_defaults(tmp_path: Path) -> None:
    spec = load_drill(
        write(
            tmp_path,
            drill(
                topology={"kind": "patroni"},
                runbook=[{"step": "wait-for-leader"}, {"step": "rejoin"}],
                faults=[{"kind": "isolate", "target": "etcd1"}],
            ),
        )
    )

    topology = spec.topology
    assert (topology.ttl, topology.loop_wait, topology.retry_timeout) == (30, 10, 10)  # Patroni's
    assert topology.node_names() == ["pg0", "pg1", "pg2", "etcd0", "etcd1", "etcd2", "haproxy"]


@pytest.mark.parametrize(
    ("topology", "runbook", "message"),
    [
        (
            {"kind": "patroni", "ttl": 20, "loop_wait": 5, "retry_timeout": 8},
            [],
            "topology: Patroni needs loop_wait + 2 * retry_timeout <= ttl; 5 + 2 * 8 > 20",
        ),
        (
            {"kind": "patroni", "ttl": 10},
            [],
            "topology.ttl: Input should be greater than or equal to 20",
        ),
        (
            {"kind": "patroni"},
            [{"step": "promote"}],
            "runbook[0].step: promote needs topology.kind: postgres or compose or containers",
        ),
        (
            {"kind": "postgres"},
            [{"step": "wait-for-leader"}],
            "runbook[0].step: wait-for-leader needs topology.kind: patroni",
        ),
        (
            {"kind": "patroni", "haproxy": False},
            [{"step": "switchover", "candidate": "haproxy"}],
            "runbook[0].candidate: 'haproxy' is not a node of this topology; expected host, "
            "primary, replica or one of pg0, pg1, pg2, etcd0, etcd1, etcd2",
        ),
    ],
)
def test_patroni_rules(
    tmp_path: Path, topology: dict[str, Any], runbook: list[Any], message: str
) -> None:
    path = write(tmp_path, drill(topology=topology, runbook=runbook))

    assert str(error(path)) == f"{path}: {message}"


@pytest.mark.parametrize(
    ("size", "message"),
    [
        (
            "0m",
            "topology.data_volume_size: 0m is too small: a PostgreSQL data directory needs "
            "at least 64m (and 0 would mean an unlimited, RAM-backed volume)",
        ),
        (
            "900g",
            "topology.data_volume_size: 900g x 2 nodes is more than half of this host's "
            "memory (23.0g in /proc/meminfo): these volumes live in RAM, and fill-disk fills them; "
            "use at most 5.8g",
        ),
    ],
)
def test_data_volume_size_is_positive_and_fits_in_half_the_memory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, size: str, message: str
) -> None:
    monkeypatch.setattr(postgres_spec, "host_memory_bytes", lambda: 23 * 1024**3)
    path = write(tmp_path, drill(topology={"kind": "postgres", "data_volume_size": size}))

    assert str(error(path)) == f"{path}: {message}"
    ok = write(tmp_path, drill(topology={"kind": "postgres", "data_volume_size": "256m"}))
    assert load_drill(ok).topology.data_volume_size == "256m"


def test_host_memory_is_read_from_meminfo(tmp_path: Path) -> None:
    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemTotal:       24117248 kB\nMemFree: 1 kB\n")
    assert postgres_spec.host_memory_bytes(meminfo) == 23 * 1024**3
    assert postgres_spec.host_memory_bytes(tmp_path / "none") is None


PATRONI_PGBACKREST = {"kind": "patroni", "pgbackrest": {"archive_timeout_seconds": 5}}


def test_a_patroni_restore_drill_with_a_repository(tmp_path: Path) -> None:
    spec = load_drill(
        write(
            tmp_path,
            drill(
                topology=PATRONI_PGBACKREST,
                faults=[{"kind": "drop-table"}],
                runbook=[{"step": "restore", "onto": "primary"}, {"step": "verify-restore"}],
            ),
        )
    )

    pgbackrest = spec.topology.pgbackrest
    assert pgbackrest is not None and pgbackrest.archive_timeout_seconds == 5
    assert spec.runbook[0].onto == "primary"


@pytest.mark.parametrize(
    ("topology", "step", "message"),
    [
        (
            {"kind": "patroni"},
            {"step": "restore", "onto": "pg0"},
            "runbook[0].step: restore needs a backup repository: set topology.pgbackrest "
            "(e.g. pgbackrest: {archive_timeout_seconds: 5})",
        ),
        (
            PATRONI_PGBACKREST,
            {"step": "restore"},
            "runbook[0].onto: under Patroni every member is rebuilt in place (Patroni's custom "
            "bootstrap from the repository); name the member that bootstraps: primary (the "
            "leader when the step runs) or one of pg0, pg1, pg2",
        ),
        (
            PATRONI_PGBACKREST,
            {"step": "restore", "onto": "etcd0"},
            "runbook[0].onto: under Patroni every member is rebuilt in place (Patroni's custom "
            "bootstrap from the repository); name the member that bootstraps: primary (the "
            "leader when the step runs) or one of pg0, pg1, pg2",
        ),
        (
            PGBACKREST,
            {"step": "restore", "onto": "primary"},
            "runbook[0].onto: 'primary' is for Patroni; use fresh or a node name",
        ),
    ],
)
def test_patroni_restores_name_the_bootstrapping_member(
    tmp_path: Path, topology: dict[str, Any], step: dict[str, Any], message: str
) -> None:
    path = write(tmp_path, drill(topology=topology, runbook=[step]))

    assert str(error(path)) == f"{path}: {message}"
