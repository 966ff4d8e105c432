"""Checkers: pure functions of the history that yield lost writes, RPO, RTO and a verdict.

A checker never talks to a container. The history carries everything it needs: the writes, the
fault (with the time it took effect), the runbook steps and the final read of surviving ids.
A checker that crashes yields ``unknown`` for what it measures, never ``pass``.
"""

from __future__ import annotations

import traceback
from collections.abc import Iterable
from dataclasses import dataclass, field

from drillkit.checkers.rpo import Rpo, rpo
from drillkit.checkers.rto import Phase, Rto, rto
from drillkit.checkers.verdict import Check, Measured, Verdict, judge, merge
from drillkit.checkers.writes import LostWrites, WriteOutcomes, lost_writes, write_outcomes
from drillkit.history import Op, OpType
from drillkit.spec import Targets

__all__ = [
    "Analysis",
    "Check",
    "LostWrites",
    "Phase",
    "Rpo",
    "Rto",
    "Verdict",
    "WriteOutcomes",
    "analyze",
    "decode_ids",
    "encode_ids",
    "fault_effective_ns",
    "final_read",
    "lost_writes",
    "merge",
    "rpo",
    "rto",
    "write_outcomes",
]

FINAL_READ_PROCESS = "final-read"


def encode_ids(ids: Iterable[int]) -> list[list[int]]:
    """Sorted ids as inclusive ``[first, last]`` ranges, to keep the final read compact."""
    ranges: list[list[int]] = []
    for i in sorted(set(ids)):
        if ranges and ranges[-1][1] == i - 1:
            ranges[-1][1] = i
        else:
            ranges.append([i, i])
    return ranges


def decode_ids(ranges: Iterable[Iterable[int]]) -> list[int]:
    out: list[int] = []
    for first, last in ranges:
        out.extend(range(int(first), int(last) + 1))
    return out


def fault_effective_ns(ops: Iterable[Op]) -> int | None:
    """When the first injected fault took effect, or None if no fault did.

    The injector reports when it *saw* the effect (e.g. Docker saying the container exited),
    which can lag the real moment by a hundred milliseconds or more. A write that failed or went
    unanswered after the fault was requested is earlier evidence, so the fault took effect no
    later than the earlier of the two (and no earlier than the request).
    """
    ops = list(ops)
    fault: Op | None = next(
        (
            op
            for op in ops
            if op.process == "fault" and op.type is OpType.OK and not op.f.startswith("heal-")
        ),
        None,
    )
    if fault is None:
        return None
    reported = int(fault.extra.get("effective_ns", fault.time_ns))
    requested = int(fault.extra.get("requested_ns", reported))
    first_failure = next(
        (
            op.time_ns
            for op in ops
            if op.f == "write"
            and op.type in (OpType.FAIL, OpType.INFO)
            and requested <= op.time_ns < reported
        ),
        None,
    )
    return reported if first_failure is None else first_failure


def final_read(ops: Iterable[Op]) -> list[int] | None:
    """The ids read after recovery, or None if the final read did not succeed."""
    for op in ops:
        if op.process == FINAL_READ_PROCESS and op.type is OpType.OK:
            return decode_ids(op.value)
    return None


@dataclass
class Analysis:
    verdict: Verdict
    checks: list[Check]
    notes: list[str] = field(default_factory=list)
    fault_ns: int | None = None
    lost: LostWrites | None = None
    rpo: Rpo | None = None
    rto: Rto | None = None
    stable_window_s: float = 0.0

    @property
    def measured(self) -> Measured:
        return Measured(
            rpo_seconds=self.rpo.seconds if self.rpo else None,
            rto_seconds=self.rto.seconds if self.rto else None,
            lost_writes=self.lost.count if self.lost else None,
            observed_after_fault_s=self.rto.observed_s if self.rto else None,
            stable_window_s=self.stable_window_s,
        )


def _unserved(outcomes: WriteOutcomes, lost: LostWrites) -> WriteOutcomes:
    """``outcomes`` with every lost write counted as unanswered: a deposed primary that kept
    acknowledging writes later thrown away was not serving, so those acknowledgements can
    neither start nor sustain a recovered run for RTO."""
    if not lost.lost:
        return outcomes
    outcome = dict(outcomes.outcome)
    outcome.update(dict.fromkeys(lost.lost, OpType.INFO))
    return WriteOutcomes(outcomes.invoked_ns, outcomes.completed_ns, outcome)


def analyze(ops: list[Op], targets: Targets, stable_window_s: float) -> Analysis:
    """Judge a history against the targets."""
    analysis = Analysis(verdict=Verdict.UNKNOWN, checks=[], stable_window_s=stable_window_s)
    analysis.fault_ns = fault_effective_ns(ops)
    if analysis.fault_ns is None:
        analysis.notes.append("no fault took effect: nothing to measure")
    outcomes = write_outcomes(ops)
    try:
        final = final_read(ops)
        if final is None:
            analysis.notes.append("no final read of surviving writes: lost writes and RPO unknown")
        if final is not None:
            analysis.lost = lost_writes(outcomes, final)
        if analysis.lost is not None and analysis.fault_ns is not None:
            analysis.rpo = rpo(outcomes, analysis.lost, analysis.fault_ns)
    except Exception:
        analysis.notes.append("lost-write/RPO checker crashed:\n" + traceback.format_exc())
        analysis.lost, analysis.rpo = None, None
    try:
        if analysis.fault_ns is not None:
            served = outcomes if analysis.lost is None else _unserved(outcomes, analysis.lost)
            analysis.rto = rto(ops, served, analysis.fault_ns, stable_window_s)
    except Exception:
        analysis.notes.append("RTO checker crashed:\n" + traceback.format_exc())
        analysis.rto = None
    analysis.checks = judge(targets, analysis.measured)
    verdicts = [c.verdict for c in analysis.checks]
    if analysis.lost is not None and (
        analysis.lost.never_written or analysis.lost.failed_but_present
    ):
        analysis.notes.append(
            "history inconsistent with the final read: ids present that were never written "
            f"({len(analysis.lost.never_written)}) or that the client saw fail "
            f"({len(analysis.lost.failed_but_present)})"
        )
        verdicts.append(Verdict.UNKNOWN)
    if analysis.fault_ns is None:
        verdicts.append(Verdict.UNKNOWN)
    analysis.verdict = merge(verdicts)
    return analysis
