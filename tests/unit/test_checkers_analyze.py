"""analyze(): a whole failover history judged against its targets."""

from __future__ import annotations

from typing import Any

from builders import FAIL, OK, SURVIVORS, Script, failover

from drillkit.checkers import Check, Verdict, analyze
from drillkit.checkers.analysis import CHECKERS, LostWritesChecker, RtoChecker
from drillkit.spec import Targets

TARGETS = Targets(rpo_seconds=0.5, rto_seconds=1.0, max_lost_writes=0)
WINDOW_S = 0.3


def test_no_loss_passes_every_target() -> None:
    ops = failover().final_read(SURVIVORS, at=1600).ops()

    analysis = analyze(ops, TARGETS, WINDOW_S)

    assert analysis.verdict is Verdict.PASS
    assert analysis.fault_ns == 500_000_000
    assert analysis.lost is not None and analysis.lost.count == 0
    assert analysis.lost.acknowledged == 11
    assert (analysis.lost.indeterminate, analysis.lost.indeterminate_vanished) == (1, 1)
    assert analysis.rpo is not None and analysis.rpo.seconds == 0.0
    assert analysis.rto is not None and analysis.rto.seconds == 0.51
    assert analysis.rto.detection_s == 0.46
    assert analysis.checks == [
        Check("rpo_seconds", 0.5, 0.0, Verdict.PASS, "0s <= 0.5s"),
        Check("max_lost_writes", 0, 0, Verdict.PASS, "0 <= 0"),
        Check("rto_seconds", 1.0, 0.51, Verdict.PASS, "0.51s <= 1s"),
    ]
    assert analysis.notes == []


def test_writes_lost_before_the_fault_fail_max_lost_writes() -> None:
    ops = failover().final_read([1, 2, 3, *range(7, 13)], at=1600).ops()

    analysis = analyze(ops, TARGETS, WINDOW_S)

    assert analysis.verdict is Verdict.FAIL
    assert analysis.lost is not None and analysis.lost.lost == [4, 5]
    assert analysis.rpo is not None
    assert analysis.rpo.seconds == 0.19  # fault at 500 - ack of write 4 at 310
    assert (analysis.rpo.lost_window_start_s, analysis.rpo.lost_window_end_s) == (-0.19, -0.09)
    assert analysis.rpo.lost_after_fault == 0
    assert [c.verdict for c in analysis.checks] == [Verdict.PASS, Verdict.FAIL, Verdict.PASS]
    assert analysis.measured.lost_writes == 2
    assert analysis.measured.rpo_seconds == 0.19


def test_writes_acked_by_the_deposed_primary_are_lost_after_the_fault() -> None:
    ops = (
        failover()
        .write(13, invoked=600, done=610, process="writer-1")  # old primary still answering
        .write(14, invoked=700, done=710, process="writer-1")
        .final_read(SURVIVORS, at=1600)
        .ops()
    )

    analysis = analyze(ops, TARGETS, WINDOW_S)

    assert analysis.lost is not None and analysis.lost.lost == [13, 14]
    assert analysis.rpo is not None
    assert analysis.rpo.seconds == 0.0
    assert analysis.rpo.lost_after_fault == 2
    assert (analysis.rpo.lost_window_start_s, analysis.rpo.lost_window_end_s) == (0.11, 0.21)
    assert analysis.verdict is Verdict.FAIL  # max_lost_writes 0


def test_unknown_writes_are_never_lost_whether_they_survive_or_vanish() -> None:
    ops = (
        failover()
        .write(13, invoked=470, done=None, process="writer-1")  # never answered
        .final_read([*SURVIVORS, 6], at=1600)  # 6 survived, 13 vanished
        .ops()
    )

    analysis = analyze(ops, TARGETS, WINDOW_S)

    assert analysis.verdict is Verdict.PASS
    assert analysis.lost is not None
    assert analysis.lost.count == 0
    assert analysis.lost.indeterminate == 2
    assert analysis.lost.indeterminate_survived == 1
    assert analysis.lost.indeterminate_vanished == 1


def test_missing_final_read_leaves_lost_writes_and_rpo_unknown() -> None:
    analysis = analyze(failover().ops(), TARGETS, WINDOW_S)

    assert analysis.verdict is Verdict.UNKNOWN
    assert analysis.lost is None
    assert analysis.rpo is None
    assert analysis.rto is not None and analysis.rto.seconds == 0.51
    assert analysis.notes == ["no final read of surviving writes: lost writes and RPO unknown"]
    assert [c.verdict for c in analysis.checks] == [Verdict.UNKNOWN, Verdict.UNKNOWN, Verdict.PASS]


def test_ids_present_that_were_never_written_make_the_verdict_unknown() -> None:
    ops = failover().final_read([*SURVIVORS, 99], at=1600).ops()

    analysis = analyze(ops, TARGETS, WINDOW_S)

    assert analysis.verdict is Verdict.UNKNOWN
    assert all(c.verdict is Verdict.PASS for c in analysis.checks)
    assert analysis.notes == [
        "history inconsistent with the final read: ids present that were never written (1) "
        "or that the client saw fail (0)"
    ]


def test_ids_present_that_the_client_saw_fail_make_the_verdict_unknown() -> None:
    ops = (
        failover()
        .write(13, invoked=470, done=480, outcome=FAIL, process="writer-1")
        .final_read([*SURVIVORS, 13], at=1600)
        .ops()
    )

    analysis = analyze(ops, TARGETS, WINDOW_S)

    assert analysis.verdict is Verdict.UNKNOWN
    assert analysis.lost is not None and analysis.lost.failed_but_present == [13]
    assert "that the client saw fail (1)" in analysis.notes[0]


def test_an_inconsistent_history_does_not_hide_a_failed_target() -> None:
    ops = failover().final_read([1, 2, 3, *range(7, 13), 99], at=1600).ops()

    assert analyze(ops, TARGETS, WINDOW_S).verdict is Verdict.FAIL


def test_no_fault_op_is_unknown() -> None:
    ops = Script().writes(range(1, 11), start=0).final_read(range(1, 11), at=1200).ops()

    analysis = analyze(ops, TARGETS, WINDOW_S)

    assert analysis.verdict is Verdict.UNKNOWN
    assert analysis.fault_ns is None
    assert analysis.rpo is None and analysis.rto is None
    assert analysis.lost is not None and analysis.lost.count == 0
    assert analysis.notes == ["no fault took effect: nothing to measure"]


def unrecovered() -> Script:
    """Fault at 100 ms; writes fail until 750; ok at 860 and 960 but the window is not seen."""
    return (
        Script()
        .write(1, invoked=0, done=10)
        .fault(requested=100, effective=100)
        .writes(range(2, 9), start=150, outcome=FAIL)
        .writes([9, 10], start=850)
        .final_read(range(1, 11), at=1000)  # the last write was invoked at 950: observed 0.85 s
    )


def test_recovery_not_confirmed_within_the_observed_time_is_unknown() -> None:
    analysis = analyze(unrecovered().ops(), Targets(rto_seconds=2), WINDOW_S)

    assert analysis.rto is not None and analysis.rto.seconds is None
    assert analysis.rto.observed_s == 0.85
    assert analysis.verdict is Verdict.UNKNOWN


def test_recovery_not_confirmed_when_observed_beyond_the_target_fails() -> None:
    analysis = analyze(unrecovered().ops(), Targets(rto_seconds=0.5), WINDOW_S)

    assert analysis.verdict is Verdict.FAIL
    assert analysis.checks[0].reason == (
        "service not stably restored in the 0.8s observed after the fault (target 0.5s)"
    )


def test_recovery_that_may_have_happened_within_the_target_is_not_a_fail() -> None:
    ops = (
        Script()
        .fault(requested=100, effective=100)
        .writes([1, 2, 3], start=150, outcome=FAIL)  # invoked 150, 250, 350
        .writes([4, 5, 6], start=450)  # ok at 460, 560, 660: up 0.36 s after the fault
        .ops()  # the history ends at 660, before 460 + 300 ms: the window is not observed
    )

    analysis = analyze(ops, Targets(rto_seconds=0.5), WINDOW_S)

    assert analysis.rto is not None and analysis.rto.seconds is None
    assert analysis.rto.observed_s == 0.55
    assert analysis.verdict is Verdict.UNKNOWN


def _crashing(kind: type, error: Exception) -> tuple[Any, ...]:
    """The standard checkers with ``kind`` replaced by one that raises ``error``."""

    class Crashing(kind):  # type: ignore[misc, valid-type]
        def check(self, inputs: Any, analysis: Any) -> None:
            raise error

    return tuple(Crashing() if isinstance(c, kind) else c for c in CHECKERS)


def test_a_crashing_rto_checker_gives_unknown_never_pass() -> None:
    ops = failover().final_read(SURVIVORS, at=1600).ops()

    analysis = analyze(ops, TARGETS, WINDOW_S, _crashing(RtoChecker, ZeroDivisionError("boom")))

    assert analysis.verdict is Verdict.UNKNOWN
    assert analysis.rto is None
    assert analysis.notes[0].startswith("RTO checker crashed:")
    assert "ZeroDivisionError: boom" in analysis.notes[0]
    assert analysis.rpo is not None and analysis.rpo.seconds == 0.0


def test_a_crashing_lost_write_checker_gives_unknown_never_pass() -> None:
    ops = failover().final_read(SURVIVORS, at=1600).ops()

    analysis = analyze(ops, TARGETS, WINDOW_S, _crashing(LostWritesChecker, KeyError(42)))

    assert analysis.verdict is Verdict.UNKNOWN
    assert analysis.lost is None and analysis.rpo is None
    assert analysis.notes[0].startswith("lost-write/RPO checker crashed:")


def test_a_malformed_final_read_gives_unknown_never_a_crash() -> None:
    ops = failover().add(1600, "final-read", OK, "read", [[1, 5, 7]]).ops()

    analysis = analyze(ops, TARGETS, WINDOW_S)

    assert analysis.verdict is Verdict.UNKNOWN


def test_a_new_measurement_is_one_more_checker() -> None:
    """Composition: a checker appended to the standard ones sees what they found."""
    seen: list[Any] = []

    class CountReads:
        name = "toy"
        unknown_on_crash = False

        def check(self, inputs: Any, analysis: Any) -> None:
            seen.append((len(inputs.ops), analysis.rto is not None))
            analysis.notes.append("toy: measured")

        def reset(self, inputs: Any, analysis: Any) -> None:
            pass

    ops = failover().final_read(SURVIVORS, at=1600).ops()
    plain = analyze(ops, TARGETS, WINDOW_S)
    analysis = analyze(ops, TARGETS, WINDOW_S, (*CHECKERS, CountReads()))

    assert seen == [(len(ops), True)]
    assert "toy: measured" in analysis.notes
    assert analysis.verdict is plain.verdict


def test_a_crash_in_a_checker_that_does_not_decide_leaves_the_verdict() -> None:
    ops = failover().final_read(SURVIVORS, at=1600).ops()
    from drillkit.checkers.analysis import ResolutionChecker

    plain = analyze(ops, TARGETS, WINDOW_S)
    analysis = analyze(ops, TARGETS, WINDOW_S, _crashing(ResolutionChecker, ValueError("x")))

    assert analysis.resolution is None
    assert any(n.startswith("resolution checker crashed:") for n in analysis.notes)
    assert analysis.measured.rto_seconds == plain.measured.rto_seconds
