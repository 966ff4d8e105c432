"""Pacer: writes spaced at ``rate`` per second, no catch-up burst after a stall."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest

from drillkit.workload import base
from drillkit.workload.base import Pacer


class FakeTime:
    """A clock that only moves when the pacer sleeps or the test says so."""

    def __init__(self, now: float = 100.0) -> None:
        self.now = now
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeTime:
    fake = FakeTime()
    monkeypatch.setattr(base, "asyncio", SimpleNamespace(sleep=fake.sleep))
    return fake


def issue(pacer: Pacer, clock: FakeTime, n: int) -> list[float]:
    """The times at which ``n`` back-to-back writes are let through."""

    async def run() -> list[float]:
        times = []
        for _ in range(n):
            await pacer.wait()
            times.append(clock.now)
        return times

    return asyncio.run(run())


def test_writes_are_spaced_at_the_rate(clock: FakeTime) -> None:
    pacer = Pacer(4, clock=clock.monotonic)

    assert issue(pacer, clock, 4) == [100.0, 100.25, 100.5, 100.75]
    assert clock.sleeps == [0.25, 0.25, 0.25]


def test_time_spent_writing_counts_toward_the_interval(clock: FakeTime) -> None:
    pacer = Pacer(4, clock=clock.monotonic)
    issue(pacer, clock, 1)
    clock.now += 0.1  # the write took 100 ms

    issue(pacer, clock, 1)

    assert clock.sleeps == [pytest.approx(0.15)]


def test_after_a_stall_the_schedule_restarts_without_a_burst(clock: FakeTime) -> None:
    pacer = Pacer(4, clock=clock.monotonic)
    issue(pacer, clock, 2)  # at 100.0 and 100.25
    clock.now = 110.0  # a write hung for ~10 s: 39 slots were missed
    clock.sleeps.clear()

    assert issue(pacer, clock, 3) == [110.0, 110.25, 110.5]
    assert clock.sleeps == [0.25, 0.25]


def test_rate_zero_does_not_pace(clock: FakeTime) -> None:
    pacer = Pacer(0, clock=clock.monotonic)

    assert issue(pacer, clock, 3) == [100.0, 100.0, 100.0]
    assert clock.sleeps == [0, 0, 0]  # only yields to the event loop
    assert pacer.interval == 0.0
