"""The fault schedule: when each fault is injected and healed.

``plan`` is pure arithmetic on the drill's fault entries (``at``, ``duration``, ``repeat``), so it
is unit-tested without containers or real time. :class:`~drillkit.faults.nemesis.Nemesis` runs a
plan (it is also importable from here, loaded on first use: it imports this module).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from drillkit.faults.nemesis import TOLERANCE_S, Nemesis, fault_completion

__all__ = ["TOLERANCE_S", "Event", "Nemesis", "fault_completion", "plan"]


@dataclass(frozen=True, order=True)
class Event:
    """One scheduled action. Heals sort before injections due at the same moment."""

    at: float
    order: int  # 0 = heal, 1 = inject
    slot: int  # which fault instance (entry x repetition)
    entry: int  # index of the fault entry in the drill file
    action: Literal["heal", "inject"]


def plan(specs: Sequence[Any]) -> list[Event]:
    """Expand fault entries into timed inject/heal events (declared times), sorted by time."""
    events: list[Event] = []
    slot = 0
    for entry, spec in enumerate(specs):
        times = spec.repeat.times if spec.repeat is not None else 1
        every = spec.repeat.every if spec.repeat is not None else 0.0
        for k in range(times):
            start = spec.at + k * every
            events.append(Event(start, 1, slot, entry, "inject"))
            if spec.duration is not None:
                events.append(Event(start + spec.duration, 0, slot, entry, "heal"))
            slot += 1
    return sorted(events)


def __getattr__(name: str) -> Any:
    """The Nemesis's names, from :mod:`drillkit.faults.nemesis` (a lazy import: no cycle)."""
    if name in ("TOLERANCE_S", "Nemesis", "fault_completion"):
        from drillkit.faults import nemesis

        return getattr(nemesis, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
