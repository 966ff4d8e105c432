"""Checkers: pure functions of the history that yield lost writes, RPO, RTO and a verdict.

A checker never talks to a container. The history carries everything it needs: the writes, the
fault (with the time it took effect), the runbook steps and the final read of surviving ids.
A checker that crashes yields ``unknown`` for what it measures, never ``pass``.
"""

from __future__ import annotations

import traceback
from collections.abc import Iterable
from dataclasses import dataclass, field

from drillkit.checkers.attribution import FaultWindow, attribute, schedule_notes
from drillkit.checkers.incident import Incident, select_incident
from drillkit.checkers.injections import Injection, injections, phase_start_ns
from drillkit.checkers.readback import Read, read_backs
from drillkit.checkers.resolution import Resolution, resolution
from drillkit.checkers.rpo import Rpo, rpo
from drillkit.checkers.rto import Phase, Rto, rto
from drillkit.checkers.run_ops import run_problems
from drillkit.checkers.verdict import Check, Measured, Verdict, judge, merge
from drillkit.checkers.writes import LostWrites, WriteOutcomes, lost_writes, write_outcomes
from drillkit.history import Op, OpType, decode_ids, encode_ids
from drillkit.spec import Targets

__all__ = [
    "Analysis",
    "Check",
    "FaultWindow",
    "Incident",
    "Injection",
    "LostWrites",
    "Phase",
    "Read",
    "Resolution",
    "Rpo",
    "Rto",
    "Verdict",
    "WriteOutcomes",
    "analyze",
    "decode_ids",
    "encode_ids",
    "fault_effective_ns",
    "final_read",
    "incident_of",
    "injections",
    "lost_writes",
    "merge",
    "read_backs",
    "resolution",
    "rpo",
    "rto",
    "write_outcomes",
]

FINAL_READ_PROCESS = "final-read"


def fault_effective_ns(ops: Iterable[Op]) -> int | None:
    """When the incident took effect (see :mod:`drillkit.checkers.incident`), or None.

    The injector reports when it established the effect; a write that failed or went unanswered
    after the request and before that report is earlier evidence, so the fault took effect no
    later than the earlier of the two (and no earlier than the request).
    """
    return incident_of(list(ops)).effective_ns


def incident_of(ops: list[Op]) -> Incident:
    """The incident of a history, from the history alone (its final read included)."""
    outcomes = write_outcomes(ops)
    try:
        final = final_read(ops)
    except (TypeError, ValueError):
        final = None
    lost = None if final is None else lost_writes(outcomes, final).count
    return select_incident(injections(ops), outcomes, read_backs(ops, final), lost)


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
    fault_ns: int | None = None  # when the incident took effect
    lost: LostWrites | None = None
    rpo: Rpo | None = None
    rto: Rto | None = None
    stable_window_s: float = 0.0
    incident: Incident | None = None
    faults: list[FaultWindow] = field(default_factory=list)
    resolution: Resolution | None = None

    @property
    def measured(self) -> Measured:
        exact_rpo = self.lost is not None and self.lost.count == 0
        res = self.resolution
        return Measured(
            rpo_seconds=self.rpo.seconds if self.rpo else None,
            rto_seconds=self.rto.seconds if self.rto else None,
            lost_writes=self.lost.count if self.lost else None,
            observed_after_fault_s=self.rto.observed_s if self.rto else None,
            stable_window_s=self.stable_window_s,
            rpo_resolution_s=None if exact_rpo or res is None else res.rpo_s,
            rto_resolution_s=None if res is None else res.rto_s,
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
    """Judge a history against the targets, measuring RPO and RTO from its incident."""
    analysis = Analysis(verdict=Verdict.UNKNOWN, checks=[], stable_window_s=stable_window_s)
    outcomes = write_outcomes(ops)
    final: list[int] | None = None
    verdicts: list[Verdict] = []
    try:
        final = final_read(ops)
        if final is None:
            analysis.notes.append("no final read of surviving writes: lost writes and RPO unknown")
        else:
            analysis.lost = lost_writes(outcomes, final)
    except Exception:
        analysis.notes.append("lost-write/RPO checker crashed:\n" + traceback.format_exc())
        analysis.lost, final = None, None
        verdicts.append(Verdict.UNKNOWN)
    reads = read_backs(ops, final)
    try:
        injected = injections(ops)
        analysis.incident = select_incident(
            injected,
            outcomes,
            reads,
            analysis.lost.count if analysis.lost else None,
            round(stable_window_s * 1_000_000_000),
        )
        analysis.fault_ns = analysis.incident.effective_ns
        t0, tolerance = phase_start_ns(ops)
        analysis.faults = attribute(
            injected,
            outcomes,
            analysis.lost.lost if analysis.lost else [],
            incident_order=(
                analysis.incident.injection.order if analysis.incident.injection else None
            ),
            phase_start_ns=t0,
            end_ns=max((op.time_ns for op in ops), default=0),
        )
        analysis.notes += schedule_notes(analysis.faults, tolerance)
    except Exception:
        analysis.notes.append("incident checker crashed:\n" + traceback.format_exc())
        analysis.incident, analysis.fault_ns = None, None
    if analysis.incident is not None and analysis.incident.injection is None:
        analysis.notes.append(f"{analysis.incident.reason}: nothing to measure")
    if analysis.incident is not None and analysis.incident.ambiguous:
        analysis.notes.append(f"incident ambiguous: {analysis.incident.reason}")
        verdicts.append(Verdict.UNKNOWN)
    try:
        if analysis.lost is not None and analysis.fault_ns is not None:
            analysis.rpo = rpo(outcomes, analysis.lost, analysis.fault_ns)
    except Exception:
        analysis.notes.append("RPO checker crashed:\n" + traceback.format_exc())
        analysis.rpo = None
    try:
        if analysis.fault_ns is not None:
            served = outcomes if analysis.lost is None else _unserved(outcomes, analysis.lost)
            analysis.rto = rto(ops, served, analysis.fault_ns, stable_window_s, reads)
    except Exception:
        analysis.notes.append("RTO checker crashed:\n" + traceback.format_exc())
        analysis.rto = None
    try:
        analysis.resolution = resolution(
            outcomes, reads, data_probe=bool(analysis.rto and analysis.rto.data_probe)
        )
    except Exception:
        analysis.notes.append("resolution checker crashed:\n" + traceback.format_exc())
    analysis.checks = judge(targets, analysis.measured)
    verdicts += [c.verdict for c in analysis.checks]
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
    run = run_problems(ops)  # what the runner recorded about the run itself
    analysis.notes = [*run.first, *analysis.notes, *run.last]
    if run.unknown:
        verdicts.append(Verdict.UNKNOWN)
    analysis.verdict = merge(verdicts)
    return analysis
