"""The steady-state gate: a fault is injected only into a topology that is demonstrably healthy."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from drillkit.history import History, OpType
from drillkit.spec import SteadyState
from drillkit.topology.base import System
from drillkit.workload.base import Workload

__all__ = ["SteadyStateResult", "await_steady_state"]


@dataclass(frozen=True)
class SteadyStateResult:
    healthy: bool
    reason: str


def await_steady_state(
    system: System,
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
        problem = system.steady_state_problem(workload, spec)
        if problem is None:
            history.complete(check, OpType.OK, value={"ok_writes": workload.ok_count})
            return SteadyStateResult(True, "healthy")
        if clock() >= deadline:
            break
        sleep(0.1)
    reason = f"not healthy after {spec.timeout_seconds:g}s: {problem}"
    history.complete(check, OpType.FAIL, error=reason)
    return SteadyStateResult(False, reason)
