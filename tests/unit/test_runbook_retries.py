"""run_runbook: retries within a step's timeout, and steps that read the history."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

import pytest
from builders import ms

from drillkit.history import History, OpType
from drillkit.runbook.engine import ReadsHistory, Retries, run_runbook


@dataclass
class Flaky:
    """Fails ``failures`` times, then returns ``{"attempt": n}``."""

    failures: int
    retries: int = 0
    retry_wait_seconds: float = 0.5
    name: str = "promote"
    delay_seconds: float = 0.0
    timeout_seconds: float = 5.0
    calls: int = 0

    def run(self) -> dict[str, Any]:
        self.calls += 1
        if self.calls <= self.failures:
            raise ConnectionError(f"attempt {self.calls}: no primary yet")
        return {"attempt": self.calls}


@dataclass
class Historian:
    name: str = "restore"
    delay_seconds: float = 0.0
    timeout_seconds: float = 5.0
    seen: list[str] = field(default_factory=list)

    def observe(self, history: History) -> None:
        self.seen = [op.f for op in history]

    def run(self) -> dict[str, Any]:
        return {"saw": self.seen}


@pytest.fixture
def history() -> History:
    ticks = itertools.count(0, ms(10))
    return History(clock=lambda: next(ticks))


def test_optional_abilities_are_protocols() -> None:
    assert isinstance(Flaky(0), Retries)
    assert isinstance(Historian(), ReadsHistory)
    assert not isinstance(Historian(), Retries)


def test_a_step_without_retries_is_attempted_once(history: History) -> None:
    step = Flaky(failures=1)

    result = run_runbook([step], history, sleep=lambda _s: None)

    assert result.failed_step == "promote"
    assert step.calls == 1
    assert "attempts" not in history.ops()[-1].extra


def test_retries_record_each_failed_attempt(history: History) -> None:
    step = Flaky(failures=2, retries=3)
    slept: list[float] = []

    result = run_runbook([step], history, sleep=slept.append)

    assert result.ok
    done = history.ops()[-1]
    assert (done.type, done.value) == (OpType.OK, {"attempt": 3})
    assert done.extra == {
        "attempts": 3,
        "attempt_errors": [
            "ConnectionError: attempt 1: no primary yet",
            "ConnectionError: attempt 2: no primary yet",
        ],
    }
    assert slept == [0.5, 0.5]


def test_the_last_error_is_the_step_error(history: History) -> None:
    result = run_runbook([Flaky(failures=9, retries=1)], history, sleep=lambda _s: None)

    assert result.error == "ConnectionError: attempt 2: no primary yet"


def test_a_step_that_reads_the_history_sees_what_happened_before_it(history: History) -> None:
    history.append("fault", OpType.OK, "drop-table")

    run_runbook([Historian()], history, sleep=lambda _s: None)

    assert history.ops()[-1].value == {"saw": ["drop-table"]}
