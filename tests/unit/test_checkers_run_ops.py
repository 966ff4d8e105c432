"""What the runner records about the run itself (checkers.run_ops), judged by analyze()."""

from __future__ import annotations

from builders import SURVIVORS, failover

from drillkit.checkers import Verdict, analyze
from drillkit.checkers.run_ops import run_context
from drillkit.history import OpType
from drillkit.spec import Targets

TARGETS = Targets(rpo_seconds=0.5, rto_seconds=1.0, max_lost_writes=0)


def test_a_failed_gate_comes_first_in_the_notes_and_leaves_it_unknown() -> None:
    script = failover().final_read(SURVIVORS, at=1600)
    script.add(50, "steady-state", OpType.FAIL, "check", error="not healthy after 1s: 3 of 50")

    analysis = analyze(script.ops(), TARGETS, 0.3)

    assert analysis.verdict is Verdict.UNKNOWN
    assert analysis.notes[0] == (
        "steady state not reached, no fault injected: not healthy after 1s: 3 of 50"
    )


def test_a_fault_error_is_a_note_only() -> None:
    script = failover().final_read(SURVIVORS, at=1600)
    script.add(900, "drill", OpType.INFO, "fault-error", error="heal kill: boom")

    analysis = analyze(script.ops(), TARGETS, 0.3)

    assert analysis.verdict is Verdict.PASS
    assert analysis.notes == ["fault error: heal kill: boom"]


def test_a_runner_error_turns_pass_into_unknown_but_not_fail_into_pass() -> None:
    passing = failover().final_read(SURVIVORS, at=1600)
    passing.add(1700, "drill", OpType.FAIL, "error", error="drill crashed:\nTraceback")
    failing = failover().final_read([1, 2, 3, *range(7, 13)], at=1600)
    failing.add(1700, "drill", OpType.FAIL, "error", error="cleanup failed: gone")

    assert analyze(passing.ops(), TARGETS, 0.3).verdict is Verdict.UNKNOWN
    assert analyze(passing.ops(), TARGETS, 0.3).notes == []  # the report's error carries it
    assert analyze(failing.ops(), TARGETS, 0.3).verdict is Verdict.FAIL


def test_the_report_context_comes_from_the_history() -> None:
    script = failover()
    nodes = {"pg0": "primary", "pg1": "replica"}
    script.add(1, "drill", OpType.OK, "topology", {"ready_seconds": 4.2, "nodes": nodes})
    script.add(2, "steady-state", OpType.OK, "check")
    summary = {"completed": [], "failed_step": "promote", "error": "RuntimeError: no"}
    script.add(900, "drill", OpType.FAIL, "runbook", summary)

    assert run_context(script.ops()) == {
        "topology_ready_seconds": 4.2,
        "nodes": nodes,
        "steady_state": "healthy",
        "runbook": summary,
    }
