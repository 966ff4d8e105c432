"""When the fault took effect, and the final read of surviving ids."""

from __future__ import annotations

import pytest
from builders import FAIL, INFO, INVOKE, OK, Script, ms

from drillkit.checkers import encode_ids, fault_effective_ns, final_read


def test_fault_op_is_recorded_as_process_fault_ok_with_requested_and_effective_times() -> None:
    ops = Script().fault(requested=1000, effective=1150).ops()

    request, done = ops
    assert (request.process, request.type, request.f) == ("fault", INVOKE, "kill")
    assert (done.process, done.type, done.f) == ("fault", OK, "kill")
    assert done.extra["requested_ns"] == ms(1000)
    assert done.extra["effective_ns"] == ms(1150)


def test_without_earlier_evidence_the_fault_took_effect_when_the_injector_saw_it() -> None:
    ops = Script().writes([1, 2], start=900).fault(requested=1000, effective=1150).ops()

    assert fault_effective_ns(ops) == ms(1150)


@pytest.mark.parametrize("outcome", [FAIL, INFO])
def test_a_write_failing_between_request_and_report_is_earlier_evidence(outcome) -> None:
    ops = (
        Script()
        .fault(requested=1000, effective=1150)
        .write(1, invoked=1010, done=1040, outcome=OK)
        .write(2, invoked=1020, done=1060, outcome=outcome)
        .write(3, invoked=1030, done=1080, outcome=FAIL)
        .ops()
    )

    assert fault_effective_ns(ops) == ms(1060)


def test_a_failure_before_the_request_does_not_move_the_fault_earlier() -> None:
    ops = (
        Script()
        .write(1, invoked=900, done=990, outcome=FAIL)
        .fault(requested=1000, effective=1150)
        .ops()
    )

    assert fault_effective_ns(ops) == ms(1150)


def test_a_failure_after_the_injector_report_does_not_move_the_fault_later() -> None:
    ops = (
        Script()
        .fault(requested=1000, effective=1150)
        .write(1, invoked=1100, done=1600, outcome=INFO)
        .ops()
    )

    assert fault_effective_ns(ops) == ms(1150)


def test_a_failure_at_the_request_instant_counts() -> None:
    ops = (
        Script()
        .write(1, invoked=950, done=1000, outcome=FAIL)
        .fault(requested=1000, effective=1150)
        .ops()
    )

    assert fault_effective_ns(ops) == ms(1000)


def test_no_fault_op_means_no_fault_took_effect() -> None:
    assert fault_effective_ns(Script().writes([1, 2, 3], start=0).ops()) is None


def test_a_fault_that_failed_to_inject_did_not_take_effect() -> None:
    ops = (
        Script()
        .add(1000, "fault", INVOKE, "kill")
        .add(1010, "fault", FAIL, "kill", error="docker kill failed")
        .ops()
    )

    assert fault_effective_ns(ops) is None


def test_a_heal_after_a_failed_injection_is_not_a_fault_taking_effect() -> None:
    # What a drill records when `docker kill` raises: the failed kill, then the heal.
    ops = (
        Script()
        .add(1000, "fault", INVOKE, "kill", {"node": "pg-0", "target": "primary"})
        .add(1010, "fault", FAIL, "kill", error="docker kill failed: boom")
        .add(1020, "fault", OK, "heal-kill", {"node": "pg-0"}, note="nothing to undo")
        .ops()
    )

    assert fault_effective_ns(ops) is None


def test_final_read_decodes_the_ids_of_the_ok_final_read() -> None:
    ops = Script().final_read([1, 2, 3, 7], at=5000).ops()

    read = ops[-1]
    assert (read.process, read.f, read.type) == ("final-read", "read", OK)
    assert read.value == encode_ids([1, 2, 3, 7]) == [[1, 3], [7, 7]]
    assert final_read(ops) == [1, 2, 3, 7]


def test_a_failed_or_missing_final_read_is_none() -> None:
    failed = (
        Script()
        .add(5000, "final-read", INVOKE, "read")
        .add(5100, "final-read", FAIL, "read", error="OperationalError: no primary")
        .ops()
    )

    assert final_read(failed) is None
    assert final_read(Script().writes([1], start=0).ops()) is None
