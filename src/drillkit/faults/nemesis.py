"""The Nemesis: the thread that runs a fault plan (:func:`drillkit.faults.schedule.plan`).

It runs with an injected clock and sleep, and heals whatever is still injected when it is
stopped. What is honoured: ``at`` is measured from the fault-phase start ``t0`` to the fault's
*effective* time, ``duration`` from effective to heal-effective. The Nemesis requests each action
early by its expected latency (:mod:`drillkit.faults.timing`), learnt per kind from what this run
measured, and schedules each heal from its own injection's effective time. It records ``nemesis
start`` at t0 (``tolerance_s``: the difference between declared and achieved times it aims
within), and tags every fault op with its entry, slot, ``incident`` flag and declared
``at``/``duration``. Actions run one at a time, so an action due while another runs is late by
that much.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

from drillkit.faults.base import Aimable, Fault, FaultFailed, FaultTopology
from drillkit.faults.schedule import plan
from drillkit.faults.timing import LatencyBook, heal_due, inject_due, phase_offset
from drillkit.history import History, Op, OpType
from drillkit.queries import FAULT_PROCESS, NEMESIS_PROCESS

__all__ = ["TOLERANCE_S", "Nemesis", "fault_completion"]

TOLERANCE_S = 0.05
_NS = 1_000_000_000


def fault_completion(ops: Sequence[Op], slot: int, f: str) -> Op | None:
    """The newest completion of fault op ``f`` tagged with ``fault_slot == slot``."""
    for op in reversed(ops):
        tagged = op.extra.get("fault_slot") == slot
        if tagged and op.process == FAULT_PROCESS and op.f == f and op.is_completion:
            return op
    return None


def _expected_latency(kind: str) -> float:
    from drillkit.faults import FAULTS  # the registry imports this package's modules

    return float(getattr(FAULTS.get(kind), "expected_latency_s", 0.0))


@dataclass
class _Pending:
    """An action not yet requested; heals know their injection's effective time."""

    action: Literal["heal", "inject"]
    slot: int
    entry: int
    declared_at: float
    duration: float | None
    base_ns: int = 0  # heal: the injection's effective time
    inject_latency: float | None = None


class Nemesis:
    """Runs a plan in a background thread; ``heal_all`` undoes whatever is still injected.

    Each action runs in its own thread (``spawn``), so a slow action does not delay the next one;
    a fault that can aim (:class:`~drillkit.faults.base.Aimable`) is told the moment its effect
    is due and holds it until then. Runner API: ``t0_ns`` (monotonic ns of the fault-phase
    start, set by ``start``), ``effect_event(entry)`` (set once that entry's first injection
    completed, ok or fail; ``None``: any injection), ``wait``, ``errors``, ``heal_all``.
    """

    def __init__(
        self,
        specs: Sequence[Any],
        topology: FaultTopology,
        history: History,
        make_fault: Callable[[Any], Fault],
        *,
        clock: Callable[[], int] = time.monotonic_ns,
        progress: Callable[[str], None] = lambda _m: None,
        expected_latency: Callable[[str], float] = _expected_latency,
        tolerance_s: float = TOLERANCE_S,
        spawn: Callable[[Callable[[], None]], Any] | None = None,
    ) -> None:
        self.specs = specs
        self.events = plan(specs)
        self.topology = topology
        self.history = history
        self.make_fault = make_fault
        self.clock = clock
        self.progress = progress
        self.tolerance_s = tolerance_s
        self.latency = LatencyBook({s.kind: expected_latency(s.kind) for s in specs})
        self.active: dict[int, Fault] = {}
        self.first_effect = threading.Event()  # set after the first injection (or when done)
        self.done = threading.Event()
        self.errors: list[str] = []
        self.t0_ns: int | None = None
        self._spawn = spawn or self._in_thread
        self._effects: dict[int | None, threading.Event] = {None: self.first_effect}
        self._views: dict[int, History] = {}
        self._pending: list[_Pending] = []
        self._busy = 0
        self._workers: list[threading.Thread] = []
        self._stop = threading.Event()
        self._wake = threading.Event()  # stop, or an action finished (a heal may be due sooner)
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def effect_event(self, entry: int | None = None) -> threading.Event:
        """Set when entry ``entry``'s first injection completed (ok or fail), or when the
        schedule ended; ``None``: the first injection of any entry."""
        with self._lock:
            event = self._effects.setdefault(entry, threading.Event())
            if self.done.is_set():
                event.set()
            return event

    def start(self) -> None:
        injects = [e for e in self.events if e.action == "inject"]
        offset = phase_offset(
            (e.at, self.latency.inject_lead(self.specs[e.entry].kind)) for e in injects
        )
        self.t0_ns = self.clock() + round(offset * _NS)
        durations = {e.slot: e.at for e in self.events if e.action == "heal"}
        self._pending = [
            _Pending("inject", e.slot, e.entry, e.at, _minus(durations.get(e.slot), e.at))
            for e in injects
        ]
        self._thread = threading.Thread(target=self._run, name="drillkit-nemesis", daemon=True)
        self._thread.start()

    def _in_thread(self, work: Callable[[], None]) -> None:
        worker = threading.Thread(target=work, name="drillkit-nemesis-action", daemon=True)
        self._workers.append(worker)
        worker.start()

    def _aim_ns(self, item: _Pending) -> int:
        """When the action's effect is due: t0 + at, or the injection's effect + duration."""
        assert self.t0_ns is not None
        if item.action == "inject":
            return self.t0_ns + round(item.declared_at * _NS)
        return item.base_ns + round((item.duration or 0.0) * _NS)

    def _due_ns(self, item: _Pending) -> int:
        """When to request the action: its aim minus the expected latency."""
        kind = self.specs[item.entry].kind
        if item.action == "inject":
            assert self.t0_ns is not None
            lead = self.latency.inject_lead(kind)
            return self.t0_ns + round(inject_due(0.0, item.declared_at, lead) * _NS)
        lead = self.latency.heal_lead(kind, item.inject_latency)
        return item.base_ns + round(heal_due(0.0, item.duration or 0.0, lead) * _NS)

    def _next(self) -> _Pending | None:
        with self._lock:
            self._wake.clear()
            if not self._pending:
                return None
            return min(self._pending, key=lambda p: (self._due_ns(p), p.action != "heal", p.slot))

    def _run(self) -> None:
        assert self.t0_ns is not None
        started = False
        try:
            while not self._stop.is_set():
                item = self._next()
                if item is None:
                    with self._lock:
                        idle = self._busy == 0
                    if idle:
                        break
                    self._wake.wait()  # an action in flight may add its heal
                    continue
                due = self._due_ns(item)
                if not started and due >= self.t0_ns:
                    due, record_start = self.t0_ns, True
                else:
                    record_start = False
                delay = (due - self.clock()) / _NS
                if delay > 0 and self._wake.wait(delay):
                    continue  # woken: stopped, or something changed; look again
                if record_start:
                    started = self._record_start()
                    continue
                with self._lock:
                    self._pending.remove(item)
                    self._busy += 1
                self._spawn(lambda item=item: self._act(item))  # type: ignore[misc]
            if not started and not self._stop.is_set():
                delay = (self.t0_ns - self.clock()) / _NS
                if delay <= 0 or not self._wake.wait(delay):
                    self._record_start()
        finally:
            for worker in list(self._workers):
                worker.join(timeout=120)
            with self._lock:
                self.done.set()
                events = list(self._effects.values())
            for event in events:
                event.set()

    def _act(self, item: _Pending) -> None:
        try:
            if item.action == "heal":
                self._heal_slot(item)
            else:
                follow = self._inject(item)
                if follow is not None:
                    with self._lock:
                        self._pending.append(follow)
        finally:
            with self._lock:
                self._busy -= 1
            self._wake.set()

    def _record_start(self) -> bool:
        """The fault phase starts at t0: what ``at`` is measured from."""
        assert self.t0_ns is not None
        self.history.append(
            NEMESIS_PROCESS, OpType.OK, "start", time_ns=self.t0_ns, tolerance_s=self.tolerance_s
        )
        return True

    def _inject(self, item: _Pending) -> _Pending | None:
        spec = self.specs[item.entry]
        fault = self.make_fault(spec)
        view = self.history.tagged(
            fault_entry=item.entry,
            fault_slot=item.slot,
            incident=bool(getattr(spec, "incident", False)),
            declared_at=item.declared_at,
            declared_duration=spec.duration,
        )
        with self._lock:
            self.active[item.slot] = fault
            self._views[item.slot] = view
        self.progress(f"injecting {spec.kind} (faults[{item.entry}])")
        called = self.clock()  # the lead covers resolving targets too, not only the record
        aimed = self._aim(fault, spec.kind, self._aim_ns(item))
        try:
            fault.inject(self.topology, view)
        except FaultFailed as e:  # recorded as 'fail' by the fault; the drill goes on
            self.errors.append(f"faults[{item.entry}] {spec.kind}: {e}")
        except Exception as e:  # refused before anything was recorded
            self.errors.append(f"faults[{item.entry}] {spec.kind}: {e}")
            view.append(
                FAULT_PROCESS, OpType.FAIL, spec.kind, error=f"{type(e).__name__}: {e}"[:500]
            )
        done = fault_completion(self.history.ops(), item.slot, spec.kind)
        self._settled(spec.kind, aimed, done)
        lead = _latency(done, called)
        latency = _latency(done)  # its heal needs no target resolution: record to effect only
        with self._lock:
            if lead is not None:
                self.latency.learn_inject(spec.kind, lead)
        self.effect_event(item.entry).set()
        self.first_effect.set()
        if item.duration is None:
            return None
        effective = _effective(done)
        base = effective if effective is not None else self._aim_ns(item)
        return replace(item, action="heal", base_ns=base, inject_latency=latency)

    def _heal_slot(self, item: _Pending) -> None:
        with self._lock:
            fault = self.active.pop(item.slot, None)
        if fault is not None:
            self.progress(f"healing {fault.kind} (faults[{item.entry}])")
            self._heal(item.slot, fault, self._aim_ns(item))

    def _heal(self, slot: int, fault: Fault, aim_ns: int | None = None) -> None:
        view = self._views.get(slot, self.history)
        called = self.clock()
        aimed = self._aim(fault, f"heal-{fault.kind}", aim_ns)
        try:
            fault.heal(self.topology, view)
        except FaultFailed as e:  # recorded once, by the fault
            self.errors.append(f"heal {fault.kind}: {e}")
        except Exception as e:  # one failed heal must not stop the others
            self.errors.append(f"heal {fault.kind}: {e}")
            view.append(FAULT_PROCESS, OpType.FAIL, f"heal-{fault.kind}", error=str(e))
        done = fault_completion(self.history.ops(), slot, f"heal-{fault.kind}")
        self._settled(f"heal-{fault.kind}", aimed, done)
        latency = _latency(done, called)
        if latency is not None and aim_ns is not None:
            with self._lock:
                self.latency.learn_heal(fault.kind, latency)

    def _aim(self, fault: Fault, f: str, at_ns: int | None) -> int | None:
        """Tell an Aimable fault when to act: the moment, less what its change takes."""
        if not isinstance(fault, Aimable):
            return None
        with self._lock:
            settle = self.latency.settle(f)
        fault.aim_ns = None if at_ns is None else at_ns - round(settle * _NS)
        return fault.aim_ns

    def _settled(self, f: str, aimed: int | None, done: Op | None) -> None:
        effective = _effective(done)
        if aimed is not None and effective is not None:
            with self._lock:
                self.latency.learn_settle(f, (effective - aimed) / _NS)

    def wait(self, timeout: float | None = None) -> bool:
        return self.done.wait(timeout)

    def stop(self) -> None:
        """Stop scheduling (pending actions are dropped), wait for the thread and the actions
        in flight."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=120)

    def heal_all(self) -> None:
        """Heal every fault still injected, newest first, at once. Called in ``finally``."""
        self.stop()
        with self._lock:
            remaining = [(s, self.active.pop(s)) for s in sorted(self.active, reverse=True)]
        for slot, fault in remaining:
            self._heal(slot, fault)


def _minus(end: float | None, start: float) -> float | None:
    return None if end is None else end - start


def _latency(op: Op | None, called_ns: int | None = None) -> float | None:
    """Seconds to the effect of an ``ok`` completion from ``called_ns`` (the Nemesis calling the
    fault: target resolution included), else from the recorded request."""
    if op is None or op.type is not OpType.OK or "requested_ns" not in op.extra:
        return None
    start = int(op.extra["requested_ns"]) if called_ns is None else called_ns
    return (int(op.extra.get("effective_ns", op.time_ns)) - start) / _NS


def _effective(op: Op | None) -> int | None:
    if op is None or op.type is not OpType.OK:
        return None
    return int(op.extra.get("effective_ns", op.time_ns))
