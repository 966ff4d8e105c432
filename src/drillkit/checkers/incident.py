"""The incident: the one fault that RPO and RTO are measured from.

A drill may inject several faults (a harmless one first, a replication cut before a crash, a
chaos phase). RPO and RTO are measured from the *incident*, chosen by the first rule that applies:

1. ``marked``: the first injection that took effect of the entry marked ``incident: true``. If
   the marked entry never took effect there is no incident (verdict ``unknown``).
2. ``only fault``: exactly one injection took effect.
3. ``worst outage``: the history is cut into *outages*: each starts at a failure (a write, or a
   read-back of surviving data, completed after the first injection was requested that failed,
   went unanswered, or did not serve the data) and ends when service is stably restored (the
   RTO rule, with the drill's stable window) or at the end of the history. Each outage is
   attributed to the fault that took effect between the invocation of the last operation that
   succeeded before its first failure and that failure; if none did (an effect that built up,
   e.g. a filling disk), to the last fault in force before it. The incident is the fault of the
   longest outage, measured from that fault's effective time (a brief blip under a harmless
   fault does not hide the crash that follows). If several faults took effect within that
   window, the incident is **ambiguous**: the earliest of them is used (the conservative
   choice: larger RPO and RTO) and the verdict is ``unknown`` until one is marked.
4. ``no failure``: nothing failed: the first fault. If acknowledged writes were nevertheless lost
   and several faults took effect, which one lost them cannot be told from the history: ambiguous.
"""

from __future__ import annotations

from dataclasses import dataclass

from drillkit.checkers.injections import Injection
from drillkit.checkers.readback import Read
from drillkit.checkers.rto import stable_since
from drillkit.checkers.writes import WriteOutcomes
from drillkit.history import OpType

__all__ = ["Incident", "select_incident"]

NS = 1_000_000_000


@dataclass(frozen=True)
class Incident:
    injection: Injection | None
    rule: str  # marked | only fault | worst outage | no failure | none
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
    window_ns: int = NS,
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
    outages = _outages(events, first_request, window_ns)
    if not outages:
        if lost_count:
            return _ambiguous(
                took,
                "no failure",
                f"no operation failed, yet {lost_count} acknowledged writes were lost and "
                f"{len(took)} faults took effect ({_names(took)}): which one lost them cannot be "
                "told from the history",
            )
        return Incident(
            took[0], "no failure", f"no operation failed: the first fault, {took[0].label}"
        )
    end_ns = max(max(e.done_ns for e in events), max(e.invoked_ns for e in events))
    best: tuple[int, _Event, int | None, list[Injection], list[Injection]] | None = None
    for failure, restored in outages:
        last_ok = max(
            (e.invoked_ns for e in events if e.ok and e.invoked_ns < failure.invoked_ns),
            default=None,
        )
        in_force = [i for i in took if i.effective_ns <= failure.done_ns]
        candidates = [i for i in in_force if last_ok is None or i.effective_ns > last_ok]
        cause = candidates[0] if candidates else (in_force[-1] if in_force else took[0])
        length = (restored if restored is not None else end_ns) - cause.effective_ns
        if best is None or length > best[0]:
            best = (length, failure, restored, candidates, in_force)
    assert best is not None
    length, failure, restored, candidates, in_force = best
    t_fail = (failure.done_ns - first_request) / NS
    span = "never restored" if restored is None else f"{length / NS:.3f}s"
    where = (
        f"the longest of {len(outages)} outages ({span}; first failure {t_fail:.3f}s after the "
        "first fault was requested)"
        if len(outages) > 1
        else f"the outage ({span}; first failure {t_fail:.3f}s after the first fault was requested)"
    )
    if len(candidates) == 1:
        inc = candidates[0]
        return Incident(
            inc,
            "worst outage",
            f"{inc.label} took effect between the last successful operation and the first "
            f"failure of {where}",
        )
    if not candidates:
        inc = in_force[-1] if in_force else took[0]
        return Incident(
            inc, "worst outage", f"{inc.label} was the last fault in force before {where}"
        )
    return _ambiguous(
        candidates,
        "worst outage",
        f"{len(candidates)} faults ({_names(candidates)}) took effect between the last "
        f"successful operation and the first failure of {where}, so which one caused it cannot "
        f"be told from the history; measured from the earliest, {candidates[0].label}",
    )


def _ambiguous(candidates: list[Injection], rule: str, why: str) -> Incident:
    """Measured from the earliest candidate (larger RPO and RTO); the verdict will be unknown."""
    return Incident(
        candidates[0],
        rule,
        f"{why}; mark the incident with incident: true",
        ambiguous=True,
        candidates=tuple(i.order for i in candidates),
    )


def _outages(
    events: list[_Event], first_request: int, window_ns: int
) -> list[tuple[_Event, int | None]]:
    """(first failure, restored time or None) of each outage after ``first_request``."""
    bad = sorted(
        (e for e in events if not e.ok and e.done_ns >= first_request), key=lambda e: e.done_ns
    )
    if not bad:
        return []
    oks = sorted((e.done_ns, e.invoked_ns) for e in events if e.ok)
    bad_invokes = sorted(e.invoked_ns for e in events if not e.ok)
    last_invoke = max(e.invoked_ns for e in events)
    outages: list[tuple[_Event, int | None]] = []
    k = 0
    while k < len(bad):
        failure = bad[k]
        restored = stable_since(
            [(done, inv) for done, inv in oks if done > failure.done_ns],
            bad_invokes,
            last_invoke,
            window_ns,
        )
        outages.append((failure, restored))
        if restored is None:
            break
        while k < len(bad) and bad[k].done_ns <= restored:
            k += 1
    return outages
