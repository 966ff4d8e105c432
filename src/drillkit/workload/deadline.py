"""The loop every client shares: paced operations, each under its own deadline, never a stall.

Each operation (finding the server and connecting included) runs in its own task and is given
``op_timeout_seconds``. Client libraries, when cancelled mid-request, may wait a long time for the
server to acknowledge the cancel (psycopg waits up to 10 s), which against a paused or blackholed
server would freeze the probe; so a late operation is *abandoned* instead: recorded as the
operation's late outcome (a write: ``info`` if the request had been sent, it may still happen, or
``fail`` if not; a read: ``info``), its connection closed once it returns, and the process carries
on at once with a fresh connection. :class:`Lane` is that discipline for one process and any
operation; :class:`DeadlineWriter` runs the writers on it and, from :meth:`start_reads`, the
read-back probe (:mod:`drillkit.workload.readback`). Subclasses say only how to connect, write,
read, classify an error and close.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import threading
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from drillkit.history import History, OpType
from drillkit.spec import WorkloadSpec
from drillkit.workload.base import Pacer
from drillkit.workload.latest import LatestReader
from drillkit.workload.readback import AckedIds, ReadBack

__all__ = ["Connections", "DeadlineWriter", "Lane", "Outcome"]

C = TypeVar("C")
R = TypeVar("R")
Classify = Callable[[BaseException, bool], OpType]  # (error, sent) -> fail or info


@dataclass(frozen=True, slots=True)
class Outcome(Generic[R]):
    """How one operation ended: ``ok`` with its result, or ``fail``/``info`` with why."""

    type: OpType
    result: R | None = None
    error: str | None = None


class Connections(Protocol[C]):
    """What a :class:`Lane` needs to open, reuse and discard connections."""

    connecting: str  # what the process was doing before the request was sent

    async def connect(self) -> C: ...

    async def close(self, conn: C) -> None: ...

    def usable(self, conn: C) -> bool: ...

    def keeps_connection(self, error: BaseException) -> bool: ...


class _Attempt(Generic[C]):
    """One operation in flight: how far it got decides its outcome if it never returns."""

    def __init__(self) -> None:
        self.sent = False
        self.conn: C | None = None


async def _finished_within(task: asyncio.Task[Any], seconds: float) -> bool:
    """Whether ``task`` finished within ``seconds``; it is never cancelled. What
    ``asyncio.wait({task}, timeout=...)`` does, without its sets and extra callbacks: this
    runs once per operation, thousands of times a second."""
    loop = asyncio.get_running_loop()
    waiter: asyncio.Future[None] = loop.create_future()

    def wake(_: object = None) -> None:
        if not waiter.done():
            waiter.set_result(None)

    task.add_done_callback(wake)
    timer = loop.call_later(seconds, wake)
    try:
        await waiter
    finally:
        timer.cancel()
        task.remove_done_callback(wake)
    return task.done()


def late_write(sent: bool) -> OpType:
    """A write past its deadline may still happen once sent (``info``); unsent, it cannot."""
    return OpType.INFO if sent else OpType.FAIL


class Lane(Generic[C]):
    """One process's connection, and the deadline discipline of every operation it runs.

    :meth:`run` never takes longer than ``deadline`` (plus closing a connection that failed):
    a late operation is abandoned to ``abandoned`` and finishes, or fails, on its own.
    """

    def __init__(
        self,
        connections: Connections[C],
        deadline: float,
        abandoned: set[asyncio.Task[Any]],
        *,
        patient_connect: bool = False,
        patience: float | None = None,
    ) -> None:
        self._connections = connections
        self._deadline = deadline
        self._abandoned = abandoned
        self._conn: C | None = None
        # patient_connect: a connection attempt outlives the operation that started it, and the
        # next operation waits on it rather than opening another. Against a frozen server every
        # abandoned attempt would otherwise queue in its accept backlog and slow its recovery.
        # ``patience`` bounds that: an attempt older than it is left to finish on its own and the
        # next operation starts another (a SYN lost to a partition must not hold the lane).
        self._patient = patient_connect
        self._patience = patience
        self._connecting: asyncio.Task[C] | None = None
        self._connect_started = 0.0

    async def run(
        self,
        operation: Callable[[C], Awaitable[R]],
        classify: Classify,
        late: Callable[[bool], OpType],
    ) -> Outcome[R]:
        attempt: _Attempt[C] = _Attempt()
        task = asyncio.create_task(self._attempt(attempt, operation))
        if not await _finished_within(task, self._deadline):
            phase = "awaiting the server" if attempt.sent else self._connections.connecting
            self._abandon(task, attempt)
            self._conn = None
            return Outcome(
                late(attempt.sent), error=f"deadline of {self._deadline}s passed while {phase}"
            )
        error = task.exception()
        if error is None:
            self._conn = attempt.conn
            return Outcome(OpType.OK, task.result())
        outcome: Outcome[R] = Outcome(
            classify(error, attempt.sent),
            error=f"{type(error).__name__}: {str(error).strip()[:300]}",
        )
        if attempt.sent and self._connections.keeps_connection(error):
            self._conn = attempt.conn
        else:
            if attempt.conn is not None:
                await self._connections.close(attempt.conn)
            self._conn = None
        return outcome

    async def close(self) -> None:
        if self._conn is not None:
            await self._connections.close(self._conn)
            self._conn = None
        task, self._connecting = self._connecting, None
        if task is not None and task.done() and not task.cancelled() and not task.exception():
            await self._connections.close(task.result())  # connected after its operation left

    async def _attempt(self, attempt: _Attempt[C], operation: Callable[[C], Awaitable[R]]) -> R:
        conn = self._conn
        if conn is None or not self._connections.usable(conn):
            conn = await (self._pending_connect() if self._patient else self._connections.connect())
        attempt.conn = conn
        attempt.sent = True
        return await operation(conn)

    async def _pending_connect(self) -> C:
        """The connection attempt in flight (or a new one), shielded from the operation's
        abandonment; a finished attempt is handed to one operation only."""
        task = self._connecting
        loop = asyncio.get_running_loop()
        if task is not None and task.done() and (task.cancelled() or task.exception()):
            task = None  # that attempt failed while no operation waited: try afresh
        elif (
            task is not None
            and not task.done()
            and self._patience is not None
            and loop.time() - self._connect_started > self._patience
        ):
            self._discard_when_done(task)  # waited long enough on that one
            task = None
        if task is None:
            task = loop.create_task(self._connections.connect())
            self._connecting, self._connect_started = task, loop.time()
            self._abandoned.add(task)  # cancelled with the others when the loop stops
            task.add_done_callback(self._abandoned.discard)
        try:
            return await asyncio.shield(task)
        finally:
            if task.done() and self._connecting is task:
                self._connecting = None

    def _discard_when_done(self, task: asyncio.Task[C]) -> None:
        """A connection attempt nobody waits for any more: close what it connects."""

        def _done(t: asyncio.Task[C]) -> None:
            if not t.cancelled() and t.exception() is None:
                asyncio.get_running_loop().create_task(self._connections.close(t.result()))

        task.add_done_callback(_done)

    def _abandon(self, task: asyncio.Task[Any], attempt: _Attempt[C]) -> None:
        """Let a late operation finish or fail on its own; its connection is closed afterwards."""
        self._abandoned.add(task)

        def _done(t: asyncio.Task[Any]) -> None:
            self._abandoned.discard(t)
            if not t.cancelled():
                t.exception()  # retrieve it so asyncio does not log "never retrieved"
            if attempt.conn is not None:
                asyncio.get_running_loop().create_task(self._connections.close(attempt.conn))

        task.add_done_callback(_done)
        task.cancel()


class DeadlineWriter(ABC, Generic[C]):
    """Runs ``spec.writers`` writers with unique increasing ids on a private event loop, and
    from :meth:`start_reads` the read-back probe on its own connection on the same loop."""

    connecting = "connecting"  # what the process was doing before the request was sent

    def __init__(
        self,
        history: History,
        spec: WorkloadSpec,
        *,
        first_id: int = 1,
        rng: random.Random | None = None,
    ) -> None:
        self._history = history
        self._spec = spec
        self._ids = itertools.count(first_id)
        self._ok = 0
        self._acked = AckedIds()
        self._rng = rng or random.Random()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._abandoned: set[asyncio.Task[Any]] = set()
        self._loop_lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pending_pool: tuple[int, ...] | None = None
        self._reads_started = False
        self._reader: asyncio.Task[None] | None = None
        self.error: BaseException | None = None

    # -- what a client must provide -------------------------------------------------------------
    @abstractmethod
    async def connect(self) -> C:
        """Find the server that takes writes and open a connection to it."""

    @abstractmethod
    async def write(self, conn: C, wid: int, process: str) -> None:
        """Send write ``wid`` and wait for the server's answer; raise on any error."""

    @abstractmethod
    async def read(self, conn: C, ids: list[int]) -> list[int]:
        """Those of ``ids`` the server holds (any order); raise on any error."""

    @abstractmethod
    def classify(self, error: BaseException, *, sent: bool) -> OpType:
        """``fail`` if the write certainly did not happen, else ``info``."""

    @abstractmethod
    def classify_read(self, error: BaseException) -> OpType:
        """``fail`` if the server certainly answered the read with an error, else ``info``."""

    @abstractmethod
    async def close(self, conn: C) -> None:
        """Close a connection without raising and without waiting long."""

    def usable(self, conn: C) -> bool:
        """Whether a kept connection can take the next operation."""
        return True

    def keeps_connection(self, error: BaseException) -> bool:
        """Whether the next operation reuses the connection after this error (default: no)."""
        return False

    async def setup(self) -> None:
        """Prepare shared client state on the workload's event loop."""

    async def latest_readers(self) -> list[LatestReader[Any]]:
        """The readers of the newest visible write (``workload.readers``), made on the loop
        when the workload starts; a client without them returns none (the default)."""
        return []

    async def cache_readers(self) -> list[Any]:
        """Readers through a cache (``workload.cache``), each with ``async run()``; made on the
        loop when the workload starts. None by default."""
        return []

    def write_extra(self, wid: int) -> dict[str, Any]:
        """What a write's invocation records besides its id (default: nothing)."""
        return {}

    async def after_write(self, wid: int, process: str) -> None:
        """Run after write ``wid`` was acknowledged and recorded (default: nothing)."""

    async def after_run(self) -> None:
        """Run once the writers and readers stopped, before teardown (default: nothing)."""

    def lane(self, connections: Connections[Any]) -> Lane[Any]:
        """A lane for one more process of this workload (its deadline, its abandoned tasks)."""
        deadline = self._spec.op_timeout_seconds
        return Lane(
            connections, deadline, self._abandoned, patient_connect=True, patience=2 * deadline
        )

    async def teardown(self) -> None:
        """Release shared client state; must not raise."""

    # -- the Workload contract ------------------------------------------------------------------
    @property
    def ok_count(self) -> int:
        return self._ok

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=type(self).__name__, daemon=True)
        self._thread.start()

    def start_reads(self) -> None:
        """Start the read-back probe over the ids acknowledged so far (see ``Workload``)."""
        if self._reads_started or self._spec.read_rate == 0:
            return
        self._reads_started = True
        pool = self._acked.snapshot()
        if not pool:
            return
        with self._loop_lock:
            if self._loop is None:
                self._pending_pool = pool  # the loop picks it up when it starts
                return
            self._loop.call_soon_threadsafe(self._spawn_reader, pool)

    def stop(self, timeout: float = 15.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def __enter__(self) -> DeadlineWriter[C]:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- the loop ------------------------------------------------------------------------------
    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as e:  # surfaced by the runner; the history shows what happened
            self.error = e

    async def _main(self) -> None:
        await self.setup()
        with self._loop_lock:
            self._loop = asyncio.get_running_loop()
            pending, self._pending_pool = self._pending_pool, None
        if pending:
            self._spawn_reader(pending)
        pacer = Pacer(self._spec.rate)
        writers = [
            asyncio.create_task(self._writer(f"writer-{i}", pacer))
            for i in range(self._spec.writers)
        ]
        readers: list[asyncio.Task[None]] = []
        try:
            readers = [asyncio.create_task(r.run()) for r in await self.latest_readers()]
            readers += [asyncio.create_task(r.run()) for r in await self.cache_readers()]
            await asyncio.gather(*writers)
            if self._reader is not None:
                await self._reader
            await asyncio.gather(*readers)
            await self.after_run()
        finally:
            with self._loop_lock:
                self._loop = None
            if self._reader is not None and not self._reader.done():
                self._reader.cancel()
            for task in readers:
                if not task.done():
                    task.cancel()
            for task in self._abandoned:
                task.cancel()
            if self._abandoned:
                await asyncio.wait(self._abandoned, timeout=1.0)
            await self.teardown()

    def _spawn_reader(self, pool: tuple[int, ...]) -> None:
        if self._stop.is_set() or self._reader is not None:
            return
        probe: ReadBack[C] = ReadBack(
            self._history,
            Lane(self, self._spec.op_timeout_seconds, self._abandoned, patient_connect=True),
            read=self.read,
            classify=self.classify_read,
            pool=pool,
            spec=self._spec,
            stop=self._stop,
            rng=self._rng,
        )
        self._reader = asyncio.get_running_loop().create_task(probe.run())

    async def _writer(self, process: str, pacer: Pacer) -> None:
        deadline = self._spec.op_timeout_seconds
        # One connection attempt in flight, for up to two deadlines: a frozen server then has
        # a couple of attempts in its accept backlog instead of one per abandoned write, which
        # delayed the first write after it thawed (measured against Docker's unpause event).
        lane = Lane(self, deadline, self._abandoned, patient_connect=True, patience=2 * deadline)

        def classify(error: BaseException, sent: bool) -> OpType:
            return self.classify(error, sent=sent)

        while not self._stop.is_set():
            await pacer.wait()
            wid = next(self._ids)
            invocation = self._history.invoke(process, "write", wid, **self.write_extra(wid))

            async def write(conn: C, wid: int = wid) -> None:
                await self.write(conn, wid, process)

            outcome = await lane.run(write, classify, late_write)
            self._history.complete(invocation, outcome.type, error=outcome.error)
            if outcome.type is OpType.OK:
                self._ok += 1
                self._acked.add(wid)  # after the ack is in the history
                await self.after_write(wid, process)
        await lane.close()
