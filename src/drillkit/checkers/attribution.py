"""Per-fault attribution: what happened to writes while each fault was in force, and whether
the schedule was honoured.

A fault is in force from its effective time until its heal took effect (or the end of the history
when it was never healed). ``at`` is measured from the fault-phase start to the effective time,
``duration`` from the effective time to the heal's; a difference from what the drill file
declares larger than the nemesis's tolerance is reported as a note.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from dataclasses import dataclass

from drillkit.checkers.injections import Injection
from drillkit.checkers.writes import WriteOutcomes
from drillkit.history import OpType

__all__ = ["FaultWindow", "attribute", "schedule_notes"]

NS = 1_000_000_000


@dataclass(frozen=True)
class FaultWindow:
    injection: Injection
    incident: bool
    at_s: float | None  # effective time minus the fault-phase start
    duration_s: float | None  # heal-effective minus effective; None if never healed
    acknowledged: int  # writes acknowledged while the fault was in force
    lost: int  # of those, how many are absent from the final read (None-safe: 0 if unknown)
    failed: int  # writes that failed or went unanswered while the fault was in force


def _count(times: list[int], start: int, end: int) -> int:
    return bisect.bisect_left(times, end) - bisect.bisect_left(times, start)


def attribute(
    injected: list[Injection],
    outcomes: WriteOutcomes,
    lost: Iterable[int],
    *,
    incident_order: int | None,
    phase_start_ns: int | None,
    end_ns: int,
) -> list[FaultWindow]:
    acked = sorted(t for i, t in outcomes.completed_ns.items() if outcomes.outcome[i] is OpType.OK)
    lost_acks = sorted(outcomes.completed_ns[i] for i in lost if i in outcomes.completed_ns)
    failed = sorted(
        outcomes.completed_ns.get(i, outcomes.invoked_ns.get(i, 0))
        for i, t in outcomes.outcome.items()
        if t is not OpType.OK
    )
    windows: list[FaultWindow] = []
    for inj in injected:
        if inj.status != "ok":
            windows.append(FaultWindow(inj, inj.order == incident_order, None, None, 0, 0, 0))
            continue
        start = inj.effective_ns
        stop = inj.healed_ns if inj.healed_ns is not None else end_ns + 1
        windows.append(
            FaultWindow(
                injection=inj,
                incident=inj.order == incident_order,
                at_s=None if phase_start_ns is None else (start - phase_start_ns) / NS,
                duration_s=None if inj.healed_ns is None else (inj.healed_ns - start) / NS,
                acknowledged=_count(acked, start, stop),
                lost=_count(lost_acks, start, stop),
                failed=_count(failed, start, stop),
            )
        )
    return windows


def schedule_notes(windows: list[FaultWindow], tolerance_s: float) -> list[str]:
    """A note for every fault whose actual ``at`` or ``duration`` missed the declared one."""
    notes: list[str] = []
    for w in windows:
        inj = w.injection
        if inj.status != "ok":
            notes.append(f"{inj.label} was not injected: {inj.error or 'injection failed'}")
            continue
        if inj.declared_at is not None and w.at_s is not None:
            off = w.at_s - inj.declared_at
            if abs(off) > tolerance_s:
                notes.append(
                    f"{inj.label} took effect at {w.at_s:.3f}s, declared at: "
                    f"{inj.declared_at:g}s ({off * 1000:+.0f} ms; tolerance "
                    f"{tolerance_s * 1000:.0f} ms)"
                )
        if inj.declared_duration is not None:
            if w.duration_s is None:
                notes.append(
                    f"{inj.label} was declared to last {inj.declared_duration:g}s but its heal "
                    + ("failed" if inj.heal_status == "fail" else "never took effect")
                )
            elif abs(w.duration_s - inj.declared_duration) > tolerance_s:
                off = w.duration_s - inj.declared_duration
                notes.append(
                    f"{inj.label} was in force {w.duration_s:.3f}s, declared duration "
                    f"{inj.declared_duration:g}s ({off * 1000:+.0f} ms; tolerance "
                    f"{tolerance_s * 1000:.0f} ms)"
                )
    return notes
