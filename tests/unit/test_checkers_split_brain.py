"""A deposed primary that keeps acknowledging writes: those writes are lost, and they do not
count as service for RTO (only writes that survived show that service was back)."""

from __future__ import annotations

from builders import FAIL, Script

from drillkit.checkers import analyze
from drillkit.spec import Targets

TARGETS = Targets(rto_seconds=10.0, max_lost_writes=100)


def partition() -> Script:
    """Writes 1-5 before the partition at 500 ms; the isolated primary acknowledges 6-10
    (500..900 ms), then is demoted; writes 11-14 fail while no one leads; from 2000 ms the new
    leader acknowledges 15-20. The final read holds 1-5 and 15-20: 6-10 were thrown away."""
    return (
        Script()
        .writes(range(1, 6), start=0)
        .fault(requested=490, effective=500, f="isolate")
        .writes(range(6, 11), start=510)
        .writes(range(11, 15), start=1010, every=200, outcome=FAIL)
        .writes(range(15, 21), start=2000)
        .final_read([*range(1, 6), *range(15, 21)], at=2700)
    )


def test_acknowledgements_of_a_deposed_primary_are_lost_and_not_a_recovery() -> None:
    analysis = analyze(partition().ops(), TARGETS, stable_window_s=0.3)

    assert analysis.lost is not None and analysis.lost.lost == [6, 7, 8, 9, 10]
    assert analysis.rpo is not None and analysis.rpo.lost_after_fault == 5
    assert analysis.rto is not None
    assert analysis.rto.seconds == 1.51  # the new leader's first ack (2010 ms), not 520 ms


def test_without_a_final_read_acknowledgements_still_count() -> None:
    ops = [op for op in partition().ops() if op.process != "final-read"]

    analysis = analyze(ops, TARGETS, stable_window_s=0.3)

    assert analysis.rto is not None and analysis.rto.seconds == 0.02  # nothing known to be lost
