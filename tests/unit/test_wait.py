"""drillkit.wait: the one polling helper, in fake time (nothing here really sleeps)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from drillkit.wait import WaitTimeout, is_none, wait_until


class FakeTime:
    """A clock that moves only when slept on (or when an attempt says it took time)."""

    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def _wait(t: FakeTime, attempt: Callable[[], object], **kw: object) -> object:
    return wait_until(attempt, clock=t.clock, sleep=t.sleep, **kw)  # type: ignore[arg-type]


def test_returns_the_first_good_result_without_sleeping() -> None:
    t = FakeTime()
    assert _wait(t, lambda: "ready", timeout=5, interval=1) == "ready"
    assert t.sleeps == []


def test_polls_at_the_interval_until_the_predicate_holds() -> None:
    t = FakeTime()
    answers = iter([0, 0, 0, 7])
    assert _wait(t, lambda: next(answers), timeout=5, interval=0.5) == 7
    assert t.sleeps == [0.5, 0.5, 0.5]


def test_times_out_with_the_last_value_and_never_past_the_deadline() -> None:
    t = FakeTime()
    calls: list[float] = []

    def problem() -> str:
        calls.append(t.now)
        return f"problem at {t.now - 100:g}"

    with pytest.raises(WaitTimeout) as caught:
        _wait(t, problem, until=is_none, timeout=1, interval=0.4)
    assert [c - 100 for c in calls] == pytest.approx([0, 0.4, 0.8, 1.0])  # last at the deadline
    assert caught.value.last_value == "problem at 1"
    assert caught.value.last_error is None
    assert isinstance(caught.value, TimeoutError)
    assert t.now - 100 == pytest.approx(1.0)


def test_ignored_exceptions_mean_not_yet() -> None:
    t = FakeTime()
    results: list[object] = [ConnectionError("refused"), ConnectionError("refused"), "rows"]

    def attempt() -> object:
        r = results.pop(0)
        if isinstance(r, Exception):
            raise r
        return r

    assert (
        _wait(t, attempt, ignore=(ConnectionError,), until=lambda _r: True, timeout=5, interval=0.1)
        == "rows"
    )
    assert t.sleeps == pytest.approx([0.1, 0.1])


def test_timeout_after_exceptions_carries_the_last_error() -> None:
    t = FakeTime()

    def attempt() -> None:
        raise ConnectionError(f"refused at {t.now - 100:g}")

    with pytest.raises(WaitTimeout) as caught:
        _wait(t, attempt, ignore=(ConnectionError,), timeout=0.25, interval=0.1)
    assert str(caught.value.last_error) == "refused at 0.25"
    assert caught.value.last_value is None


def test_other_exceptions_propagate_at_once() -> None:
    t = FakeTime()

    def attempt() -> None:
        raise RuntimeError("the node exited")

    with pytest.raises(RuntimeError, match="the node exited"):
        _wait(t, attempt, ignore=(ConnectionError,), timeout=5, interval=0.1)
    assert t.sleeps == []


def test_slow_attempts_count_against_the_timeout() -> None:
    t = FakeTime()
    calls = 0

    def slow() -> bool:
        nonlocal calls
        calls += 1
        t.now += 0.3  # the attempt itself takes 0.3 s
        return False

    with pytest.raises(WaitTimeout):
        _wait(t, slow, timeout=1, interval=0.5)
    assert calls == 2  # at 0 (until 0.3) and 0.8 (until 1.1, past the deadline: done)
    assert t.sleeps == pytest.approx([0.5])


def test_the_last_sleep_is_cut_to_the_deadline() -> None:
    t = FakeTime()
    with pytest.raises(WaitTimeout):
        _wait(t, lambda: False, timeout=1, interval=0.7)
    assert t.sleeps == pytest.approx([0.7, 0.3])


def test_a_zero_timeout_tries_once() -> None:
    t = FakeTime()
    with pytest.raises(WaitTimeout):
        _wait(t, lambda: False, timeout=0, interval=1)
    assert t.sleeps == []
