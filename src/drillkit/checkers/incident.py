"""The incident: the one fault that RPO and RTO are measured from.

A drill may inject several faults (a harmless one first, a replication cut before a crash, a
chaos phase). RPO and RTO are measured from the *incident*, chosen by the first rule that applies:

1. ``marked``: the first injection that took effect of the entry marked ``incident: true``. If
   the marked entry never took effect there is no incident (verdict ``unknown``).
2. ``only fault``: exactly one injection took effect.
3. ``before first failure``: the *first failure* is the earliest operation (write, or read-back of
   surviving data) completed after the first injection was requested that failed, went
   unanswered, or did not serve the data. The incident is the fault that took effect between
   the invocation of the last operation that succeeded before it and the failure itself. If none
   did (an effect that built up, e.g. a filling disk), it is the last fault in force before the
   failure. If several did, the incident is **ambiguous**: the earliest of them is used (the
   conservative choice: larger RPO and RTO) and the verdict is ``unknown`` until one is marked.
4. ``no failure``: nothing failed: the first fault. If acknowledged writes were nevertheless lost
   and several faults took effect, which one lost them cannot be told from the history: ambiguous.
"""

from __future__ import annotations

from dataclasses import dataclass

from drillkit.checkers.injections import Injection
from drillkit.checkers.readback import Read
from drillkit.checkers.writes import WriteOutcomes
from drillkit.history import OpType

__all__ = ["Incident", "select_incident"]

NS = 1_000_000_000


@dataclass(frozen=True)
class Incident:
    injection: Injection | None
    rule: str  # marked | only fault | before first failure | no failure | none
    reason: str
    ambiguous: bool = False
    candidates: tuple[int, ...] = ()  # orders of the injections that could be the incident

    @property
    def effective_ns(self) -> int | None:
        return None if self.injection is None else self.injection.effective_ns


@dataclass(frozen=True)
class _Event:
    invoked_ns: int
    done_ns: int
    ok: bool


def _events(outcomes: WriteOutcomes, reads: list[Read]) -> list[_Event]:
    events = [
        _Event(
            outcomes.invoked_ns.get(i, outcomes.completed_ns.get(i, 0)),
            outcomes.completed_ns.get(i, outcomes.invoked_ns.get(i, 0)),
            kind is OpType.OK,
        )
        for i, kind in outcomes.outcome.items()
    ]
    events += [
        _Event(
            r.invoked_ns, r.completed_ns if r.completed_ns is not None else r.invoked_ns, r.served
        )
        for r in reads
    ]
    return events


def _names(items: list[Injection]) -> str:
    return ", ".join(i.label for i in items)


def select_incident(
    injected: list[Injection],
    outcomes: WriteOutcomes,
    reads: list[Read],
    lost_count: int | None,
) -> Incident:
    """The incident among ``injected`` (see the module docstring for the rules)."""
    took = [i for i in injected if i.status == "ok"]
    marked = [i for i in injected if i.marked]
    if marked:
        hit = next((i for i in took if i.marked), None)
        if hit is None:
            return Incident(
                None,
                "none",
                f"the fault marked as the incident ({marked[0].label}) never took effect",
            )
        return Incident(hit, "marked", f"{hit.label} is marked incident: true in the drill file")
    if not took:
        return Incident(None, "none", "no fault took effect")
    if len(took) == 1:
        return Incident(
            took[0], "only fault", f"{took[0].label} is the only fault that took effect"
        )
    events = _events(outcomes, reads)
    first_request = took[0].requested_ns
    failures = [e for e in events if not e.ok and e.done_ns >= first_request]
    if not failures:
        if lost_count:
            return Incident(
                took[0],
                "no failure",
                f"no operation failed, yet {lost_count} acknowledged writes were lost and "
                f"{len(took)} faults took effect ({_names(took)}): which one lost them cannot be "
                "told from the history; mark it with incident: true",
                ambiguous=True,
                candidates=tuple(i.order for i in took),
            )
        return Incident(
            took[0], "no failure", f"no operation failed: the first fault, {took[0].label}"
        )
    failure = min(failures, key=lambda e: e.done_ns)
    last_ok = max(
        (e.invoked_ns for e in events if e.ok and e.invoked_ns < failure.invoked_ns), default=None
    )
    in_force = [i for i in took if i.effective_ns <= failure.done_ns]
    candidates = [i for i in in_force if last_ok is None or i.effective_ns > last_ok]
    t_fail = (failure.done_ns - first_request) / NS
    if len(candidates) == 1:
        inc = candidates[0]
        return Incident(
            inc,
            "before first failure",
            f"{inc.label} took effect between the last successful operation and the first "
            f"failure ({t_fail:.3f}s after the first fault was requested)",
        )
    if not candidates:
        inc = in_force[-1] if in_force else took[0]
        return Incident(
            inc,
            "before first failure",
            f"{inc.label} was the last fault in force before the first failure "
            f"({t_fail:.3f}s after the first fault was requested)",
        )
    return Incident(
        candidates[0],
        "before first failure",
        f"{len(candidates)} faults ({_names(candidates)}) took effect between the last "
        "successful operation and the first failure, so which one caused it cannot be told from "
        f"the history; measured from the earliest, {candidates[0].label}; mark the incident "
        "with incident: true",
        ambiguous=True,
        candidates=tuple(i.order for i in candidates),
    )
