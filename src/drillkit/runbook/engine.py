"""Run restore steps in order, each timed, recorded and bounded by its own timeout.

A step that fails or times out ends the runbook; the drill is then judged on what was recovered
and the history says which step failed. A step that declares ``retries`` is attempted again
(tenacity) within its own timeout; a step that reads the history (e.g. to restore to just before
the fault) is handed it before it runs.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from tenacity import Retrying, stop_after_attempt, stop_after_delay, wait_fixed

from drillkit.errors import InfrastructureError
from drillkit.history import History, OpType
from drillkit.queries import RUNBOOK_PROCESS

__all__ = ["ReadsHistory", "Retries", "RunbookResult", "Step", "run_runbook"]


@runtime_checkable
class Step(Protocol):
    """One restore action. ``run`` returns what it did (recorded as the step's value)."""

    name: str
    delay_seconds: float
    timeout_seconds: float

    def run(self) -> dict[str, Any]: ...


@runtime_checkable
class Retries(Protocol):
    """A step that may be attempted ``retries`` more times, ``retry_wait_seconds`` apart."""

    retries: int
    retry_wait_seconds: float


@runtime_checkable
class ReadsHistory(Protocol):
    """A step that needs what happened so far (e.g. when the fault was requested)."""

    def observe(self, history: History) -> None: ...


class _Attempts:
    """Runs a step with its retries; counts attempts and keeps the errors of failed ones."""

    def __init__(self, step: Step, sleep: Callable[[float], None]) -> None:
        self.step = step
        self.sleep = sleep
        self.count = 0
        self.errors: list[str] = []

    def __call__(self) -> dict[str, Any]:
        retries, wait = 0, 0.0
        if isinstance(self.step, Retries):
            retries, wait = self.step.retries, self.step.retry_wait_seconds
        retrying = Retrying(
            stop=stop_after_attempt(retries + 1) | stop_after_delay(self.step.timeout_seconds),
            wait=wait_fixed(wait),
            sleep=self.sleep,
            reraise=True,
        )
        return retrying(self._once)

    def _once(self) -> dict[str, Any]:
        self.count += 1
        try:
            return self.step.run()
        except Exception as e:
            self.errors.append(f"{type(e).__name__}: {e}".strip())
            raise


@dataclass(frozen=True)
class RunbookResult:
    completed: list[str]
    failed_step: str | None = None
    error: str | None = None
    infrastructure: bool = False  # the step failed with an InfrastructureError (engine gone)

    @property
    def ok(self) -> bool:
        return self.failed_step is None


class _Outcome:
    """The result of one step run in its own daemon thread (so a hung step never blocks exit:
    the interpreter does not wait for daemon threads, unlike a ThreadPoolExecutor's)."""

    def __init__(self, attempts: _Attempts) -> None:
        self.done = threading.Event()
        self.value: dict[str, Any] | None = None
        self.exception: BaseException | None = None
        self._attempts = attempts

    def __call__(self) -> None:
        try:
            self.value = self._attempts()
        except BaseException as e:  # handed to the runbook thread, which records it
            self.exception = e
        finally:
            self.done.set()

    @classmethod
    def start(cls, attempts: _Attempts, name: str) -> _Outcome:
        outcome = cls(attempts)
        threading.Thread(target=outcome, name=f"runbook-{name}", daemon=True).start()
        return outcome


def run_runbook(
    steps: Sequence[Step],
    history: History,
    *,
    sleep: Callable[[float], None] = time.sleep,
    redact: Callable[[str], str] = lambda s: s,
    elapsed_since_fault: float = 0.0,
) -> RunbookResult:
    """Run the steps in order. A declared delay models detection and decision time *from the
    moment the fault took effect*, so the time the injector spent confirming the fault
    (``elapsed_since_fault``) is taken off the first delay instead of being added to the RTO.

    Each step runs in a daemon thread bounded by its timeout: a step that hangs is recorded as
    timed out, ends the runbook, and is abandoned (it can never keep drillkit from exiting)."""
    completed: list[str] = []
    already = max(0.0, elapsed_since_fault)
    for step in steps:
        if step.delay_seconds > 0:
            remaining = max(0.0, step.delay_seconds - already)
            wait = history.invoke(
                RUNBOOK_PROCESS,
                "delay",
                {"seconds": step.delay_seconds, "before": step.name, "slept": remaining},
            )
            sleep(remaining)
            history.complete(wait, OpType.OK)
        already = 0.0  # only the first step's delay counts from the fault
        if isinstance(step, ReadsHistory):
            step.observe(history)
        invocation = history.invoke(RUNBOOK_PROCESS, step.name)
        attempts = _Attempts(step, sleep)
        outcome = _Outcome.start(attempts, step.name)
        finished = outcome.done.wait(timeout=step.timeout_seconds)
        extra = _attempts_extra(attempts, redact)
        if not finished:
            error = f"timed out after {step.timeout_seconds:g}s"
            history.complete(invocation, OpType.FAIL, error=error, **extra)
            return RunbookResult(completed, step.name, error)
        e = outcome.exception
        if e is not None:
            if not isinstance(e, Exception):
                raise e  # KeyboardInterrupt and the like: not a step failure
            error = redact(f"{type(e).__name__}: {e}".strip())
            history.complete(invocation, OpType.FAIL, error=error, **extra)
            return RunbookResult(
                completed, step.name, error, infrastructure=isinstance(e, InfrastructureError)
            )
        history.complete(invocation, OpType.OK, value=outcome.value, **extra)
        completed.append(step.name)
    return RunbookResult(completed)


def _attempts_extra(attempts: _Attempts, redact: Callable[[str], str]) -> dict[str, Any]:
    """How many attempts a retried step took and why the earlier ones failed (redacted)."""
    if attempts.count <= 1:
        return {}
    return {"attempts": attempts.count, "attempt_errors": [redact(e) for e in attempts.errors]}
