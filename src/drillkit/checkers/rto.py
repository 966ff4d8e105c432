"""Achieved RTO: from the moment the fault took effect until service is stably back.

Service counts as restored at the completion of the first acknowledged write W (completed after
the fault took effect) such that every write *invoked* from W's invocation until
``stable_window`` after W's completion succeeded, and the history shows writes invoked at least
that late (the whole window was observed). A recovery that flaps inside the window does not count.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from dataclasses import dataclass, field

from drillkit.checkers.writes import WriteOutcomes
from drillkit.history import Op, OpType

__all__ = ["Phase", "Rto", "rto"]

NS = 1_000_000_000


@dataclass(frozen=True)
class Phase:
    """A named span relative to the fault-effective time (seconds)."""

    name: str
    start_s: float
    end_s: float | None
    status: str = "ok"


@dataclass(frozen=True)
class Rto:
    seconds: float | None  # None: no stable recovery was observed
    restored_ns: int | None
    detection_s: float | None  # first failed or unknown write after the fault
    observed_s: float  # how long after the fault writes were still being invoked
    phases: list[Phase] = field(default_factory=list)


def _runbook_phases(ops: Iterable[Op], fault_ns: int) -> list[Phase]:
    phases: list[Phase] = []
    open_steps: dict[tuple[str, str], Op] = {}
    for op in ops:
        if op.process != "runbook":
            continue
        key = (op.process, op.f)
        if op.type is OpType.INVOKE:
            open_steps[key] = op
        elif key in open_steps:
            inv = open_steps.pop(key)
            phases.append(
                Phase(
                    f"runbook:{op.f}",
                    (inv.time_ns - fault_ns) / NS,
                    (op.time_ns - fault_ns) / NS,
                    op.type.value,
                )
            )
    for inv in open_steps.values():
        phases.append(Phase(f"runbook:{inv.f}", (inv.time_ns - fault_ns) / NS, None, "unfinished"))
    return phases


def rto(ops: list[Op], outcomes: WriteOutcomes, fault_ns: int, stable_window_s: float) -> Rto:
    window = int(stable_window_s * NS)
    bad_invokes = sorted(
        outcomes.invoked_ns[i]
        for i, t in outcomes.outcome.items()
        if t is not OpType.OK and i in outcomes.invoked_ns
    )
    last_invoke = max(outcomes.invoked_ns.values(), default=fault_ns)
    detection = min(
        (
            outcomes.completed_ns.get(i, outcomes.invoked_ns[i])
            for i, t in outcomes.outcome.items()
            if t is not OpType.OK
            and outcomes.completed_ns.get(i, outcomes.invoked_ns[i]) > fault_ns
        ),
        default=None,
    )
    candidates = sorted(
        (done, i)
        for i, done in outcomes.completed_ns.items()
        if done > fault_ns and outcomes.outcome[i] is OpType.OK
    )
    restored: int | None = None
    for done, i in candidates:
        window_end = done + window
        if last_invoke < window_end:
            break  # the window after this write was not observed: cannot call it stable
        start = outcomes.invoked_ns[i]
        k = bisect.bisect_left(bad_invokes, start)
        if k == len(bad_invokes) or bad_invokes[k] > window_end:
            restored = done
            break
    phases = []
    if detection is not None:
        phases.append(Phase("detection", 0.0, (detection - fault_ns) / NS))
    phases += _runbook_phases(ops, fault_ns)
    if restored is not None:
        phases.append(Phase("restored", (restored - fault_ns) / NS, (restored - fault_ns) / NS))
    return Rto(
        seconds=None if restored is None else (restored - fault_ns) / NS,
        restored_ns=restored,
        detection_s=None if detection is None else (detection - fault_ns) / NS,
        observed_s=max(0, last_invoke - fault_ns) / NS,
        phases=phases,
    )
