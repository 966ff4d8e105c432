"""Process faults on real containers, measured against ground truth the test controls."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from drillkit.checkers import analyze, write_outcomes
from drillkit.faults import make_fault
from drillkit.faults.base import FaultFailed
from drillkit.faults.nemesis import Nemesis
from drillkit.history import History, OpType
from drillkit.images import NodeImages
from drillkit.spec import Targets, WorkloadSpec
from drillkit.spec.faults import CrashRestartFault, KillFault, PauseFault, StopFault
from drillkit.topology.postgres import PostgresCluster
from drillkit.workload.pg_writer import PgWriter, create_table

from .conftest import pg_cluster

WORKLOAD = WorkloadSpec(
    rate=200, op_timeout_seconds=0.3, observe_seconds=2, stable_window_seconds=0.5
)


@pytest.fixture(scope="module")
def cluster(docker_client: Any, images: NodeImages) -> Iterator[PostgresCluster]:
    with pg_cluster(docker_client, images, "process") as c:
        create_table(c.conninfo([c.nodes[0]], connect_timeout=2))
        yield c


def _drive(cluster: PostgresCluster, faults: list[Any], *, after: float) -> History:
    """Write while the faults run their schedule, then for ``after`` more seconds."""
    history = History()
    writer = PgWriter(
        cluster.client_conninfo, history, WORKLOAD, first_id=int(time.time() * 1000) % 10**9 * 1000
    )
    nemesis = Nemesis(faults, cluster, history, make_fault)
    writer.start()
    try:
        time.sleep(0.5)
        nemesis.start()
        assert nemesis.wait(60)
        time.sleep(after)
    finally:
        writer.stop()
        nemesis.heal_all()
    return history


def _durations(history: History) -> list[float]:
    ops = history.ops()
    started: dict[int, int] = {}
    out = []
    for op in ops:
        if op.f != "write":
            continue
        if op.type is OpType.INVOKE:
            started[op.value] = op.time_ns
        else:
            out.append((op.time_ns - started[op.value]) / 1e9)
    return out


def _wait_streaming(cluster: PostgresCluster, expected: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = cluster.replication_status(cluster.nodes[0])
        if sum(r["state"] == "streaming" for r in rows) == expected:
            return
        time.sleep(0.1)
    raise AssertionError(f"expected {expected} streaming replica(s)")


def test_pause_never_stalls_the_probe_and_rto_matches_the_pause_length(
    cluster: PostgresCluster,
) -> None:
    pause_s = 2.0
    history = _drive(
        cluster, [PauseFault(kind="pause", target="primary", duration=pause_s)], after=2.0
    )
    ops = history.ops()
    outcomes = write_outcomes(ops)
    during = [t for t in outcomes.outcome.values() if t is not OpType.OK]
    assert during, "writes during the pause must be recorded as fail or info"
    # No operation may outlive its deadline by more than scheduling noise.
    assert max(_durations(history)) < WORKLOAD.op_timeout_seconds + 0.25
    # After unpause, writes succeed again.
    assert ops[-1].type is OpType.OK or outcomes.acknowledged
    last_writes = [op for op in ops if op.f == "write" and op.type is not OpType.INVOKE][-20:]
    assert all(op.type is OpType.OK for op in last_writes)
    # Ground truth: service is back about when the pause ended.
    analysis = analyze(ops, Targets(rto_seconds=10), WORKLOAD.stable_window_seconds)
    assert analysis.rto is not None and analysis.rto.seconds is not None
    assert pause_s - 0.1 <= analysis.rto.seconds <= pause_s + 1.0
    heal = [op for op in ops if op.f == "heal-pause" and op.type is OpType.OK]
    assert heal and cluster.nodes[0].status() == "running"
    pause = next(op for op in ops if op.f == "pause" and op.type is OpType.OK)
    assert pause.extra["effective_by"] == "when pause() returned"
    assert heal[0].extra["effective_by"] == "when unpause() returned"
    # duration is honoured from effective to heal-effective, within the Nemesis's tolerance
    held = (heal[0].extra["effective_ns"] - pause.extra["effective_ns"]) / 1e9
    assert abs(held - pause_s) <= 0.05


def test_a_failed_second_pause_heals_nothing_and_the_first_stays(
    cluster: PostgresCluster,
) -> None:
    replica = cluster.nodes[1]
    history = History()
    first = make_fault(PauseFault(kind="pause", target=replica.name))
    second = make_fault(PauseFault(kind="pause", target=replica.name))
    first.inject(cluster, history)
    try:
        with pytest.raises(FaultFailed, match="409"):
            second.inject(cluster, history)
        second.heal(cluster, history)
        assert replica.status() == "paused"
    finally:
        first.heal(cluster, history)
    assert replica.status() == "running"
    assert [(op.f, op.type) for op in history.ops() if op.is_completion] == [
        ("pause", OpType.OK),
        ("pause", OpType.FAIL),
        ("heal-pause", OpType.OK),
    ]


def test_kill_is_dated_by_docker_finished_at(cluster: PostgresCluster) -> None:
    replica = cluster.nodes[1]
    history = History()
    fault = make_fault(KillFault(kind="kill", target=replica.name))
    try:
        fault.inject(cluster, history)
    finally:
        replica.start()
    done = history.ops()[-1].extra
    assert done["effective_by"] == "docker State.FinishedAt"
    assert done["requested_ns"] <= done["effective_ns"] <= done["returned_ns"]
    _wait_streaming(cluster, 1)


def test_stop_disconnects_the_replica_and_heal_brings_streaming_back(
    cluster: PostgresCluster,
) -> None:
    replica = cluster.nodes[1]
    history = History()
    fault = make_fault(StopFault(kind="stop", target=replica.name, timeout_seconds=5))
    fault.inject(cluster, history)
    assert replica.status() == "exited"
    _wait_streaming(cluster, 0)
    fault.heal(cluster, history)
    fault.heal(cluster, history)  # a second heal is a no-op
    assert replica.status() == "running"
    _wait_streaming(cluster, 1)
    assert [op.f for op in history.ops() if op.type is OpType.OK] == ["stop", "heal-stop"]


def test_crash_restart_loses_no_acknowledged_write(cluster: PostgresCluster) -> None:
    """Local durability: with fsync on, crash recovery must keep every acknowledged commit."""
    history = _drive(
        cluster, [CrashRestartFault(kind="crash-restart", target="primary")], after=3.0
    )
    ops = history.ops()
    from drillkit.workload.pg_writer import read_ids

    survivors = set(read_ids(cluster.conninfo([cluster.nodes[0]], connect_timeout=2)))
    acked = write_outcomes(ops).acknowledged
    assert acked and acked <= survivors
    failures = [op for op in ops if op.f == "write" and op.type in (OpType.FAIL, OpType.INFO)]
    assert failures, "a crash must be visible to the workload"
    _wait_streaming(cluster, 1)
