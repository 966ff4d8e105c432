"""A PostgreSQL writer: unique increasing ids, every insert recorded, none allowed to stall.

The writer finds the primary the way an application does, with a multi-host connection string and
``target_session_attrs=read-write``. Each operation (connect included) runs in its own task and is
given ``op_timeout`` seconds. psycopg, when cancelled mid-query, waits up to 10 s for the server to
acknowledge the cancel, which against a paused or blackholed server would freeze the probe; so a
late operation is *abandoned* (recorded as ``info``, its connection discarded) instead of cancelled
in line, and the writer carries on with a fresh connection at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import threading
from collections.abc import Callable
from typing import Any

import psycopg

from drillkit.history import History, OpType
from drillkit.spec import Workload as WorkloadSpec
from drillkit.workload.base import Pacer

__all__ = ["TABLE", "PgWriter", "classify_error", "create_table", "read_ids"]

TABLE = "drillkit_writes"
INSERT = f"INSERT INTO {TABLE} (id, writer) VALUES (%s, %s)"

# Server errors that may arrive after the statement already committed (the connection or server
# is going away): the outcome is unknown, never 'fail'.
_UNKNOWN_SQLSTATE_PREFIXES = ("08", "57P", "58", "XX")


def classify_error(error: BaseException, *, sent: bool) -> OpType:
    """``fail`` if the write certainly did not happen, else ``info``."""
    if not sent:
        return OpType.FAIL
    sqlstate = getattr(error, "sqlstate", None)
    if sqlstate and not sqlstate.startswith(_UNKNOWN_SQLSTATE_PREFIXES):
        return OpType.FAIL  # the server answered with an error: the statement was rolled back
    return OpType.INFO


def create_table(conninfo: str) -> None:
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(
            f"CREATE TABLE IF NOT EXISTS {TABLE} (id bigint PRIMARY KEY, writer text NOT NULL,"
            " written_at timestamptz NOT NULL DEFAULT clock_timestamp())"
        )


def read_ids(conninfo: str) -> list[int]:
    """Every id present, for the final read."""
    with psycopg.connect(conninfo, autocommit=True) as conn:
        return [int(r[0]) for r in conn.execute(f"SELECT id FROM {TABLE} ORDER BY id")]


class _Attempt:
    """One write in flight: how far it got decides fail versus info if it never returns."""

    def __init__(self) -> None:
        self.sent = False
        self.conn: psycopg.AsyncConnection[Any] | None = None


class PgWriter:
    """Runs ``spec.writers`` writers on a private event loop in a background thread."""

    def __init__(
        self,
        conninfo: Callable[[], str],
        history: History,
        spec: WorkloadSpec,
        *,
        first_id: int = 1,
    ) -> None:
        self._conninfo = conninfo
        self._history = history
        self._spec = spec
        self._ids = itertools.count(first_id)
        self._ok = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._abandoned: set[asyncio.Task[None]] = set()
        self.error: BaseException | None = None

    @property
    def ok_count(self) -> int:
        return self._ok

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="drillkit-writer", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 15.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def __enter__(self) -> PgWriter:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as e:  # surfaced by the runner; the history shows what happened
            self.error = e

    async def _main(self) -> None:
        pacer = Pacer(self._spec.rate)
        writers = [
            asyncio.create_task(self._writer(f"writer-{i}", pacer))
            for i in range(self._spec.writers)
        ]
        await asyncio.gather(*writers)
        for task in self._abandoned:
            task.cancel()
        if self._abandoned:
            await asyncio.wait(self._abandoned, timeout=1.0)

    async def _attempt(
        self, attempt: _Attempt, conn: psycopg.AsyncConnection[Any] | None, wid: int, process: str
    ) -> None:
        if conn is None or conn.closed:
            conn = await psycopg.AsyncConnection.connect(self._conninfo(), autocommit=True)
        attempt.conn = conn
        attempt.sent = True
        await conn.execute(INSERT, (wid, process))

    async def _writer(self, process: str, pacer: Pacer) -> None:
        conn: psycopg.AsyncConnection[Any] | None = None
        deadline = self._spec.op_timeout_seconds
        while not self._stop.is_set():
            await pacer.wait()
            wid = next(self._ids)
            invocation = self._history.invoke(process, "write", wid)
            attempt = _Attempt()
            task = asyncio.create_task(self._attempt(attempt, conn, wid, process))
            done, _ = await asyncio.wait({task}, timeout=deadline)
            if not done:
                outcome = OpType.INFO if attempt.sent else OpType.FAIL
                phase = "awaiting the server" if attempt.sent else "connecting"
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
                classify_error(error, sent=attempt.sent),
                error=f"{type(error).__name__}: {str(error).strip()[:300]}",
            )
            await _close_quietly(attempt.conn)
            conn = None
        await _close_quietly(conn)

    def _abandon(self, task: asyncio.Task[None], attempt: _Attempt) -> None:
        """Let a late operation finish or fail on its own; its connection is closed afterwards."""
        self._abandoned.add(task)

        def _done(t: asyncio.Task[None]) -> None:
            self._abandoned.discard(t)
            if not t.cancelled():
                t.exception()  # retrieve it so asyncio does not log "never retrieved"
            if attempt.conn is not None:
                asyncio.get_running_loop().create_task(_close_quietly(attempt.conn))

        task.add_done_callback(_done)
        task.cancel()


async def _close_quietly(conn: psycopg.AsyncConnection[Any] | None) -> None:
    if conn is None or conn.closed:
        return
    with contextlib.suppress(TimeoutError, psycopg.Error, OSError):
        await asyncio.wait_for(conn.close(), timeout=0.5)
