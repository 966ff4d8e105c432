"""What the runner records about the run itself, and how the verdict reads it.

The runner decides nothing: it records what happened to the run as ops, and :func:`run_problems`
(called by :func:`drillkit.checkers.analyze`) turns them into notes and the ``unknown`` verdict.

- ``steady-state``/``check`` ``fail`` (the gate; ``error`` says why): no fault was injected;
  note ``steady state not reached, no fault injected: <error>`` (first), verdict unknown.
- ``drill``/``fault-error`` ``info`` (``error``: which fault, what went wrong): a fault or heal
  failed; note ``fault error: <error>``; the verdict is left to the measurements.
- ``drill``/``error`` ``fail`` (``error``: the runner's error, secrets redacted): the run did
  not finish (crash, infrastructure, interrupt, failed cleanup); at best unknown, no note
  (the report's ``error`` carries it).
- ``drill``/``topology`` ``ok`` (value: ``ready_seconds``, ``nodes``) and ``drill``/``runbook``
  ``ok``/``fail`` (value: ``completed``, ``failed_step``, ``error``): facts for the report's
  context; the runbook's steps are judged by their own ``runbook`` ops, not by this summary.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from drillkit.history import Op, OpType
from drillkit.queries import DRILL_PROCESS, GATE_PROCESS, RUNBOOK_PROCESS

__all__ = [
    "DRILL_PROCESS",
    "ERROR",
    "FAULT_ERROR",
    "GATE_PROCESS",
    "RUNBOOK",
    "TOPOLOGY",
    "RunProblems",
    "run_context",
    "run_problems",
]

ERROR = "error"
FAULT_ERROR = "fault-error"
RUNBOOK = RUNBOOK_PROCESS
TOPOLOGY = "topology"


@dataclass
class RunProblems:
    """Notes to put first, notes to append, and whether the run itself leaves it unknown."""

    first: list[str] = field(default_factory=list)
    last: list[str] = field(default_factory=list)
    unknown: bool = False


def run_problems(ops: Iterable[Op]) -> RunProblems:
    out = RunProblems()
    for op in ops:
        if op.process == GATE_PROCESS and op.type is OpType.FAIL:
            out.first.append(f"steady state not reached, no fault injected: {op.error}")
            out.unknown = True
        elif op.process != DRILL_PROCESS:
            continue
        elif op.f == FAULT_ERROR:
            out.last.append(f"fault error: {op.error}")
        elif op.f == ERROR and op.type is OpType.FAIL:
            out.unknown = True
    return out


def run_context(ops: Iterable[Op]) -> dict[str, Any]:
    """The report's ``context``: topology readiness and nodes, the gate's outcome, the runbook."""
    context: dict[str, Any] = {}
    for op in ops:
        if op.process == GATE_PROCESS and op.is_completion:
            context["steady_state"] = "healthy" if op.type is OpType.OK else op.error
        elif op.process != DRILL_PROCESS or not op.is_completion:
            continue
        elif op.f == TOPOLOGY:
            context["topology_ready_seconds"] = op.value["ready_seconds"]
            context["nodes"] = op.value["nodes"]
        elif op.f == RUNBOOK:
            context["runbook"] = dict(op.value)
    return context
