"""The writer loop every client shares: paced writes, each under its own deadline, never a stall.

Each operation (finding the server and connecting included) runs in its own task and is given
``op_timeout_seconds``. Client libraries, when cancelled mid-request, may wait a long time for the
server to acknowledge the cancel (psycopg waits up to 10 s), which against a paused or blackholed
server would freeze the probe; so a late operation is *abandoned* instead: recorded ``info`` if the
request had been sent (it may still happen) or ``fail`` if not, its connection closed once it
returns, and the writer carries on at once with a fresh connection. Subclasses say only how to
connect, write, classify an error and close.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
from abc import ABC, abstractmethod
from typing import Generic, TypeVar

from drillkit.history import History, OpType
from drillkit.spec import Workload as WorkloadSpec
from drillkit.workload.base import Pacer

__all__ = ["DeadlineWriter"]

C = TypeVar("C")


class _Attempt(Generic[C]):
    """One write in flight: how far it got decides fail versus info if it never returns."""

    def __init__(self) -> None:
        self.sent = False
        self.conn: C | None = None


class DeadlineWriter(ABC, Generic[C]):
    """Runs ``spec.writers`` writers with unique increasing ids on a private event loop."""

    connecting = "connecting"  # what the writer was doing before the request was sent

    def __init__(self, history: History, spec: WorkloadSpec, *, first_id: int = 1) -> None:
        self._history = history
        self._spec = spec
        self._ids = itertools.count(first_id)
        self._ok = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._abandoned: set[asyncio.Task[None]] = set()
        self.error: BaseException | None = None

    # -- what a client must provide -------------------------------------------------------------
    @abstractmethod
    async def connect(self) -> C:
        """Find the server that takes writes and open a connection to it."""

    @abstractmethod
    async def write(self, conn: C, wid: int, process: str) -> None:
        """Send write ``wid`` and wait for the server's answer; raise on any error."""

    @abstractmethod
    def classify(self, error: BaseException, *, sent: bool) -> OpType:
        """``fail`` if the write certainly did not happen, else ``info``."""

    @abstractmethod
    async def close(self, conn: C) -> None:
        """Close a connection without raising and without waiting long."""

    def usable(self, conn: C) -> bool:
        """Whether a kept connection can take the next write."""
        return True

    def keeps_connection(self, error: BaseException) -> bool:
        """Whether the next write reuses the connection after this error (default: no)."""
        return False

    async def setup(self) -> None:
        """Prepare shared client state on the writer's event loop."""

    async def teardown(self) -> None:
        """Release shared client state; must not raise."""

    # -- the Workload contract ------------------------------------------------------------------
    @property
    def ok_count(self) -> int:
        return self._ok

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=type(self).__name__, daemon=True)
        self._thread.start()

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
        pacer = Pacer(self._spec.rate)
        writers = [
            asyncio.create_task(self._writer(f"writer-{i}", pacer))
            for i in range(self._spec.writers)
        ]
        try:
            await asyncio.gather(*writers)
        finally:
            for task in self._abandoned:
                task.cancel()
            if self._abandoned:
                await asyncio.wait(self._abandoned, timeout=1.0)
            await self.teardown()

    async def _attempt(self, attempt: _Attempt[C], conn: C | None, wid: int, process: str) -> None:
        if conn is None or not self.usable(conn):
            conn = await self.connect()
        attempt.conn = conn
        attempt.sent = True
        await self.write(conn, wid, process)

    async def _writer(self, process: str, pacer: Pacer) -> None:
        conn: C | None = None
        deadline = self._spec.op_timeout_seconds
        while not self._stop.is_set():
            await pacer.wait()
            wid = next(self._ids)
            invocation = self._history.invoke(process, "write", wid)
            attempt: _Attempt[C] = _Attempt()
            task = asyncio.create_task(self._attempt(attempt, conn, wid, process))
            done, _ = await asyncio.wait({task}, timeout=deadline)
            if not done:
                outcome = OpType.INFO if attempt.sent else OpType.FAIL
                phase = "awaiting the server" if attempt.sent else self.connecting
                self._history.complete(
                    invocation, outcome, error=f"deadline of {deadline}s passed while {phase}"
                )
                self._abandon(task, attempt)
                conn = None
                continue
            error = task.exception()
            if error is None:
                self._history.complete(invocation, OpType.OK)
                self._ok += 1
                conn = attempt.conn
                continue
            self._history.complete(
                invocation,
                self.classify(error, sent=attempt.sent),
                error=f"{type(error).__name__}: {str(error).strip()[:300]}",
            )
            if attempt.sent and self.keeps_connection(error):
                conn = attempt.conn
            else:
                if attempt.conn is not None:
                    await self.close(attempt.conn)
                conn = None
        if conn is not None:
            await self.close(conn)

    def _abandon(self, task: asyncio.Task[None], attempt: _Attempt[C]) -> None:
        """Let a late operation finish or fail on its own; its connection is closed afterwards."""
        self._abandoned.add(task)

        def _done(t: asyncio.Task[None]) -> None:
            self._abandoned.discard(t)
            if not t.cancelled():
                t.exception()  # retrieve it so asyncio does not log "never retrieved"
            if attempt.conn is not None:
                asyncio.get_running_loop().create_task(self.close(attempt.conn))

        task.add_done_callback(_done)
        task.cancel()
