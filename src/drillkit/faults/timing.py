"""Lead arithmetic: request each fault early by its latency so its *effect* lands on time.

A drill declares ``at`` (fault-phase start t0 -> the fault's effective time) and ``duration``
(effective -> heal-effective). Injecting takes time (a helper container, Docker's freezer), so
the Nemesis requests an injection ``lead`` seconds before it is due, and a heal ``heal lead``
seconds before the declared end. Leads start from each fault class's ``expected_latency_s`` and
are learnt from what this run measured. All pure: times in, times out (seconds, any clock).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

__all__ = ["MAX_SETTLE_S", "LatencyBook", "heal_due", "inject_due", "phase_offset"]

MAX_SETTLE_S = 0.05


def phase_offset(entries: Iterable[tuple[float, float]]) -> float:
    """How long after the nemesis starts t0 must be, so that no injection (``(at, lead)``
    pairs) is requested before t0: ``max(0, max(lead - at))``."""
    return max([0.0, *(lead - at for at, lead in entries)])


def inject_due(t0: float, at: float, lead: float) -> float:
    """When to request an injection declared at ``at`` so it is effective at ``t0 + at``."""
    return t0 + at - lead


def heal_due(effective: float, duration: float, lead: float) -> float:
    """When to request a heal so it is effective ``duration`` after the injection took effect."""
    return effective + duration - lead


@dataclass
class LatencyBook:
    """Request -> effective latencies per fault kind: expected, then the mean of those measured.

    A heal's latency is the measured heal latency of its kind if any, else the inject latency
    this very fault showed (the same mechanism undoes it), else the kind's expected latency.
    """

    expected: dict[str, float] = field(default_factory=dict)
    injects: dict[str, list[float]] = field(default_factory=dict)
    heals: dict[str, list[float]] = field(default_factory=dict)
    settles: dict[str, list[float]] = field(default_factory=dict)

    def inject_lead(self, kind: str) -> float:
        measured = self.injects.get(kind)
        return sum(measured) / len(measured) if measured else self.expected.get(kind, 0.0)

    def heal_lead(self, kind: str, inject_latency: float | None = None) -> float:
        measured = self.heals.get(kind)
        if measured:
            return sum(measured) / len(measured)
        return inject_latency if inject_latency is not None else self.expected.get(kind, 0.0)

    def settle(self, f: str) -> float:
        """How long an aimed action (``f``: its kind, or ``heal-<kind>``) took from its aim to
        its effect (the change itself: e.g. iptables-restore), mean of those measured; the
        schedule aims that much earlier."""
        measured = self.settles.get(f)
        return sum(measured) / len(measured) if measured else 0.0

    def learn_settle(self, f: str, seconds: float) -> None:
        """Learn an aimed action's aim->effect time; outside [0, MAX_SETTLE_S] it was not held
        (its helper started late), which says nothing about the change itself."""
        if 0.0 <= seconds <= MAX_SETTLE_S:
            self.settles.setdefault(f, []).append(seconds)

    def learn_inject(self, kind: str, seconds: float) -> None:
        self.injects.setdefault(kind, []).append(max(0.0, seconds))

    def learn_heal(self, kind: str, seconds: float) -> None:
        self.heals.setdefault(kind, []).append(max(0.0, seconds))
