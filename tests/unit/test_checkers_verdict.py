"""Verdicts: one check per declared target; merged, fail beats unknown beats pass."""

from __future__ import annotations

import pytest

from drillkit.checkers import Check, Verdict, merge
from drillkit.checkers.verdict import Measured, judge
from drillkit.spec import Targets

PASS, FAIL, UNKNOWN = Verdict.PASS, Verdict.FAIL, Verdict.UNKNOWN


@pytest.mark.parametrize(
    ("verdicts", "merged"),
    [
        ([], UNKNOWN),
        ([PASS], PASS),
        ([PASS, PASS], PASS),
        ([PASS, UNKNOWN, PASS], UNKNOWN),
        ([UNKNOWN, FAIL, PASS], FAIL),
        ([FAIL, UNKNOWN], FAIL),
    ],
)
def test_merge_takes_the_worst(verdicts: list[Verdict], merged: Verdict) -> None:
    assert merge(verdicts) is merged
    assert merge(iter(verdicts)) is merged


def test_judge_checks_each_declared_target_in_order() -> None:
    targets = Targets(rpo_seconds=1, rto_seconds=10, max_lost_writes=5)

    checks = judge(targets, Measured(rpo_seconds=0.5, rto_seconds=12.0, lost_writes=5))

    assert checks == [
        Check("rpo_seconds", 1, 0.5, PASS, "0.5s <= 1s"),
        Check("max_lost_writes", 5, 5, PASS, "5 <= 5"),
        Check("rto_seconds", 10, 12.0, FAIL, "12s > target 10s"),
    ]


def test_a_target_left_out_is_not_judged() -> None:
    checks = judge(Targets(rto_seconds=10), Measured(rpo_seconds=99, rto_seconds=3, lost_writes=9))

    assert [c.name for c in checks] == ["rto_seconds"]
    assert checks[0].verdict is PASS


def test_what_could_not_be_measured_is_unknown() -> None:
    checks = judge(
        Targets(rpo_seconds=1, max_lost_writes=0),
        Measured(rpo_seconds=None, rto_seconds=None, lost_writes=None),
    )

    assert checks == [
        Check("rpo_seconds", 1, None, UNKNOWN, "rpo_seconds could not be measured"),
        Check("max_lost_writes", 0, None, UNKNOWN, "max_lost_writes could not be measured"),
    ]


def test_rto_not_measured_is_unknown_while_observation_is_within_the_target() -> None:
    [check] = judge(
        Targets(rto_seconds=10),
        Measured(rpo_seconds=None, rto_seconds=None, lost_writes=None, observed_after_fault_s=10),
    )

    assert check.verdict is UNKNOWN


def test_rto_not_measured_fails_once_observation_outlasts_the_target() -> None:
    [check] = judge(
        Targets(rto_seconds=10),
        Measured(rpo_seconds=None, rto_seconds=None, lost_writes=None, observed_after_fault_s=12.3),
    )

    assert check == Check(
        "rto_seconds",
        10,
        None,
        FAIL,
        "service not stably restored in the 12.3s observed after the fault (target 10s)",
    )
