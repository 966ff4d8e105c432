"""Write outcomes and lost writes: only acknowledged writes can be lost."""

from __future__ import annotations

from builders import FAIL, INFO, OK, Script, ms

from drillkit.checkers import decode_ids, encode_ids, lost_writes, write_outcomes


def test_encode_ids_makes_sorted_inclusive_ranges() -> None:
    assert encode_ids([7, 1, 3, 2, 5, 7]) == [[1, 3], [5, 5], [7, 7]]
    assert encode_ids([]) == []


def test_decode_ids_inverts_encode_ids() -> None:
    ids = [1, 2, 3, 10, 11, 40]
    assert decode_ids(encode_ids(ids)) == ids
    assert decode_ids([]) == []


def test_write_outcomes_pairs_invocations_with_completions() -> None:
    ops = (
        Script()
        .write(1, invoked=0, done=10, outcome=OK)
        .write(2, invoked=100, done=600, outcome=INFO)
        .write(3, invoked=200, done=210, outcome=FAIL)
        .write(4, invoked=300, done=None)  # never completed
        .add(400, "final-read", OK, "read", [[1, 4]])  # not a write: ignored
        .ops()
    )

    outcomes = write_outcomes(ops)

    assert outcomes.outcome == {1: OK, 2: INFO, 3: FAIL, 4: INFO}
    assert outcomes.invoked_ns == {1: ms(0), 2: ms(100), 3: ms(200), 4: ms(300)}
    assert outcomes.completed_ns == {1: ms(10), 2: ms(600), 3: ms(210)}
    assert outcomes.acknowledged == {1}


def test_lost_writes_counts_only_acknowledged_writes_missing_from_the_final_read() -> None:
    outcomes = write_outcomes(
        Script()
        .writes([1, 2, 3, 4], start=0, outcome=OK)
        .writes([5, 6], start=400, outcome=INFO)
        .writes([7], start=600, outcome=FAIL)
        .write(8, invoked=700, done=None)
        .ops()
    )

    lost = lost_writes(outcomes, final_ids=[1, 2, 5])

    assert lost.acknowledged == 4
    assert lost.lost == [3, 4]
    assert lost.count == 2
    assert lost.indeterminate == 3  # 5, 6 and the never-completed 8
    assert lost.indeterminate_survived == 1
    assert lost.indeterminate_vanished == 2
    assert lost.failed_but_present == []
    assert lost.never_written == []


def test_lost_writes_reports_ids_that_failed_or_were_never_written() -> None:
    outcomes = write_outcomes(
        Script().writes([1, 2], start=0).writes([3], start=200, outcome=FAIL).ops()
    )

    lost = lost_writes(outcomes, final_ids=[1, 2, 3, 99])

    assert lost.lost == []
    assert lost.failed_but_present == [3]
    assert lost.never_written == [99]
