"""The workload contract, and the pacing and outcome rules every client shares."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from drillkit.history import History
    from drillkit.spec import SteadyState, WorkloadSpec

__all__ = ["Client", "Disposable", "Pacer", "Workload", "run_paced", "writes_problem"]


@runtime_checkable
class Workload(Protocol):
    """Issues operations in the background and records each as invoke, then ok, fail or info.

    Rules: an operation is ``ok`` only when the server acknowledged it; ``fail`` only when it
    certainly did not happen (never sent, or rejected by the server); anything else, including a
    deadline that passed after the request was sent, is ``info``. No operation may stall the
    workload for longer than its deadline.
    """

    error: BaseException | None  # set if the workload itself crashed (not an op failing)

    def start(self) -> None: ...

    def start_reads(self) -> None:
        """Start the read-back probe; the runner calls it right before the fault phase.

        The pool is the write ids acknowledged (``ok``) before this call. From now until
        :meth:`stop`, process ``reader-0`` reads at ``read_rate`` reads/s (0: never), on its own
        connection to the server the writers use, each read under ``op_timeout_seconds``
        (connect included) like a write, and a late read is abandoned, never waited for. Each
        read is recorded as:

        - invoke: ``f="read-back"``, ``value`` = a random sample of the pool, ``read_sample``
          ids (or all of them if fewer), sorted ints;
        - ``ok``: the server answered; ``value`` = the sorted sampled ids it holds (maybe none:
          what a missing id means is for the checkers), ``extra.found`` = how many;
        - ``fail``: the server certainly answered with an error (a missing table, ``WRONGTYPE``);
        - ``info``: the deadline passed or the connection broke (or never opened).

        ``fail`` and ``info`` carry ``error`` and keep the invocation's value. With an empty
        pool nothing is recorded. Calling it again does nothing.
        """

    def stop(self) -> None: ...

    @property
    def ok_count(self) -> int: ...


@runtime_checkable
class Client(Protocol):
    """The workload's side of one database (Jepsen's client): it owns the data.

    Rules: it reaches the database only through the endpoints its topology hands out, never
    through the topology's admin operations. ``prepare`` creates what the writers write into
    (a table; nothing for a Redis set). ``read_ids`` is the final read: every id the workload
    wrote that survives, from whichever node serves writes now; it raises if it cannot tell.
    ``steady_state_problem`` judges the workload's part of the gate (enough acknowledged
    writes); the topology judges its own (replication, lag).
    """

    def prepare(self) -> None: ...

    def make_workload(self, history: History, spec: WorkloadSpec) -> Workload: ...

    def read_ids(self) -> list[int]: ...

    def steady_state_problem(self, workload: Workload, spec: SteadyState) -> str | None: ...


@runtime_checkable
class Disposable(Protocol):
    """A client whose data must not outlive the run (a probe table on a stack drillkit did not
    create). The runner calls ``dispose`` in ``finally``, after the workload stopped, also after
    Ctrl-C; it never raises and returns None, or what was left over and why."""

    def dispose(self) -> str | None: ...


def writes_problem(workload: Workload, spec: SteadyState) -> str | None:
    """Too few acknowledged writes for the gate, or None."""
    if workload.ok_count < spec.min_ok_writes:
        return f"{workload.ok_count} of {spec.min_ok_writes} writes acknowledged"
    return None


class Pacer:
    """Spaces operations at ``rate`` per second across all writers (0 = no pacing).

    After a stall the schedule restarts from now instead of bursting to catch up, so a recovery
    is not flattered by a backlog of queued writes.
    """

    def __init__(self, rate: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.interval = 1.0 / rate if rate > 0 else 0.0
        self._clock = clock
        self._next = clock()

    async def wait(self) -> None:
        if self.interval == 0.0:
            await asyncio.sleep(0)
            return
        now = self._clock()
        slot = max(self._next, now)
        self._next = slot + self.interval
        if slot > now:
            await asyncio.sleep(slot - now)


class _Stop(Protocol):
    def is_set(self) -> bool: ...


async def run_paced(
    rate: float,
    stop: _Stop,
    once: Callable[[], Awaitable[None]],
    close: Callable[[], Awaitable[None]],
) -> None:
    """Run ``once`` at ``rate`` per second until ``stop`` is set; ``close`` at the end, always
    (a reader's loop: the read-back probe and the readers)."""
    pacer = Pacer(rate)
    try:
        while not stop.is_set():
            await pacer.wait()
            if stop.is_set():
                break
            await once()
    finally:
        await close()
