"""The steady-state gate: a fault is injected only into a topology that is demonstrably healthy."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import psycopg

from drillkit.history import History, OpType
from drillkit.spec import SteadyState
from drillkit.topology.postgres import PostgresCluster
from drillkit.workload.base import Workload

__all__ = ["SteadyStateResult", "await_steady_state"]


@dataclass(frozen=True)
class SteadyStateResult:
    healthy: bool
    reason: str


def _problem(cluster: PostgresCluster, workload: Workload, spec: SteadyState) -> str | None:
    primary = cluster.current_primary()
    if primary is None:
        return "no single primary"
    try:
        rows = cluster.replication_status(primary)
    except psycopg.Error as e:
        return f"cannot read pg_stat_replication: {e}".strip()
    streaming = [r for r in rows if r["state"] == "streaming"]
    if len(streaming) < cluster.spec.replicas:
        return f"{len(streaming)} of {cluster.spec.replicas} replica(s) streaming"
    lagging = [r for r in streaming if (r["lag_bytes"] or 0) > spec.max_replica_lag_bytes]
    if lagging:
        worst = max(int(r["lag_bytes"]) for r in lagging)
        return f"replica lag {worst} bytes > max_replica_lag_bytes {spec.max_replica_lag_bytes}"
    if workload.ok_count < spec.min_ok_writes:
        return f"{workload.ok_count} of {spec.min_ok_writes} writes acknowledged"
    return None


def await_steady_state(
    cluster: PostgresCluster,
    workload: Workload,
    spec: SteadyState,
    history: History,
    *,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> SteadyStateResult:
    """Poll until healthy or ``spec.timeout_seconds``; record the outcome in the history."""
    check = history.invoke("steady-state", "check")
    deadline = clock() + spec.timeout_seconds
    problem: str | None = "not checked"
    while True:
        problem = _problem(cluster, workload, spec)
        if problem is None:
            history.complete(check, OpType.OK, value={"ok_writes": workload.ok_count})
            return SteadyStateResult(True, "healthy")
        if clock() >= deadline:
            break
        sleep(0.1)
    reason = f"not healthy after {spec.timeout_seconds:g}s: {problem}"
    history.complete(check, OpType.FAIL, error=reason)
    return SteadyStateResult(False, reason)
