"""The read-back probe: is data acknowledged before the fault phase still served?

A data-loss incident (``FLUSHALL``, a dropped table, a wiped volume) leaves new writes succeeding
at once, so the writers alone would call service restored while the data is still gone. From
``start_reads()`` (the runner calls it right before the fault phase) a reader, ``reader-0``, on
its own connection, reads back a random sample of the ids the writers had acknowledged by then,
at ``read_rate`` reads/s, each under the same deadline and abandonment discipline as a write
(:class:`~drillkit.workload.deadline.Lane`). What a missing id means is the checkers' call: a read
that completes is ``ok`` with the ids it found, however few.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Generic, TypeVar

from drillkit.history import History, OpType
from drillkit.queries import READER_PROCESS
from drillkit.spec import WorkloadSpec
from drillkit.workload.base import run_paced

if TYPE_CHECKING:
    from drillkit.workload.deadline import Lane

__all__ = ["PROCESS", "READ_BACK", "AckedIds", "ReadBack", "late_read"]

PROCESS = READER_PROCESS
READ_BACK = "read-back"

C = TypeVar("C")


class AckedIds:
    """The ids the writers saw acknowledged, in order; appended on the loop, read from anywhere."""

    def __init__(self) -> None:
        self._ids: list[int] = []
        self._lock = threading.Lock()

    def add(self, wid: int) -> None:
        with self._lock:
            self._ids.append(wid)

    def snapshot(self) -> tuple[int, ...]:
        with self._lock:
            return tuple(self._ids)


def late_read(sent: bool) -> OpType:
    """A read past its deadline (connecting or awaiting the answer) has an unknown result."""
    return OpType.INFO


class ReadBack(Generic[C]):
    """Reads back samples of ``pool`` until ``stop`` is set, recording each as an operation.

    invoke ``value`` = the sorted sample; ``ok`` ``value`` = the sorted ids found, ``found`` =
    how many; ``fail`` = the server answered with an error; ``info`` = deadline or broken
    connection. ``fail`` and ``info`` keep the invocation's value (the ids asked for).
    """

    def __init__(
        self,
        history: History,
        lane: Lane[C],
        *,
        read: Callable[[C, list[int]], Awaitable[list[int]]],
        classify: Callable[[BaseException], OpType],
        pool: tuple[int, ...],
        spec: WorkloadSpec,
        stop: threading.Event,
        rng: random.Random,
    ) -> None:
        self._history = history
        self._lane = lane
        self._read = read
        self._classify = classify
        self._pool = pool
        self._spec = spec
        self._stop = stop
        self._rng = rng

    def sample(self) -> list[int]:
        size = min(self._spec.read_sample, len(self._pool))
        return sorted(self._rng.sample(self._pool, size))

    async def run(self) -> None:
        if not self._pool or self._spec.read_rate == 0:
            return
        await run_paced(self._spec.read_rate, self._stop, self.read_once, self._lane.close)

    async def read_once(self) -> None:
        ids = self.sample()
        invocation = self._history.invoke(PROCESS, READ_BACK, ids)

        async def read(conn: C) -> list[int]:
            return await self._read(conn, ids)

        def classify(error: BaseException, sent: bool) -> OpType:
            return self._classify(error)

        outcome = await self._lane.run(read, classify, late_read)
        if outcome.type is OpType.OK:
            asked = set(ids)
            found = sorted({int(i) for i in outcome.result or ()} & asked)
            self._history.complete(invocation, OpType.OK, found, found=len(found))
        else:
            self._history.complete(invocation, outcome.type, error=outcome.error)
