"""Fault injections as the history records them: when each was requested, took effect and healed.

An injection is a ``fault`` completion that is not a ``heal-*``. The nemesis tags each fault op
with the drill-file entry it came from (``fault_entry``), the instance (``fault_slot``: entry x
repetition), whether the entry is marked as the incident, and the declared ``at`` / ``duration``.
A heal belongs to the injection with the same slot; histories without tags (older runs, hand-made
histories) pair a heal with the oldest unhealed injection of the same kind.

The time an injection took effect is the injector's own evidence (``effective_ns``) unless a write
or a read-back failed or went unanswered after the request and before that: then the fault was in
force no later than that failure (and never before the request).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from drillkit.history import Op, OpType
from drillkit.queries import FAULT_PROCESS, NEMESIS_PROCESS

__all__ = ["Injection", "first_failure_between", "injections", "phase_start_ns"]


@dataclass(frozen=True)
class Injection:
    """One injection of one fault and, if it was healed, its heal."""

    order: int  # position among the run's injections (0 = first)
    kind: str
    status: str  # "ok" (took effect) or "fail" (injection failed: nothing was injected)
    requested_ns: int
    reported_ns: int  # when the injector established the effect
    effective_ns: int  # reported_ns, or an earlier failure it explains (see the module docstring)
    effective_by: str | None
    entry: int | None
    slot: int | None
    marked: bool
    declared_at: float | None
    declared_duration: float | None
    value: Any
    heal_requested_ns: int | None = None
    healed_ns: int | None = None
    heal_status: str | None = None  # "ok", "fail", or None when never healed
    error: str | None = None

    @property
    def label(self) -> str:
        where = f"faults[{self.entry}]" if self.entry is not None else f"fault #{self.order + 1}"
        return f"{where} {self.kind}"


def first_failure_between(ops: Iterable[Op], start_ns: int, end_ns: int) -> int | None:
    """The completion time of the first write or read-back that failed or went unanswered in
    [start, end)."""
    return min(
        (
            op.time_ns
            for op in ops
            if op.f in ("write", "read-back")
            and op.type in (OpType.FAIL, OpType.INFO)
            and start_ns <= op.time_ns < end_ns
        ),
        default=None,
    )


def _float(v: Any) -> float | None:
    return float(v) if isinstance(v, int | float) and not isinstance(v, bool) else None


def _int(v: Any) -> int | None:
    return int(v) if isinstance(v, int) and not isinstance(v, bool) else None


def injections(ops: list[Op]) -> list[Injection]:
    """Every injection in the history, in order, each with its heal when there was one."""
    found: list[dict[str, Any]] = []
    invoked: dict[tuple[str, int | None], int] = {}
    for op in ops:
        if op.process != FAULT_PROCESS:
            continue
        slot = _int(op.extra.get("fault_slot"))
        if op.type is OpType.INVOKE:
            invoked[(op.f, slot)] = op.time_ns
            continue
        requested = int(op.extra.get("requested_ns", invoked.get((op.f, slot), op.time_ns)))
        if op.f.startswith("heal-"):
            kind = op.f.removeprefix("heal-")
            target = next(
                (
                    d
                    for d in found
                    if d["kind"] == kind
                    and d["heal_status"] is None
                    and (slot is None or d["slot"] == slot)
                ),
                None,
            )
            if target is not None:
                target["heal_status"] = op.type.value
                target["heal_requested_ns"] = requested
                if op.type is OpType.OK:
                    target["healed_ns"] = int(op.extra.get("effective_ns", op.time_ns))
            continue
        reported = int(op.extra.get("effective_ns", op.time_ns))
        found.append(
            {
                "order": len(found),
                "kind": op.f,
                "status": "ok" if op.type is OpType.OK else "fail",
                "requested_ns": requested,
                "reported_ns": reported,
                "effective_ns": reported,
                "effective_by": op.extra.get("effective_by"),
                "entry": _int(op.extra.get("fault_entry")),
                "slot": slot,
                "marked": op.extra.get("incident") is True,
                "declared_at": _float(op.extra.get("declared_at")),
                "declared_duration": _float(op.extra.get("declared_duration")),
                "value": op.value,
                "heal_requested_ns": None,
                "healed_ns": None,
                "heal_status": None,
                "error": op.error,
            }
        )
    result: list[Injection] = []
    for d in found:
        if d["status"] == "ok":
            early = first_failure_between(ops, d["requested_ns"], d["reported_ns"])
            if early is not None:
                d["effective_ns"] = early
        result.append(Injection(**d))
    return result


def phase_start_ns(ops: Iterable[Op]) -> tuple[int | None, float]:
    """When the fault phase started (the nemesis's ``start``) and the schedule tolerance."""
    for op in ops:
        if op.process == NEMESIS_PROCESS and op.f == "start" and op.type is OpType.OK:
            return op.time_ns, float(op.extra.get("tolerance_s", 0.05))
    return None, 0.05
