"""Achieved RTO: fault-effective time to the first ok write that begins a stable run."""

from __future__ import annotations

from builders import FAIL, INFO, INVOKE, Script, ms

from drillkit.checkers import Phase, Rto, rto, write_outcomes

WINDOW_S = 0.3


def rto_of(script: Script, fault_ms: float = 100, window_s: float = WINDOW_S) -> Rto:
    ops = script.ops()
    return rto(ops, write_outcomes(ops), ms(fault_ms), window_s)


def test_restoration_is_the_first_ok_write_followed_by_a_clean_observed_window() -> None:
    script = (
        Script()
        .write(1, invoked=0, done=10)
        .fault(requested=100, effective=100)
        .write(2, invoked=150, done=160, outcome=FAIL)
        .write(3, invoked=200, done=700, outcome=INFO)  # deadline passed
        .step("promote", start=300, end=650, value={"promoted": "pg1"})
        .writes([4, 5, 6, 7, 8], start=700)  # ok, done at 710, 810, ..., 1110
    )

    result = rto_of(script)

    assert result.seconds == 0.61  # 710 - 100 ms
    assert result.restored_ns == ms(710)
    assert result.detection_s == 0.06  # write 2 failed at 160
    assert result.observed_s == 1.0  # the last write was invoked at 1100
    assert result.phases == [
        Phase("detection", 0.0, 0.06),
        Phase("runbook:promote", 0.2, 0.55, "ok"),
        Phase("restored", 0.61, 0.61),
    ]


def test_a_flapping_recovery_is_not_restored_until_a_later_stable_ok() -> None:
    script = (
        Script()
        .write(1, invoked=0, done=10)
        .fault(requested=100, effective=100)
        .write(2, invoked=150, done=160, outcome=FAIL)
        .write(3, invoked=200, done=210)  # first ok after the fault ...
        .write(4, invoked=300, done=310)
        .write(5, invoked=400, done=410, outcome=FAIL)  # ... but service flaps inside its window
        .writes([6, 7, 8, 9, 10], start=500)  # stable from 510 on
    )

    result = rto_of(script)

    assert result.restored_ns == ms(510)
    assert result.seconds == 0.41


def test_a_failure_invoked_exactly_at_the_end_of_the_window_is_inside_it() -> None:
    script = (
        Script()
        .fault(requested=100, effective=100)
        .write(1, invoked=200, done=210)  # window ends at 510
        .write(2, invoked=510, done=520, outcome=INFO)
        .writes([3, 4, 5, 6, 7], start=600)  # stable from 610 on
    )

    assert rto_of(script).restored_ns == ms(610)


def test_a_slow_write_invoked_before_the_ok_does_not_break_its_window() -> None:
    script = (
        Script()
        .fault(requested=100, effective=100)
        .write(1, invoked=150, done=650, outcome=INFO, process="writer-1")
        .writes([2, 3, 4, 5, 6], start=200)  # writer-0: ok at 210, 310, ..., 610
    )

    assert rto_of(script).seconds == 0.11


def test_ok_writes_before_the_fault_took_effect_do_not_count() -> None:
    script = (
        Script()
        .fault(requested=100, effective=300)
        .writes([1, 2], start=100)  # acked at 110 and 210, before the fault took effect
        .write(3, invoked=300, done=800, outcome=INFO)
        .writes([4, 5, 6, 7, 8], start=800)
    )

    assert rto_of(script, fault_ms=300).seconds == 0.51


def test_a_window_not_fully_observed_leaves_rto_unknown() -> None:
    script = (
        Script()
        .write(1, invoked=0, done=10)
        .fault(requested=100, effective=100)
        .writes([2, 3, 4, 5, 6, 7, 8], start=150, outcome=FAIL)  # invoked 150 .. 750
        .writes([9, 10], start=850)  # ok at 860 and 960, the last invoked at 950 < 860 + 300
    )

    result = rto_of(script)

    assert result.seconds is None
    assert result.restored_ns is None
    assert result.detection_s == 0.06
    assert result.observed_s == 0.85
    assert result.phases == [Phase("detection", 0.0, 0.06)]  # no "restored" phase


def test_no_write_after_the_fault_leaves_rto_unknown() -> None:
    script = Script().writes([1, 2], start=0).fault(requested=300, effective=300)

    result = rto_of(script, fault_ms=300)

    assert result == Rto(None, None, None, 0.0, [])


def test_an_unfinished_runbook_step_is_an_open_phase() -> None:
    script = (
        Script()
        .fault(requested=100, effective=100)
        .add(200, "runbook", INVOKE, "promote")  # never completed
        .writes([1], start=300, outcome=FAIL)
    )

    phases = rto_of(script).phases

    assert Phase("runbook:promote", 0.1, None, "unfinished") in phases
