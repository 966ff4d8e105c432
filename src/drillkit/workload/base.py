"""The workload contract, and the pacing and outcome rules every client shares."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Protocol, runtime_checkable

__all__ = ["Pacer", "Workload"]


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

    def stop(self) -> None: ...

    @property
    def ok_count(self) -> int: ...


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
