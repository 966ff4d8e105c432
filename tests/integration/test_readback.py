"""The read-back probe against a real PostgreSQL: it sees rows vanish that new writes cannot show.

Ground truth is controlled by the test: rows acknowledged before ``start_reads()`` are deleted by
hand (psycopg, straight to the primary), then the table is dropped.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from drillkit.history import History, Op, OpType
from drillkit.images import NodeImages
from drillkit.spec import WorkloadSpec
from drillkit.topology.postgres import PostgresCluster
from drillkit.workload.pg_writer import TABLE, PgClient
from drillkit.workload.readback import PROCESS, READ_BACK

from .conftest import pg_cluster

# read_sample above the pool size: every read asks for the whole pool, so each is comparable.
WORKLOAD = WorkloadSpec(rate=200, op_timeout_seconds=0.5, read_rate=50, read_sample=1000)


@pytest.fixture(scope="module")
def cluster(docker_client: Any, images: NodeImages) -> Iterator[PostgresCluster]:
    with pg_cluster(docker_client, images, "readback") as c:
        PgClient(c.endpoints()).prepare()
        yield c


def _reads(history: History) -> list[tuple[Op, Op]]:
    """Completed read-backs as (invocation, completion); one still in flight is left out."""
    ops = [op for op in history.ops() if op.process == PROCESS]
    assert all(op.f == READ_BACK for op in ops)
    pairs: list[tuple[Op, Op]] = []
    pending: Op | None = None
    for op in ops:
        if op.type is OpType.INVOKE:
            assert pending is None, "one read-back in flight at a time"
            pending = op
        else:
            assert pending is not None, f"a completion without an invocation: {op}"
            pairs.append((pending, op))
            pending = None
    return pairs


def _wait_for_reads(history: History, since_ns: int, count: int, timeout: float = 15.0) -> None:
    """Until ``count`` read-backs invoked after ``since_ns`` have completed (50 reads/s: ~0.3 s
    for 15 on a quiet host; a busy one, with other test files running, may need longer)."""
    deadline = time.monotonic() + timeout
    while sum(inv.time_ns > since_ns for inv, _ in _reads(history)) < count:
        assert time.monotonic() < deadline, f"fewer than {count} read-backs in {timeout} s"
        time.sleep(0.02)


def test_read_back_sees_deleted_rows_missing_and_a_dropped_table_fails(
    cluster: PostgresCluster,
) -> None:
    history = History()
    workload = PgClient(cluster.endpoints()).make_workload(history, WORKLOAD)
    primary = cluster.conninfo([cluster.nodes[0]], connect_timeout=2)
    workload.start()
    try:
        time.sleep(1.0)
        workload.start_reads()
        started_ns = history.now()
        _wait_for_reads(history, started_ns, 15)
        pool = sorted(_reads(history)[0][0].value)
        victims = pool[::10]
        deleting_ns = history.now()
        with psycopg.connect(primary, autocommit=True) as conn:
            conn.execute(f"DELETE FROM {TABLE} WHERE id = ANY(%s)", (victims,))
        deleted_ns = history.now()
        _wait_for_reads(history, deleted_ns, 15)
        dropping_ns = history.now()
        with psycopg.connect(primary, autocommit=True) as conn:
            conn.execute(f"DROP TABLE {TABLE}")
        dropped_ns = history.now()
        _wait_for_reads(history, dropped_ns, 8)
    finally:
        workload.stop()
    assert workload.error is None

    acked_before = {
        op.value
        for op in history.ops()
        if op.f == "write" and op.type is OpType.OK and op.time_ns < started_ns
    }
    assert set(pool) <= acked_before
    assert len(pool) >= 100  # ~1 s at 200 writes/s

    reads = _reads(history)
    before = [done for _, done in reads if done.time_ns < deleting_ns]
    between = [d for inv, d in reads if deleted_ns < inv.time_ns and d.time_ns < dropping_ns]
    after = [done for inv, done in reads if inv.time_ns > dropped_ns]
    assert len(before) >= 15 and len(between) >= 15 and len(after) >= 8  # 50 reads/s
    assert all(inv.value == pool for inv, _ in reads)
    assert all(d.type is OpType.OK and d.value == pool for d in before)
    survivors = sorted(set(pool) - set(victims))
    for d in between:
        assert d.type is OpType.OK
        assert d.value == survivors
        assert d.extra == {"found": len(survivors)}
    for d in after:
        assert d.type is OpType.FAIL
        assert d.error is not None and d.error.startswith("UndefinedTable")
