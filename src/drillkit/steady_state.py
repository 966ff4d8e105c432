"""The steady-state gate: a fault is injected only into a topology that is demonstrably healthy.

The topology judges its part (replication, lag, the Sentinels' view) and the workload's client
its own (enough acknowledged writes). The gate's ``ok`` records the roles the topology saw
(``value.roles``): the primary a later fault strikes when it is aimed at a name, not a role.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from drillkit.history import History, OpType
from drillkit.spec import SteadyState
from drillkit.topology.base import System
from drillkit.workload.base import Client, Workload

__all__ = ["SteadyStateResult", "await_steady_state"]


@dataclass(frozen=True)
class SteadyStateResult:
    healthy: bool
    reason: str


def await_steady_state(
    system: System,
    client: Client,
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
        health = system.health(spec)
        problem = health.problem or client.steady_state_problem(workload, spec)
        if problem is None:
            value = {"ok_writes": workload.ok_count, "roles": health.roles}
            history.complete(check, OpType.OK, value=value)
            return SteadyStateResult(True, "healthy")
        if clock() >= deadline:
            break
        sleep(0.1)
    reason = f"not healthy after {spec.timeout_seconds:g}s: {problem}"
    history.complete(check, OpType.FAIL, error=reason)
    return SteadyStateResult(False, reason)
