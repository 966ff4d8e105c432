"""Achieved RPO from lost writes: fault-effective time minus the ack of the earliest lost write."""

from __future__ import annotations

from builders import FAIL, INFO, Script

from drillkit.checkers import (
    Rpo,
    fault_effective_ns,
    final_read,
    lost_writes,
    rpo,
    write_outcomes,
)


def rpo_of(script: Script) -> Rpo:
    ops = script.ops()
    outcomes = write_outcomes(ops)
    final = final_read(ops)
    fault = fault_effective_ns(ops)
    assert final is not None and fault is not None
    return rpo(outcomes, lost_writes(outcomes, final), fault)


def test_no_lost_write_means_rpo_zero() -> None:
    script = (
        Script()
        .writes([1, 2, 3, 4, 5], start=0)  # acked at 10, 110, ..., 410
        .fault(requested=450, effective=500)
        .final_read([1, 2, 3, 4, 5], at=1000)
    )

    assert rpo_of(script) == Rpo(0.0, None, None, 0)


def test_writes_lost_before_the_fault_reach_back_to_the_earliest_lost_ack() -> None:
    script = (
        Script()
        .writes([1, 2, 3, 4, 5], start=0)  # acked at 10, 110, 210, 310, 410
        .fault(requested=450, effective=500)
        .final_read([1, 2, 3], at=1000)  # 4 and 5 were only on the old primary
    )

    assert rpo_of(script) == Rpo(
        seconds=0.19,  # 500 - 310 ms
        lost_window_start_s=-0.19,
        lost_window_end_s=-0.09,
        lost_after_fault=0,
    )


def test_writes_lost_after_the_fault_are_counted_and_rpo_is_never_negative() -> None:
    # Split brain: the deposed primary kept acknowledging writes after the fault took effect.
    script = (
        Script()
        .writes([1, 2], start=0)  # acked at 10, 110
        .fault(requested=200, effective=250)
        .writes([3, 4], start=300)  # acked at 310, 410, then lost
        .final_read([1, 2], at=1000)
    )

    assert rpo_of(script) == Rpo(
        seconds=0.0,
        lost_window_start_s=0.06,
        lost_window_end_s=0.16,
        lost_after_fault=2,
    )


def test_losses_on_both_sides_of_the_fault() -> None:
    script = (
        Script()
        .writes([1, 2], start=0)  # acked at 10, 110
        .fault(requested=200, effective=250)
        .writes([3], start=300)  # acked at 310
        .final_read([1], at=1000)
    )

    assert rpo_of(script) == Rpo(0.14, -0.14, 0.06, 1)


def test_unknown_and_failed_writes_that_vanish_do_not_count() -> None:
    script = (
        Script()
        .writes([1, 2], start=0)
        .fault(requested=200, effective=250)
        .writes([3, 4], start=300, outcome=INFO)
        .writes([5], start=500, outcome=FAIL)
        .final_read([1, 2], at=1000)
    )

    assert rpo_of(script) == Rpo(0.0, None, None, 0)
