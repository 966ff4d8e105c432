"""run_runbook: steps in order, each timed, recorded and bounded by its own timeout."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from builders import FAIL, INVOKE, OK, ms

from drillkit.history import History
from drillkit.runbook.engine import RunbookResult, Step, run_runbook
from drillkit.secrets import Secrets


@dataclass
class FakeStep:
    name: str
    action: Callable[[], dict[str, Any]] = dict
    delay_seconds: float = 0.0
    timeout_seconds: float = 5.0
    calls: int = 0

    def run(self) -> dict[str, Any]:
        self.calls += 1
        return self.action()


def raises(error: Exception) -> Callable[[], dict[str, Any]]:
    def action() -> dict[str, Any]:
        raise error

    return action


@pytest.fixture
def history() -> History:
    ticks = itertools.count(0, ms(10))
    return History(clock=lambda: next(ticks))


@pytest.fixture
def sleeps() -> list[float]:
    return []


def run(steps: list[FakeStep], history: History, sleeps: list[float], **kw: Any) -> RunbookResult:
    return run_runbook(steps, history, sleep=sleeps.append, **kw)


def trace(history: History) -> list[tuple[str, str, Any, str | None]]:
    assert all(op.process == "runbook" for op in history)
    return [(op.type.value, op.f, op.value, op.error) for op in history]


def test_a_fake_step_satisfies_the_step_protocol() -> None:
    assert isinstance(FakeStep("promote"), Step)


def test_each_step_is_recorded_as_invoke_then_ok_with_its_value(history, sleeps) -> None:
    steps = [
        FakeStep("promote", lambda: {"promoted": "pg1", "lsn": "0/3000060"}),
        FakeStep("check", lambda: {"writable": True}, delay_seconds=1.5),
    ]

    result = run(steps, history, sleeps)

    assert result == RunbookResult(completed=["promote", "check"])
    assert result.ok
    assert trace(history) == [
        ("invoke", "promote", None, None),
        ("ok", "promote", {"promoted": "pg1", "lsn": "0/3000060"}, None),
        ("invoke", "delay", {"seconds": 1.5, "before": "check", "slept": 1.5}, None),
        ("ok", "delay", {"seconds": 1.5, "before": "check", "slept": 1.5}, None),
        ("invoke", "check", None, None),
        ("ok", "check", {"writable": True}, None),
    ]
    assert sleeps == [1.5]


def test_a_delay_is_timed_by_the_injected_sleep_not_the_wall_clock(history, sleeps) -> None:
    started = time.monotonic()

    run([FakeStep("promote", delay_seconds=3600)], history, sleeps)

    assert sleeps == [3600]
    assert time.monotonic() - started < 1.0


def test_the_first_delay_counts_from_the_fault_not_from_the_injector(history, sleeps) -> None:
    """The injector confirmed the fault 0.2 s after it took effect: a declared 1 s detection
    delay then leaves 0.8 s to sleep, and later delays are slept in full."""
    run(
        [FakeStep("a", delay_seconds=1.0), FakeStep("b", delay_seconds=0.5)],
        history,
        sleeps,
        elapsed_since_fault=0.2,
    )

    assert sleeps == [pytest.approx(0.8), 0.5]
    delays = [op.value for op in history if op.f == "delay" and op.type.value == "invoke"]
    assert delays[0] == {"seconds": 1.0, "before": "a", "slept": pytest.approx(0.8)}


def test_a_fault_confirmed_after_the_delay_leaves_nothing_to_sleep(history, sleeps) -> None:
    run([FakeStep("a", delay_seconds=0.1)], history, sleeps, elapsed_since_fault=0.3)

    assert sleeps == [0.0]


def test_a_raising_step_ends_the_runbook(history, sleeps) -> None:
    later = FakeStep("check")
    steps = [
        FakeStep("fence"),
        FakeStep("promote", raises(RuntimeError("pg_promote() returned false"))),
        later,
    ]

    result = run(steps, history, sleeps)

    assert result == RunbookResult(
        completed=["fence"],
        failed_step="promote",
        error="RuntimeError: pg_promote() returned false",
    )
    assert not result.ok
    assert later.calls == 0
    assert [(op.type, op.f) for op in history] == [
        (INVOKE, "fence"),
        (OK, "fence"),
        (INVOKE, "promote"),
        (FAIL, "promote"),
    ]
    assert history.ops()[-1].error == "RuntimeError: pg_promote() returned false"


def test_errors_are_redacted(history, sleeps) -> None:
    secrets = Secrets({"postgres": "hunter2-xyz"})
    step = FakeStep(
        "promote", raises(ConnectionError("password hunter2-xyz rejected for postgres@pg1"))
    )

    result = run([step], history, sleeps, redact=secrets.redact)

    assert result.error == "ConnectionError: password *** rejected for postgres@pg1"
    assert history.ops()[-1].error == result.error


@pytest.fixture
def release() -> Iterator[threading.Event]:
    """Blocks a slow step until the test ends, so no thread outlives it."""
    event = threading.Event()
    yield event
    event.set()


def test_a_slow_step_times_out_and_ends_the_runbook(history, sleeps, release) -> None:
    def hang() -> dict[str, Any]:
        release.wait(10)
        return {}

    later = FakeStep("check")
    started = time.monotonic()

    result = run([FakeStep("promote", hang, timeout_seconds=0.05), later], history, sleeps)

    assert time.monotonic() - started < 1.0
    assert result == RunbookResult([], failed_step="promote", error="timed out after 0.05s")
    assert later.calls == 0
    assert trace(history) == [
        ("invoke", "promote", None, None),
        ("fail", "promote", None, "timed out after 0.05s"),
    ]


def test_a_step_raising_timeout_error_is_reported_as_its_own_error(history, sleeps) -> None:
    step = FakeStep("promote", raises(TimeoutError("connect to pg1:5432 timed out")))

    result = run([step], history, sleeps)

    # actual: "timed out after 5s", although the step returned at once
    assert result.error == "TimeoutError: connect to pg1:5432 timed out"
