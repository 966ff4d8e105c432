"""Data-loss and resource faults on real PostgreSQL containers.

Every test seeds the table with rows it chose (ground truth), injects one fault and asserts what a
user of the database would see: rows gone, a node that will not start, a read that fails, inserts
refused for want of space. Two clusters are shared across tests (the faults there leave them
usable); a third is sacrificed to the faults that destroy nodes.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import psycopg
import pytest

from drillkit.faults import make_fault
from drillkit.faults.base import FaultFailed
from drillkit.faults.disk import FILL_FILE
from drillkit.history import History, OpType
from drillkit.images import NodeImages
from drillkit.resources import RUN_LABEL
from drillkit.spec.faults import (
    CorruptFault,
    DeleteRangeFault,
    DeleteWalFault,
    DropTableFault,
    FillDiskFault,
    TruncateFault,
    WipeDataFault,
)
from drillkit.topology.node import Node
from drillkit.topology.postgres import PostgresCluster
from drillkit.workload.pg_writer import TABLE, create_table

from .conftest import pg_cluster

pytestmark = pytest.mark.integration

ROWS = 1000  # ids 1..ROWS; at ~140 rows per 8 kB page the table spans several blocks
T = TypeVar("T")


# -- fixtures and helpers ----------------------------------------------------------------------
@contextmanager
def _cluster(
    client: Any, images: NodeImages, replicas: int = 1, **topology: Any
) -> Iterator[PostgresCluster]:
    with pg_cluster(client, images, "data-faults", replicas, **topology) as cluster:
        _await_replica_streaming(cluster)
        yield cluster


@pytest.fixture(scope="module")
def cluster(docker_client: Any, images: NodeImages) -> Iterator[PostgresCluster]:
    """Ordinary volumes; the faults used on it leave every node running."""
    with _cluster(docker_client, images) as c:
        yield c


@pytest.fixture(scope="module")
def doomed(docker_client: Any, images: NodeImages) -> Iterator[PostgresCluster]:
    """For the faults that leave a node unable to run: each test breaks a different node, and
    one replica stays intact to show what a failover would find."""
    with _cluster(docker_client, images, replicas=2) as c:
        yield c


@pytest.fixture(scope="module")
def sized(docker_client: Any, images: NodeImages) -> Iterator[PostgresCluster]:
    """Size-limited (tmpfs) data volumes, for fill-disk."""
    with _cluster(docker_client, images, data_volume_size="128m") as c:
        yield c


def _eventually(probe: Callable[[], T | None], timeout: float, what: str) -> T:
    deadline = time.monotonic() + timeout
    while True:
        result = probe()
        if result is not None:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(0.1)


def _answers(cluster: PostgresCluster, node: Node, sql: str) -> list[dict[str, Any]] | None:
    try:
        return cluster.query(node, sql)
    except psycopg.Error:
        return None


def _await_replica_streaming(cluster: PostgresCluster) -> None:
    """Streaming is not answering: a standby opens for queries once it is consistent, and the
    tests read from replicas (pg_basebackup's own WAL stream is not a replica)."""
    sql = (
        "SELECT 1 FROM pg_stat_replication"
        " WHERE state = 'streaming' AND application_name <> 'pg_basebackup'"
    )
    _eventually(
        lambda: (
            len(_answers(cluster, cluster.nodes[0], sql) or []) == cluster.spec.replicas or None
        ),
        30,
        "every replica to stream",
    )
    for replica in cluster.nodes[1:]:
        _eventually(lambda r=replica: _answers(cluster, r, "SELECT 1"), 30, f"{replica.name}")


def _count(cluster: PostgresCluster, node: Node) -> int:
    return int(cluster.query(node, f"SELECT count(*) AS n FROM {TABLE}")[0]["n"])


def _seed(cluster: PostgresCluster) -> Node:
    """A fresh table holding ids 1..ROWS on the primary, replayed by every running replica."""
    primary = cluster.resolve("primary")[0]
    cluster.query(primary, f"DROP TABLE IF EXISTS {TABLE}")
    create_table(cluster.conninfo([primary], connect_timeout=2))
    cluster.query(
        primary,
        f"INSERT INTO {TABLE} (id, writer) SELECT g, 'seed' FROM generate_series(1, {ROWS}) g",
    )
    for replica in [n for n in cluster.running() if n is not primary]:
        _eventually(lambda r=replica: _holds(cluster, r, ROWS), 10, f"{replica.name} to replay")
    return primary


def _holds(cluster: PostgresCluster, node: Node, rows: int) -> bool | None:
    try:
        return _count(cluster, node) == rows or None
    except psycopg.Error:
        return None


def _evidence(history: History, f: str) -> str:
    done = [op for op in history.ops() if op.f == f and op.type is not OpType.INVOKE]
    assert len(done) == 1, f"expected one completion of {f}, got {done}"
    assert done[0].type is OpType.OK, done[0].error
    return str(done[0].extra["evidence"])


def _inject_and_heal(cluster: PostgresCluster, spec: Any) -> tuple[History, str]:
    """Inject, heal twice (the second must be a no-op); return the history and the evidence."""
    history = History()
    fault = make_fault(spec)
    fault.heal(cluster, history)  # nothing injected yet: nothing recorded
    assert history.ops() == []
    fault.inject(cluster, history)
    evidence = _evidence(history, spec.kind)
    fault.heal(cluster, history)
    fault.heal(cluster, history)
    _evidence(history, f"heal-{spec.kind}")  # exactly one heal recorded
    return history, evidence


def _list_volume(client: Any, cluster: PostgresCluster, node: Node, path: str = "") -> list[str]:
    """Names in the node's data directory, read by our own container (not the fault's helper)."""
    volume = f"dk-{cluster.run_id[-12:]}-{node.name}-data"
    out = client.containers.run(
        cluster.image,
        entrypoint=["ls", "-A", f"/d/{path}"],
        volumes={volume: {"bind": "/d", "mode": "ro"}},
        network_mode="none",
        labels=cluster.labels,
        remove=True,
    )
    return bytes(out).decode().split()


def _no_helpers_left(client: Any, cluster: PostgresCluster) -> bool:
    flt = {"label": ["drillkit.helper", f"{RUN_LABEL}={cluster.run_id}"]}
    return client.containers.list(all=True, filters=flt) == []


# -- operator errors ---------------------------------------------------------------------------
def test_drop_table_is_gone_on_the_primary_and_on_the_replica(cluster: PostgresCluster) -> None:
    primary = _seed(cluster)
    _, evidence = _inject_and_heal(cluster, DropTableFault(kind="drop-table"))
    assert evidence.startswith(f"{primary.name}: DROP TABLE {TABLE} (it held {ROWS} rows); xid ")
    with pytest.raises(psycopg.errors.UndefinedTable):
        _count(cluster, primary)
    replica = cluster.resolve("replica")[0]

    def dropped() -> bool | None:
        try:
            _count(cluster, replica)
        except psycopg.errors.UndefinedTable:
            return True
        return None

    _eventually(dropped, 10, "the drop to reach the replica")  # failover is no remedy


def test_truncate_leaves_an_empty_table(cluster: PostgresCluster) -> None:
    primary = _seed(cluster)
    _, evidence = _inject_and_heal(cluster, TruncateFault(kind="truncate"))
    assert f"TRUNCATE {TABLE} removed {ROWS} rows" in evidence
    assert "transaction began" in evidence  # a point-in-time recovery target
    assert _count(cluster, primary) == 0


def test_delete_range_removes_exactly_the_newest_rows(cluster: PostgresCluster) -> None:
    primary = _seed(cluster)
    history, evidence = _inject_and_heal(cluster, DeleteRangeFault(kind="delete-range", rows=100))
    assert f"removed 100 rows, ids {ROWS - 99}..{ROWS} (exactly: [[{ROWS - 99}, {ROWS}]])" in (
        evidence
    )
    ids = [r["id"] for r in cluster.query(primary, f"SELECT id FROM {TABLE} ORDER BY id")]
    assert ids == list(range(1, ROWS - 99))
    assert history.ops()[0].value == {
        "target": "primary",
        "node": primary.name,
        "table": TABLE,
        "rows": 100,
    }


# -- storage faults on a cluster that survives them --------------------------------------------
def test_data_checksums_are_on_for_every_node(cluster: PostgresCluster) -> None:
    for node in cluster.nodes:
        assert cluster.query(node, "SHOW data_checksums")[0]["data_checksums"] == "on"


def test_corrupt_page_fails_the_read_on_that_node_only(
    docker_client: Any, cluster: PostgresCluster
) -> None:
    primary = _seed(cluster)
    spec = CorruptFault(kind="corrupt", target="primary")  # block 1, bytes 200..215
    _, evidence = _inject_and_heal(cluster, spec)
    assert "data_checksums=on" in evidence and "accepting connections" in evidence
    with pytest.raises(psycopg.errors.DataCorrupted, match=r"invalid page in block 1 of relation"):
        _count(cluster, primary)
    # The server logs the checksum warning as it answers the error; Docker's log capture can
    # trail the client by a moment, so give it a bounded wait.
    deadline = time.monotonic() + 5
    while "page verification failed" not in primary.logs(tail=500) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert "page verification failed, calculated checksum" in primary.logs(tail=500)
    # The replica's copy of the page was never touched: a failover would serve every row.
    assert _count(cluster, cluster.resolve("replica")[0]) == ROWS
    assert _no_helpers_left(docker_client, cluster)


def test_corrupt_beyond_the_file_fails_and_leaves_the_node_running(
    docker_client: Any, cluster: PostgresCluster
) -> None:
    primary = _seed(cluster)
    history = History()
    fault = make_fault(CorruptFault(kind="corrupt", target="primary", offset=10**9))
    with pytest.raises(FaultFailed, match=r"exited 3: base/\S+ holds \d+ bytes: cannot flip"):
        fault.inject(cluster, history)
    assert history.ops()[-1].type is OpType.FAIL
    assert "cannot flip 16 bytes at offset 1000000000" in str(history.ops()[-1].error)
    # The injection stopped the node before the helper failed; it started it again.
    assert primary.status() == "running"
    assert _count(cluster, primary) == ROWS
    assert _no_helpers_left(docker_client, cluster)


def test_delete_wal_on_a_replica_is_streamed_back_from_the_primary(
    docker_client: Any, cluster: PostgresCluster
) -> None:
    _seed(cluster)
    replica = cluster.resolve("replica")[0]
    _, evidence = _inject_and_heal(cluster, DeleteWalFault(kind="delete-wal", target="replica"))
    assert "cluster state 'shut down in recovery'" in evidence
    segment = evidence.split("REDO segment ")[1].split(":")[0]
    assert f": {segment}; started again; accepting connections" in evidence
    # The checkpoint's segment was gone, so the standby asked the primary for it (its
    # replication slot had kept it) and carried on.
    lsn = f"{int(segment[8:16], 16):X}/{int(segment[16:24], 16) * 0x1000000:X}"
    assert f"started streaming WAL from primary at {lsn}" in replica.logs(tail=60)
    assert _count(cluster, replica) == ROWS
    assert _no_helpers_left(docker_client, cluster)


# -- faults that leave a node unable to run ----------------------------------------------------
def test_delete_wal_on_the_primary_leaves_it_unable_to_start(
    docker_client: Any, doomed: PostgresCluster
) -> None:
    _seed(doomed)
    primary = doomed.node("pg0")
    _, evidence = _inject_and_heal(doomed, DeleteWalFault(kind="delete-wal", target="pg0"))
    deleted = evidence.split("REDO segment ")[1].split(": ")[1].split(";")[0]
    assert "PostgreSQL exited with status 1" in evidence
    assert "PANIC:  could not locate a valid checkpoint record" in evidence
    assert primary.status() == "exited"
    assert deleted not in _list_volume(docker_client, doomed, primary, "pg_wal")
    # A clean shutdown first shipped everything to the replicas: a failover would lose nothing.
    assert _count(doomed, doomed.node("pg1")) == ROWS


def test_wipe_data_stops_the_node_and_empties_its_data_directory(
    docker_client: Any, doomed: PostgresCluster
) -> None:
    node = doomed.node("pg2")
    assert "PG_VERSION" in _list_volume(docker_client, doomed, node)
    _, evidence = _inject_and_heal(doomed, WipeDataFault(kind="wipe-data", target="pg2"))
    assert "deleted" in evidence and "left stopped" in evidence
    assert node.status() == "exited"
    assert _list_volume(docker_client, doomed, node) == []
    assert _no_helpers_left(docker_client, doomed)


# -- running out of space ----------------------------------------------------------------------
def _insert_until_refused(cluster: PostgresCluster, node: Node, first_id: int) -> str:
    """Insert one row at a time (as the workload does) until the server refuses one."""
    deadline = time.monotonic() + 15
    with cluster.connect(node) as conn:
        for i in range(first_id, first_id + 100_000):
            try:
                conn.execute(f"INSERT INTO {TABLE} (id, writer) VALUES (%s, 'w')", (i,))
            except psycopg.Error as e:
                return f"{type(e).__name__}: {e}"
            assert time.monotonic() < deadline, "inserts kept succeeding on a full volume"
    raise AssertionError("inserts kept succeeding on a full volume")


def test_fill_disk_refuses_inserts_and_heal_frees_the_space(sized: PostgresCluster) -> None:
    primary = _seed(sized)
    history = History()
    fault = make_fault(FillDiskFault(kind="fill-disk", target="primary"))
    fault.inject(sized, history)
    evidence = _evidence(history, "fill-disk")
    assert f"{FILL_FILE} until 'No space left on device' (volume limit 128m); 0 bytes free" in (
        evidence
    )
    error = _insert_until_refused(sized, primary, ROWS + 1)
    # PostgreSQL answers with an error (SQLSTATE 53100) and stays up: extending the table failed.
    assert error.startswith("DiskFull: could not extend file") and "No space left" in error
    assert primary.status() == "running"
    fault.heal(sized, history)
    fault.heal(sized, history)
    assert "PostgreSQL is running" in _evidence(history, "heal-fill-disk")
    sized.query(primary, f"INSERT INTO {TABLE} (id, writer) VALUES (%s, 'after')", (10**6,))
    assert _count(sized, primary) > ROWS


def test_fill_disk_when_wal_cannot_grow_takes_the_server_down_and_heal_restarts_it(
    sized: PostgresCluster,
) -> None:
    primary = _seed(sized)
    history = History()
    fault = make_fault(FillDiskFault(kind="fill-disk", target="primary"))
    fault.inject(sized, history)
    # Updates in place need no new table page, only WAL; switching segments needs a new file.
    with pytest.raises(psycopg.OperationalError), sized.connect(primary) as conn:
        for _ in range(50):
            conn.execute(f"UPDATE {TABLE} SET writer = writer WHERE id = 1")
            conn.execute("SELECT pg_switch_wal()")
    _eventually(lambda: primary.status() == "exited" or None, 15, "PostgreSQL to exit")
    logs = primary.logs(tail=40)
    assert 'PANIC:  could not write to file "pg_wal/xlogtemp.' in logs
    assert "shutting down due to startup process failure" in logs  # crash recovery needs WAL too
    fault.heal(sized, history)
    heal = _evidence(history, "heal-fill-disk")
    assert "PostgreSQL had exited with status 1" in heal and "accepting connections" in heal
    # The keeper container held the tmpfs volume mounted while the node was down: no data lost.
    assert _count(sized, primary) == ROWS
    sized.query(primary, f"INSERT INTO {TABLE} (id, writer) VALUES (%s, 'after')", (10**6,))


def test_fill_disk_refuses_a_volume_without_a_size_limit(cluster: PostgresCluster) -> None:
    history = History()
    fault = make_fault(FillDiskFault(kind="fill-disk", target="primary"))
    with pytest.raises(RuntimeError, match="has no size limit"):
        fault.inject(cluster, history)
    failed = [op for op in history.ops() if op.type is OpType.FAIL]
    assert len(failed) == 1 and "has no size limit" in str(failed[0].error)
    fault.heal(cluster, history)  # deletes a file that was never written: harmless
