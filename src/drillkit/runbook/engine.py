"""Run restore steps in order, each timed, recorded and bounded by its own timeout.

A step that fails or times out ends the runbook; the drill is then judged on what was recovered
and the history says which step failed.
"""

from __future__ import annotations

import concurrent.futures
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from drillkit.history import History, OpType

__all__ = ["RunbookResult", "Step", "run_runbook"]


@runtime_checkable
class Step(Protocol):
    """One restore action. ``run`` returns what it did (recorded as the step's value)."""

    name: str
    delay_seconds: float
    timeout_seconds: float

    def run(self) -> dict[str, Any]: ...


@dataclass(frozen=True)
class RunbookResult:
    completed: list[str]
    failed_step: str | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.failed_step is None


def run_runbook(
    steps: Sequence[Step],
    history: History,
    *,
    sleep: Callable[[float], None] = time.sleep,
    redact: Callable[[str], str] = lambda s: s,
) -> RunbookResult:
    completed: list[str] = []
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="runbook")
    try:
        for step in steps:
            if step.delay_seconds > 0:
                wait = history.invoke(
                    "runbook", "delay", {"seconds": step.delay_seconds, "before": step.name}
                )
                sleep(step.delay_seconds)
                history.complete(wait, OpType.OK)
            invocation = history.invoke("runbook", step.name)
            future = pool.submit(step.run)
            done, _ = concurrent.futures.wait([future], timeout=step.timeout_seconds)
            if not done:
                error = f"timed out after {step.timeout_seconds:g}s"
                history.complete(invocation, OpType.FAIL, error=error)
                return RunbookResult(completed, step.name, error)
            try:
                result = future.result()
            except Exception as e:
                error = redact(f"{type(e).__name__}: {e}".strip())
                history.complete(invocation, OpType.FAIL, error=error)
                return RunbookResult(completed, step.name, error)
            history.complete(invocation, OpType.OK, value=result)
            completed.append(step.name)
        return RunbookResult(completed)
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
