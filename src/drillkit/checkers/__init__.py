"""Checkers: pure functions of the history that yield lost writes, RPO, RTO and a verdict.

A checker never talks to a container. The history carries everything it needs: the writes, the
fault (with the time it took effect), the runbook steps and the final read of surviving ids.
A checker that crashes yields ``unknown`` for what it measures, never ``pass``. The checkers run
in sequence (:mod:`drillkit.checkers.analysis`); ``analyze`` composes them.
"""

from __future__ import annotations

from collections.abc import Iterable

from drillkit.checkers.analysis import (
    CHECKERS,
    FINAL_READ_PROCESS,
    Analysis,
    Checker,
    Inputs,
    analyze,
    final_read,
)
from drillkit.checkers.attribution import FaultWindow
from drillkit.checkers.incident import Incident, select_incident
from drillkit.checkers.injections import Injection, injections
from drillkit.checkers.readback import Read, read_backs
from drillkit.checkers.resolution import Resolution, resolution
from drillkit.checkers.rpo import Rpo, rpo
from drillkit.checkers.rto import Phase, Rto, rto
from drillkit.checkers.verdict import Check, Verdict, merge
from drillkit.checkers.writes import LostWrites, WriteOutcomes, lost_writes, write_outcomes
from drillkit.history import Op
from drillkit.queries import decode_ids, encode_ids

__all__ = [
    "CHECKERS",
    "FINAL_READ_PROCESS",
    "Analysis",
    "Check",
    "Checker",
    "FaultWindow",
    "Incident",
    "Injection",
    "Inputs",
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
