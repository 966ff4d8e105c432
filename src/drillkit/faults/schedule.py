"""The fault schedule: when each fault is injected and healed.

``plan`` is pure arithmetic on the drill's fault entries (``at``, ``duration``, ``repeat``), so it
is unit-tested without containers or real time. :class:`~drillkit.faults.nemesis.Nemesis` runs a
plan.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

__all__ = ["Event", "plan"]


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
