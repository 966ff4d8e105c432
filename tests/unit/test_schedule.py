"""Fault schedule arithmetic and the Nemesis, with fake faults and no real containers."""

from __future__ import annotations

from typing import Any

import pytest

from drillkit.faults.nemesis import Nemesis
from drillkit.faults.schedule import Event, plan
from drillkit.history import History, OpType
from drillkit.spec.faults import KillFault, PauseFault, Repeat


def test_plan_single_fault_without_duration_has_no_heal_event() -> None:
    assert plan([KillFault(kind="kill", at=2.0)]) == [Event(2.0, 1, 0, 0, "inject")]


def test_plan_overlapping_faults_sorted_with_heals_first_at_equal_times() -> None:
    events = plan(
        [
            PauseFault(kind="pause", at=0.0, duration=3.0),
            KillFault(kind="kill", at=3.0),
            PauseFault(kind="pause", target="replica", at=1.0, duration=5.0),
        ]
    )
    assert [(e.at, e.action, e.entry) for e in events] == [
        (0.0, "inject", 0),
        (1.0, "inject", 2),
        (3.0, "heal", 0),  # the heal due at 3 s comes before the injection due at 3 s
        (3.0, "inject", 1),
        (6.0, "heal", 2),
    ]


def test_plan_repeat_expands_into_separate_instances() -> None:
    events = plan(
        [PauseFault(kind="pause", at=1.0, duration=0.5, repeat=Repeat(every=2.0, times=3))]
    )
    assert [(e.at, e.action, e.slot) for e in events] == [
        (1.0, "inject", 0),
        (1.5, "heal", 0),
        (3.0, "inject", 1),
        (3.5, "heal", 1),
        (5.0, "inject", 2),
        (5.5, "heal", 2),
    ]


def test_repeat_needs_a_duration_shorter_than_its_interval() -> None:
    with pytest.raises(ValueError, match="needs a duration"):
        PauseFault(kind="pause", repeat=Repeat(every=2.0, times=3))
    with pytest.raises(ValueError, match=r"shorter than repeat\.every"):
        PauseFault(kind="pause", duration=2.0, repeat=Repeat(every=2.0, times=3))


class FakeFault:
    def __init__(self, spec: Any, log: list[str], fail: bool = False) -> None:
        self.kind = spec.kind
        self.spec = spec
        self.log = log
        self.fail = fail
        self.injected = False

    def inject(self, topology: Any, history: History) -> None:
        if self.fail:
            raise RuntimeError("cannot inject")
        self.injected = True
        self.log.append(f"inject {self.kind} {self.spec.target}")

    def heal(self, topology: Any, history: History) -> None:
        if self.injected:
            self.injected = False
            self.log.append(f"heal {self.kind} {self.spec.target}")


class FakeClock:
    """Monotonic nanoseconds that advance only when the nemesis waits, so tests never sleep."""

    def __init__(self) -> None:
        self.now = 0

    def __call__(self) -> int:
        return self.now


def _run(specs: list[Any], log: list[str], **kw: Any) -> Nemesis:
    clock = FakeClock()
    nemesis = Nemesis(
        specs,
        topology=None,  # type: ignore[arg-type]
        history=History(clock=clock),
        make_fault=lambda s: FakeFault(s, log, **kw),
        clock=clock,
        spawn=lambda work: work(),  # actions run inline: deterministic fake time
        expected_latency=lambda _kind: 0.0,
    )

    def fake_wait(timeout: float | None = None) -> bool:
        clock.now += round((timeout or 0.0) * 1e9)
        return False

    nemesis._wake.wait = fake_wait  # type: ignore[method-assign]
    nemesis.start()
    assert nemesis.wait(5)
    return nemesis


def test_nemesis_runs_the_plan_in_order_and_heal_all_heals_what_is_left() -> None:
    log: list[str] = []
    nemesis = _run(
        [
            PauseFault(kind="pause", target="replica", at=0.0, duration=1.0),
            KillFault(kind="kill", at=2.0),
        ],
        log,
    )
    assert log == ["inject pause replica", "heal pause replica", "inject kill primary"]
    nemesis.heal_all()
    assert log[-1] == "heal kill primary"
    nemesis.heal_all()  # twice is harmless
    assert len(log) == 4


def test_a_failed_injection_is_reported_recorded_and_does_not_stop_the_schedule() -> None:
    log: list[str] = []
    nemesis = _run([KillFault(kind="kill"), KillFault(kind="kill", at=1.0)], log, fail=True)
    assert len(nemesis.errors) == 2
    assert nemesis.first_effect.is_set()
    assert nemesis.effect_event(0).is_set() and nemesis.effect_event(1).is_set()
    failed = [op for op in nemesis.history.ops() if op.type is OpType.FAIL]
    assert [op.extra["fault_entry"] for op in failed] == [0, 1]


def test_heal_all_before_anything_ran_is_safe() -> None:
    nemesis = Nemesis(
        [KillFault(kind="kill", at=100.0)],
        topology=None,  # type: ignore[arg-type]
        history=History(),
        make_fault=lambda s: FakeFault(s, []),
    )
    nemesis.heal_all()
    assert nemesis.active == {}


def test_failing_heal_is_recorded_and_others_still_heal() -> None:
    history = History()
    log: list[str] = []

    class BadHeal(FakeFault):
        def heal(self, topology: Any, history: History) -> None:
            raise RuntimeError("stuck")

    faults = iter([BadHeal(KillFault(kind="kill"), log), FakeFault(PauseFault(kind="pause"), log)])
    nemesis = Nemesis(
        [KillFault(kind="kill"), PauseFault(kind="pause", target="replica")],
        None,  # type: ignore[arg-type]
        history,
        make_fault=lambda s: next(faults),
    )
    nemesis.start()
    nemesis.wait(5)
    nemesis.heal_all()
    assert "heal pause primary" in log
    failed = [op for op in history.ops() if op.type is OpType.FAIL and op.f == "heal-kill"]
    assert len(failed) == 1 and failed[0].error == "stuck"
    assert failed[0].extra["fault_entry"] == 0
