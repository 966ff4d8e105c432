"""The analysis: a history judged by a sequence of checkers.

Each :class:`Checker` measures one thing from the history (and what earlier checkers found) and
writes it onto the :class:`Analysis`. A checker that crashes leaves its measurement empty and a
note saying so; what depends on it is then ``unknown``, never ``pass``. A new measurement (stale
reads, say) is one checker appended to :data:`CHECKERS` plus its renderers in ``report/``.
"""

from __future__ import annotations

import traceback
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from drillkit.checkers.attribution import FaultWindow, attribute, schedule_notes
from drillkit.checkers.cache import CacheCheck, cache_check
from drillkit.checkers.incident import Incident, select_incident
from drillkit.checkers.injections import injections, phase_start_ns
from drillkit.checkers.readback import Read, read_backs
from drillkit.checkers.resolution import Resolution, resolution
from drillkit.checkers.rpo import Rpo, rpo
from drillkit.checkers.rto import Rto, rto
from drillkit.checkers.run_ops import run_problems
from drillkit.checkers.staleness import (
    Convergence,
    Monotonic,
    Staleness,
    convergence,
    latest_reads,
    monotonic,
    staleness,
)
from drillkit.checkers.verdict import Check, Measured, Verdict, judge, merge
from drillkit.checkers.writes import LostWrites, WriteOutcomes, lost_writes, write_outcomes
from drillkit.history import Op, OpType
from drillkit.queries import FINAL_READ_PROCESS, decode_ids
from drillkit.spec import Targets

__all__ = [
    "CHECKERS",
    "FINAL_READ_PROCESS",
    "Analysis",
    "Checker",
    "Inputs",
    "analyze",
    "final_read",
]


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
    staleness: Staleness | None = None
    monotonic: Monotonic | None = None
    convergence: Convergence | None = None
    cache: CacheCheck | None = None

    @property
    def measured(self) -> Measured:
        exact_rpo = self.lost is not None and self.lost.count == 0
        res = self.resolution
        stale, mono, conv = self.staleness, self.monotonic, self.convergence
        return Measured(
            rpo_seconds=self.rpo.seconds if self.rpo else None,
            rto_seconds=self.rto.seconds if self.rto else None,
            lost_writes=self.lost.count if self.lost else None,
            observed_after_fault_s=self.rto.observed_s if self.rto else None,
            stable_window_s=self.stable_window_s,
            rpo_resolution_s=None if exact_rpo or res is None else res.rpo_s,
            rto_resolution_s=None if res is None else res.rto_s,
            staleness_seconds=stale.max_s if stale else None,
            staleness_resolution_s=stale.resolution_s if stale else None,
            monotonic_violations=mono.violations if mono and mono.readers else None,
            convergence_seconds=conv.seconds if conv else None,
            convergence_resolution_s=conv.resolution_s if conv else None,
            ghost_reads=self.cache.ghost_reads if self.cache else None,
            ghost_window_seconds=self.cache.window_s if self.cache else None,
            ghost_window_at_least_s=self.cache.window_at_least_s if self.cache else None,
            ghost_window_resolution_s=self.cache.resolution_s if self.cache else None,
            stale_reads=self.cache.stale_reads if self.cache else None,
            cache_stale_window_seconds=self.cache.stale_window_s if self.cache else None,
            cache_stale_window_resolution_s=(
                self.cache.stale_window_resolution_s if self.cache else None
            ),
        )


@dataclass
class Inputs:
    """What every checker may read: the history and what is derived from it once."""

    ops: list[Op]
    targets: Targets
    stable_window_s: float
    outcomes: WriteOutcomes
    final: list[int] | None = None
    reads: list[Read] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)  # why the verdict cannot be pass/fail


class Checker(Protocol):
    """One measurement. ``name`` appears in the note when it crashes; ``reset`` clears what it
    wrote; ``unknown_on_crash`` says whether its crash alone makes the verdict unknown."""

    name: str
    unknown_on_crash: bool

    def check(self, inputs: Inputs, analysis: Analysis) -> None: ...

    def reset(self, inputs: Inputs, analysis: Analysis) -> None: ...


class LostWritesChecker:
    """Acknowledged writes missing from the final read."""

    name = "lost-write/RPO"
    unknown_on_crash = True

    def check(self, inputs: Inputs, analysis: Analysis) -> None:
        inputs.final = final_read(inputs.ops)
        if inputs.final is None:
            analysis.notes.append("no final read of surviving writes: lost writes and RPO unknown")
        else:
            analysis.lost = lost_writes(inputs.outcomes, inputs.final)

    def reset(self, inputs: Inputs, analysis: Analysis) -> None:
        analysis.lost, inputs.final = None, None


class ReadBackChecker:
    """The read-back probe's reads, judged against the final read."""

    name = "read-back"
    unknown_on_crash = False

    def check(self, inputs: Inputs, analysis: Analysis) -> None:
        inputs.reads = read_backs(inputs.ops, inputs.final)

    def reset(self, inputs: Inputs, analysis: Analysis) -> None:
        inputs.reads = []


class IncidentChecker:
    """Which fault is the incident, when it took effect, and each fault's attribution."""

    name = "incident"
    unknown_on_crash = False

    def check(self, inputs: Inputs, analysis: Analysis) -> None:
        ops, lost = inputs.ops, analysis.lost
        injected = injections(ops)
        incident = select_incident(
            injected,
            inputs.outcomes,
            inputs.reads,
            lost.count if lost else None,
            round(inputs.stable_window_s * 1_000_000_000),
        )
        analysis.incident, analysis.fault_ns = incident, incident.effective_ns
        t0, tolerance = phase_start_ns(ops)
        analysis.faults = attribute(
            injected,
            inputs.outcomes,
            lost.lost if lost else [],
            incident_order=incident.injection.order if incident.injection else None,
            phase_start_ns=t0,
            end_ns=max((op.time_ns for op in ops), default=0),
        )
        analysis.notes += schedule_notes(analysis.faults, tolerance)
        if incident.injection is None:
            analysis.notes.append(f"{incident.reason}: nothing to measure")
        if incident.ambiguous:
            analysis.notes.append(f"incident ambiguous: {incident.reason}")
            inputs.unknown.append("ambiguous incident")

    def reset(self, inputs: Inputs, analysis: Analysis) -> None:
        analysis.incident, analysis.fault_ns = None, None


class RpoChecker:
    """The age of the newest lost write at the incident."""

    name = "RPO"
    unknown_on_crash = False

    def check(self, inputs: Inputs, analysis: Analysis) -> None:
        if analysis.lost is not None and analysis.fault_ns is not None:
            analysis.rpo = rpo(inputs.outcomes, analysis.lost, analysis.fault_ns)

    def reset(self, inputs: Inputs, analysis: Analysis) -> None:
        analysis.rpo = None


def _unserved(outcomes: WriteOutcomes, lost: LostWrites) -> WriteOutcomes:
    """``outcomes`` with every lost write counted as unanswered: a deposed primary that kept
    acknowledging writes later thrown away was not serving, so those acknowledgements can
    neither start nor sustain a recovered run for RTO."""
    if not lost.lost:
        return outcomes
    outcome = dict(outcomes.outcome)
    outcome.update(dict.fromkeys(lost.lost, OpType.INFO))
    return WriteOutcomes(outcomes.invoked_ns, outcomes.completed_ns, outcome)


class RtoChecker:
    """From the incident until service (and, when reads show it gone, the data) is back."""

    name = "RTO"
    unknown_on_crash = False

    def check(self, inputs: Inputs, analysis: Analysis) -> None:
        if analysis.fault_ns is None:
            return
        served = (
            inputs.outcomes if analysis.lost is None else _unserved(inputs.outcomes, analysis.lost)
        )
        analysis.rto = rto(
            inputs.ops, served, analysis.fault_ns, inputs.stable_window_s, inputs.reads
        )

    def reset(self, inputs: Inputs, analysis: Analysis) -> None:
        analysis.rto = None


class ResolutionChecker:
    """How finely the history can place RPO and RTO (the write and read intervals)."""

    name = "resolution"
    unknown_on_crash = False

    def check(self, inputs: Inputs, analysis: Analysis) -> None:
        probe = bool(analysis.rto and analysis.rto.data_probe)
        analysis.resolution = resolution(inputs.outcomes, inputs.reads, data_probe=probe)

    def reset(self, inputs: Inputs, analysis: Analysis) -> None:
        analysis.resolution = None


def recovered_ns(analysis: Analysis) -> int | None:
    """When the fault phase of a reader's view ends: the later of the incident's heal and the
    RTO restoration, whichever are known. A heal counts only when the drill gave the fault a
    ``duration``: without one it is recorded when the run ends (a kill's "nothing to undo"), so
    recovery is the RTO restoration, or that heal if service never came back."""
    injection = analysis.incident.injection if analysis.incident else None
    restored = analysis.rto.restored_ns if analysis.rto else None
    healed = injection.healed_ns if injection else None
    if injection is not None and injection.declared_duration is None and restored is not None:
        healed = None
    known = [t for t in (restored, healed) if t is not None]
    return max(known) if known else None


class ReadersChecker:
    """What the readers saw: staleness, monotonic-read violations, convergence."""

    name = "readers"
    unknown_on_crash = False

    def check(self, inputs: Inputs, analysis: Analysis) -> None:
        reads = latest_reads(inputs.ops)
        if not reads:
            return
        recovered = recovered_ns(analysis) if analysis.fault_ns is not None else None
        res = analysis.resolution
        analysis.staleness = staleness(
            reads,
            inputs.outcomes,
            inputs.final,
            fault_ns=analysis.fault_ns,
            recovered_ns=recovered,
            write_interval_s=res.write_interval_s if res else None,
        )
        analysis.monotonic = monotonic(reads, inputs.outcomes)
        analysis.convergence = convergence(reads, inputs.outcomes, inputs.final, recovered)
        if inputs.final is None:
            analysis.notes.append(
                "readers judged against every acknowledged write (no final read): lost writes "
                "count as unseen"
            )
        if inputs.targets.max_convergence_seconds is not None:
            analysis.notes += [f"convergence: {n}" for n in analysis.convergence.notes]

    def reset(self, inputs: Inputs, analysis: Analysis) -> None:
        analysis.staleness = analysis.monotonic = analysis.convergence = None


class CacheChecker:
    """What readers through a cache saw after recovery: ghost and stale reads, the window."""

    name = "cache"
    unknown_on_crash = False

    def check(self, inputs: Inputs, analysis: Analysis) -> None:
        recovered = recovered_ns(analysis) if analysis.fault_ns is not None else None
        analysis.cache = cache_check(
            inputs.ops,
            inputs.outcomes,
            inputs.final,
            fault_ns=analysis.fault_ns,
            recovered_ns=recovered,
        )
        if analysis.cache is not None:
            analysis.notes += [f"cache: {n}" for n in analysis.cache.notes]

    def reset(self, inputs: Inputs, analysis: Analysis) -> None:
        analysis.cache = None


CHECKERS: tuple[Checker, ...] = (
    LostWritesChecker(),
    ReadBackChecker(),
    IncidentChecker(),
    RpoChecker(),
    RtoChecker(),
    ResolutionChecker(),
    ReadersChecker(),
    CacheChecker(),
)


def _consistency(inputs: Inputs, analysis: Analysis) -> None:
    """Ids the final read has that the history says were never written or failed: the history
    and the data disagree, so nothing measured from them can pass."""
    lost = analysis.lost
    if lost is not None and (lost.never_written or lost.failed_but_present):
        analysis.notes.append(
            "history inconsistent with the final read: ids present that were never written "
            f"({len(lost.never_written)}) or that the client saw fail "
            f"({len(lost.failed_but_present)})"
        )
        inputs.unknown.append("inconsistent history")
    if analysis.fault_ns is None:
        inputs.unknown.append("no incident time")


def analyze(
    ops: list[Op],
    targets: Targets,
    stable_window_s: float,
    checkers: Sequence[Checker] = CHECKERS,
) -> Analysis:
    """Judge a history against the targets: run each checker in order, then the verdict (the
    targets judged, and ``unknown`` wherever a checker, the history or the run says so)."""
    analysis = Analysis(verdict=Verdict.UNKNOWN, checks=[], stable_window_s=stable_window_s)
    inputs = Inputs(ops, targets, stable_window_s, write_outcomes(ops))
    for checker in checkers:
        try:
            checker.check(inputs, analysis)
        except Exception:
            analysis.notes.append(f"{checker.name} checker crashed:\n" + traceback.format_exc())
            checker.reset(inputs, analysis)
            if checker.unknown_on_crash:
                inputs.unknown.append(f"{checker.name} checker crashed")
    analysis.checks = judge(targets, analysis.measured)
    _consistency(inputs, analysis)
    run = run_problems(ops)  # what the runner recorded about the run itself
    analysis.notes = [*run.first, *analysis.notes, *run.last]
    verdicts = [c.verdict for c in analysis.checks]
    verdicts += [Verdict.UNKNOWN] * (len(inputs.unknown) + bool(run.unknown))
    analysis.verdict = merge(verdicts)
    return analysis
