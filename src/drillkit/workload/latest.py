"""Readers of the newest visible write: what a client reading a replica, or the application's
path, actually saw (staleness, monotonic reads, convergence; :mod:`drillkit.checkers.staleness`).

``workload.readers`` processes per source read, ``reader_rate`` times a second from the start
of the workload until it stops, the highest write id the source serves. A source is a replica
(each node that was a replica when the workload started, read directly: ``read_from:
[replicas]``) or the application's connection string (``client``, which follows the primary).
Each read runs on a :class:`~drillkit.workload.deadline.Lane`, under ``op_timeout_seconds`` like
a write, and is recorded as:

- invoke: process ``reader-<source>-<k>``, ``f="read-latest"``, ``extra.source`` = the node
  name or ``client``, ``extra.via`` = ``replica`` or ``client``;
- ``ok``: ``value`` = the highest id visible (0: none), ``extra.in_recovery`` = whether the
  server that answered was a standby, ``extra.rows`` = how many rows it holds, ``extra.upto`` =
  the highest id this reader had seen before the read, ``extra.present`` = how many of the rows
  have an id up to ``upto`` (a later read holding fewer of them than the read that first saw
  ``upto`` held rows is a monotonic-read violation: rows it had seen are gone);
- ``fail``: the server answered with an error; ``info``: the deadline passed or the connection
  broke or never opened (both carry ``error``).
"""

from __future__ import annotations

import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from drillkit.history import History, OpType
from drillkit.workload.base import run_paced
from drillkit.workload.readback import late_read

if TYPE_CHECKING:
    from drillkit.workload.deadline import Lane

__all__ = ["CLIENT_SOURCE", "READ_LATEST", "LatestReader", "Seen", "reader_process"]

READ_LATEST = "read-latest"
CLIENT_SOURCE = "client"

C = TypeVar("C")


@dataclass(frozen=True, slots=True)
class Seen:
    """What one read saw: the highest id visible (0: none), whether a standby answered, and
    (when the source can count) how many rows it holds and how many of them have an id up to
    the reader's highest id so far (``upto``)."""

    highest: int
    in_recovery: bool | None = None
    rows: int | None = None
    present: int | None = None


def reader_process(source: str, k: int) -> str:
    """``reader-<source>-<k>``: one reader process (never ``reader-0``, the read-back probe)."""
    return f"reader-{source}-{k}"


class LatestReader(Generic[C]):
    """Reads the highest visible id from one source until ``stop`` is set, recording each."""

    def __init__(
        self,
        history: History,
        lane: Lane[C],
        *,
        process: str,
        source: str,
        read: Callable[[C, int], Awaitable[Seen]],
        classify: Callable[[BaseException], OpType],
        rate: float,
        stop: threading.Event,
    ) -> None:
        self._history = history
        self._lane = lane
        self.process = process
        self.source = source
        self._read = read
        self._classify = classify
        self._rate = rate
        self._stop = stop
        self._upto = 0  # the highest id this reader has seen so far

    @property
    def via(self) -> str:
        return "client" if self.source == CLIENT_SOURCE else "replica"

    async def run(self) -> None:
        await run_paced(self._rate, self._stop, self.read_once, self._lane.close)

    async def read_once(self) -> None:
        invocation = self._history.invoke(
            self.process, READ_LATEST, source=self.source, via=self.via
        )

        def classify(error: BaseException, sent: bool) -> OpType:
            return self._classify(error)

        upto = self._upto

        async def read(conn: C) -> Seen:
            return await self._read(conn, upto)

        outcome = await self._lane.run(read, classify, late_read)
        seen = outcome.result
        if outcome.type is OpType.OK and seen is not None:
            counted: dict[str, Any] = {}
            if seen.rows is not None:
                counted.update(rows=seen.rows, upto=upto)
            if seen.present is not None:
                counted["present"] = seen.present
            self._history.complete(
                invocation,
                OpType.OK,
                seen.highest,
                source=self.source,
                via=self.via,
                in_recovery=seen.in_recovery,
                **counted,
            )
            self._upto = max(self._upto, seen.highest)
        else:
            kind = OpType.INFO if outcome.type is OpType.OK else outcome.type
            self._history.complete(
                invocation, kind, error=outcome.error, source=self.source, via=self.via
            )
