"""The fault schedule: when each fault is injected and healed, and the thread that does it.

``plan`` is pure arithmetic on the drill's fault entries (``at``, ``duration``, ``repeat``), so it
is unit-tested without containers or real time. :class:`Nemesis` runs a plan with an injected
clock and sleep, and heals whatever is still injected when it is stopped.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from drillkit.faults.base import Fault, FaultTopology
from drillkit.history import History, OpType

__all__ = ["Event", "Nemesis", "plan"]


@dataclass(frozen=True, order=True)
class Event:
    """One scheduled action. Heals sort before injections due at the same moment."""

    at: float
    order: int  # 0 = heal, 1 = inject
    slot: int  # which fault instance (entry x repetition)
    entry: int  # index of the fault entry in the drill file
    action: Literal["heal", "inject"]


def plan(specs: Sequence[Any]) -> list[Event]:
    """Expand fault entries into timed inject/heal events, sorted by time."""
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


class Nemesis:
    """Runs a plan in a background thread; ``heal_all`` undoes whatever is still injected."""

    def __init__(
        self,
        specs: Sequence[Any],
        topology: FaultTopology,
        history: History,
        make_fault: Callable[[Any], Fault],
        *,
        clock: Callable[[], float] = time.monotonic,
        progress: Callable[[str], None] = lambda _m: None,
    ) -> None:
        self.specs = specs
        self.events = plan(specs)
        self.topology = topology
        self.history = history
        self.make_fault = make_fault
        self.clock = clock
        self.progress = progress
        self.active: dict[int, Fault] = {}
        self.first_effect = threading.Event()  # set after the first injection (or when done)
        self.done = threading.Event()
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="drillkit-nemesis", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        started = self.clock()
        try:
            for event in self.events:
                delay = started + event.at - self.clock()
                if delay > 0 and self._stop.wait(delay):
                    return
                if self._stop.is_set():
                    return
                self._do(event)
        finally:
            self.first_effect.set()
            self.done.set()

    def _do(self, event: Event) -> None:
        spec = self.specs[event.entry]
        if event.action == "inject":
            fault = self.make_fault(spec)
            with self._lock:
                self.active[event.slot] = fault
            self.progress(f"injecting {spec.kind} (faults[{event.entry}])")
            try:
                fault.inject(self.topology, self.history)
            except Exception as e:  # recorded as 'fail' by the fault; the drill goes on
                self.errors.append(f"faults[{event.entry}] {spec.kind}: {e}")
            self.first_effect.set()
            return
        with self._lock:
            fault_or_none = self.active.pop(event.slot, None)
        if fault_or_none is not None:
            self.progress(f"healing {spec.kind} (faults[{event.entry}])")
            self._heal(fault_or_none)

    def _heal(self, fault: Fault) -> None:
        try:
            fault.heal(self.topology, self.history)
        except Exception as e:  # one failed heal must not stop the others
            self.errors.append(f"heal {fault.kind}: {e}")
            self.history.append("fault", OpType.FAIL, f"heal-{fault.kind}", error=str(e))

    def wait(self, timeout: float | None = None) -> bool:
        return self.done.wait(timeout)

    def stop(self) -> None:
        """Stop scheduling (pending injections are dropped) and wait for the thread."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=60)

    def heal_all(self) -> None:
        """Heal every fault still injected, newest first. Always called in ``finally``."""
        self.stop()
        with self._lock:
            remaining = [self.active.pop(slot) for slot in sorted(self.active, reverse=True)]
        for fault in remaining:
            self._heal(fault)
