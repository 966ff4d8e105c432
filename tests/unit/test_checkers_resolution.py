"""Resolution: what the probe can resolve, and targets tighter than it are unknown."""

from __future__ import annotations

import pytest
from builders import FAIL, INFO, INVOKE, OK, Script, ms

from drillkit.checkers import Verdict, analyze, read_backs, write_outcomes
from drillkit.checkers.resolution import resolution
from drillkit.checkers.verdict import _bound
from drillkit.spec import Targets


def low_rate_failover(lost: bool) -> Script:
    """Writes every 50 ms (20/s, 2 ms latency); kill at 1000; back at 2000."""
    s = Script()
    for k in range(20):
        s.write(k + 1, invoked=k * 50, done=k * 50 + 2)
    s.fault(requested=1000, effective=1001)
    s.write(21, invoked=1000, done=1003, outcome=INFO)
    for k in range(19):
        s.write(30 + k, invoked=1050 + k * 50, done=1051 + k * 50, outcome=FAIL)
    for k in range(40):
        s.write(100 + k, invoked=2000 + k * 50, done=2002 + k * 50)
    survivors = [*range(1, 19 if lost else 21), *range(100, 140)]
    return s.final_read(survivors, at=5000)


def test_the_write_interval_is_the_resolution_at_a_low_rate() -> None:
    ops = low_rate_failover(lost=True).ops()

    res = resolution(write_outcomes(ops), [], data_probe=False)

    assert res.write_interval_s == 0.05
    assert res.write_latency_s == 0.002
    assert res.rpo_s == pytest.approx(0.052)
    assert res.rto_s == pytest.approx(0.052)


def test_an_rpo_target_tighter_than_the_resolution_is_unknown_not_pass() -> None:
    analysis = analyze(low_rate_failover(lost=True).ops(), Targets(rpo_seconds=0.01), 1.0)

    rpo = next(c for c in analysis.checks if c.name == "rpo_seconds")
    assert analysis.rpo is not None and analysis.rpo.seconds == pytest.approx(0.099)
    assert rpo.verdict is Verdict.FAIL  # 0.099 > 0.01 + 0.052: certainly missed

    tight = analyze(low_rate_failover(lost=True).ops(), Targets(rpo_seconds=0.04), 1.0)
    check = next(c for c in tight.checks if c.name == "rpo_seconds")
    assert check.verdict is Verdict.FAIL or check.verdict is Verdict.UNKNOWN
    assert check.verdict is not Verdict.PASS


def test_rpo_zero_with_nothing_lost_is_exact_whatever_the_rate() -> None:
    analysis = analyze(low_rate_failover(lost=False).ops(), Targets(rpo_seconds=0), 1.0)

    assert analysis.measured.rpo_resolution_s is None
    assert [c.verdict for c in analysis.checks] == [Verdict.PASS]


@pytest.mark.parametrize(
    ("target", "value", "verdict", "why"),
    [
        (0.01, 0.0, Verdict.UNKNOWN, "tighter than the measurement resolution"),
        (1.0, 0.98, Verdict.UNKNOWN, "within the measurement resolution"),
        (1.0, 1.03, Verdict.UNKNOWN, "within the measurement resolution"),
        (1.0, 1.06, Verdict.FAIL, "> target"),
        (1.0, 0.9, Verdict.PASS, "<="),
        (0.0, 0.2, Verdict.FAIL, "> target"),
    ],
)
def test_bounds_are_judged_against_the_resolution(target, value, verdict, why) -> None:
    check = _bound("rto_seconds", target, value, "s", 0.05)

    assert check is not None and check.verdict is verdict
    assert why in check.reason


def test_the_report_states_resolution_for_an_unknown_rto_target() -> None:
    s = Script()
    for k in range(60):
        s.write(k + 1, invoked=k * 50, done=k * 50 + 2)
    s.fault(requested=1000, effective=1010, f="isolate").final_read(range(1, 61), at=4000)
    analysis = analyze(s.ops(), Targets(rto_seconds=0.02), 1.0)

    (check,) = analysis.checks
    assert check.verdict is Verdict.UNKNOWN
    assert "tighter than the measurement resolution" in check.reason


def test_read_backs_judge_only_surviving_ids() -> None:
    s = (
        Script()
        .add(0, "reader-0", INVOKE, "read-back", [1, 2, 3])
        .add(5, "reader-0", OK, "read-back", [1, 2], found=2)
        .add(10, "reader-0", INVOKE, "read-back", [1, 2])
        .add(15, "reader-0", OK, "read-back", [1], found=1)
        .add(20, "reader-0", INVOKE, "read-back", [2])
        .add(25, "reader-0", FAIL, "read-back", error="UndefinedTable")
        .add(30, "reader-0", INVOKE, "read-back", [2])
    )

    reads = read_backs(s.ops(), survivors=[1, 2])

    assert [r.served for r in reads] == [True, False, False, False]
    assert reads[1].missing == 1 and reads[3].completed_ns is None
    assert read_backs(s.ops(), survivors=None)[0].served is False  # 3 was not found
    assert reads[0].invoked_ns == ms(0)
