"""Achieved RTO: from the moment the incident took effect until service is stably back.

Writes are restored at the completion of the first acknowledged write W (completed after the
incident took effect) such that every write *invoked* from W's invocation until
``stable_window`` after W's completion succeeded, and the history shows writes invoked at least
that late (the whole window was observed). A recovery that flaps inside the window does not count.

When read-backs of data acknowledged before the fault phase (see
:mod:`drillkit.checkers.readback`) show the data *gone* after the incident (an answered read
lacked surviving ids, or the server answered with an error), the data is restored by the same
rule applied to the answered reads (a read counts when it served every sampled id that survived),
and service is restored only when both are: RTO ends at the later of the two. Reads that went
unanswered are the outage the writes already measure and do not move RTO. So after a FLUSHALL or
a dropped table, RTO runs until the restored data is served again, not until the first new
write succeeds.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from dataclasses import dataclass, field

from drillkit.checkers.readback import Read
from drillkit.checkers.writes import WriteOutcomes
from drillkit.history import Op, OpType
from drillkit.queries import RUNBOOK_PROCESS

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
    writes_restored_ns: int | None = None
    data_restored_ns: int | None = None  # None also when no read-back probe ran after the fault
    data_probe: bool = False  # answered read-backs after the fault lacked data: reads decide too


def _runbook_phases(ops: Iterable[Op], fault_ns: int) -> list[Phase]:
    phases: list[Phase] = []
    open_steps: dict[tuple[str, str], Op] = {}
    for op in ops:
        if op.process != RUNBOOK_PROCESS:
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


def stable_since(
    oks: list[tuple[int, int]], bad_invokes: list[int], last_invoke: int, window: int
) -> int | None:
    """The completion of the first ok (``(done, invoked)``, sorted) whose invocation to
    ``done + window`` saw no bad invocation and was wholly observed."""
    for done, start in oks:
        window_end = done + window
        if last_invoke < window_end:
            return None  # the window after this op was not observed: cannot call it stable
        k = bisect.bisect_left(bad_invokes, start)
        if k == len(bad_invokes) or bad_invokes[k] > window_end:
            return done
    return None


def rto(
    ops: list[Op],
    outcomes: WriteOutcomes,
    fault_ns: int,
    stable_window_s: float,
    reads: list[Read] | None = None,
) -> Rto:
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
        (done, outcomes.invoked_ns[i])
        for i, done in outcomes.completed_ns.items()
        if done > fault_ns and outcomes.outcome[i] is OpType.OK and i in outcomes.invoked_ns
    )
    writes_restored = stable_since(candidates, bad_invokes, last_invoke, window)
    restored = writes_restored
    after = [r for r in reads or [] if (r.completed_ns or r.invoked_ns) > fault_ns]
    data_gone = any(r.kind == "missing" for r in after)
    data_restored: int | None = None
    if data_gone:
        # The data was really gone (answered reads lacked it): service is back only when it is
        # served again. Unanswered reads are the outage the writes already measure: ignored here.
        read_bad = sorted(r.invoked_ns for r in reads or [] if r.kind == "missing")
        read_ok = sorted(
            (r.completed_ns, r.invoked_ns) for r in after if r.served and r.completed_ns is not None
        )
        last_read = max(r.invoked_ns for r in after)
        data_restored = stable_since(read_ok, read_bad, last_read, window)
        restored = (
            None
            if writes_restored is None or data_restored is None
            else max(writes_restored, data_restored)
        )
        first_missing = min((r.completed_ns or r.invoked_ns) for r in after if r.kind == "missing")
        if detection is None or first_missing < detection:
            detection = first_missing
    phases = []
    if detection is not None:
        phases.append(Phase("detection", 0.0, (detection - fault_ns) / NS))
    phases += _runbook_phases(ops, fault_ns)
    if data_gone and writes_restored is not None and data_restored is not None:
        phases.append(
            Phase(
                "writes restored",
                (writes_restored - fault_ns) / NS,
                (writes_restored - fault_ns) / NS,
            )
        )
        phases.append(
            Phase("data restored", (data_restored - fault_ns) / NS, (data_restored - fault_ns) / NS)
        )
    if restored is not None:
        phases.append(Phase("restored", (restored - fault_ns) / NS, (restored - fault_ns) / NS))
    return Rto(
        seconds=None if restored is None else (restored - fault_ns) / NS,
        restored_ns=restored,
        detection_s=None if detection is None else (detection - fault_ns) / NS,
        observed_s=max(0, last_invoke - fault_ns) / NS,
        phases=phases,
        writes_restored_ns=writes_restored,
        data_restored_ns=data_restored,
        data_probe=data_gone,
    )
