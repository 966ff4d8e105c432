"""A PostgreSQL writer: unique increasing ids, every insert recorded, none allowed to stall.

The writer finds the primary the way an application does, with a multi-host connection string and
``target_session_attrs=read-write``; the read-back probe reads from the primary the same way
(``SELECT id ... WHERE id = ANY(...)``) on its own connection. The loop, the deadlines and the
abandonment of late operations are :class:`~drillkit.workload.deadline.DeadlineWriter`'s.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

import psycopg

from drillkit.endpoints import PgEndpoints
from drillkit.history import History, OpType
from drillkit.spec import SteadyState, WorkloadSpec
from drillkit.workload.base import Workload, writes_problem
from drillkit.workload.deadline import DeadlineWriter

__all__ = ["TABLE", "PgClient", "PgWriter", "classify_error", "create_table", "read_ids"]

TABLE = "drillkit_writes"
INSERT = f"INSERT INTO {TABLE} (id, writer) VALUES (%s, %s)"
READ_BACK = f"SELECT id FROM {TABLE} WHERE id = ANY(%s)"

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


class PgWriter(DeadlineWriter["psycopg.AsyncConnection[Any]"]):
    """Autocommit INSERTs of unique ids through the client's multi-host connection string."""

    def __init__(
        self,
        conninfo: Callable[[], str],
        history: History,
        spec: WorkloadSpec,
        *,
        first_id: int = 1,
    ) -> None:
        super().__init__(history, spec, first_id=first_id)
        self._conninfo = conninfo

    async def connect(self) -> psycopg.AsyncConnection[Any]:
        return await psycopg.AsyncConnection.connect(self._conninfo(), autocommit=True)

    def usable(self, conn: psycopg.AsyncConnection[Any]) -> bool:
        return not conn.closed

    async def write(self, conn: psycopg.AsyncConnection[Any], wid: int, process: str) -> None:
        await conn.execute(INSERT, (wid, process))

    async def read(self, conn: psycopg.AsyncConnection[Any], ids: list[int]) -> list[int]:
        cursor = await conn.execute(READ_BACK, (ids,))
        return [int(row[0]) for row in await cursor.fetchall()]

    def classify(self, error: BaseException, *, sent: bool) -> OpType:
        return classify_error(error, sent=sent)

    def classify_read(self, error: BaseException) -> OpType:
        """``fail`` only for a clean server error (``UndefinedTable``, ...); a connection that
        broke or never opened leaves the result unknown."""
        return classify_error(error, sent=True)

    async def close(self, conn: psycopg.AsyncConnection[Any]) -> None:
        if conn.closed:
            return
        with contextlib.suppress(TimeoutError, psycopg.Error, OSError):
            await asyncio.wait_for(conn.close(), timeout=0.5)


class PgClient:
    """The workload's side of PostgreSQL (a :class:`~drillkit.workload.base.Client`): the
    ``drillkit_writes`` table, created and read back through the application's write path."""

    def __init__(self, endpoints: PgEndpoints) -> None:
        self.endpoints = endpoints

    def prepare(self) -> None:
        create_table(self.endpoints.client())

    def make_workload(self, history: History, spec: WorkloadSpec) -> PgWriter:
        return PgWriter(self.endpoints.client, history, spec)

    def read_ids(self) -> list[int]:
        """Every surviving id, through the running nodes of the write path (a dropped table
        holds none)."""
        try:
            return read_ids(self.endpoints.running_client())
        except psycopg.errors.UndefinedTable:
            return []

    def steady_state_problem(self, workload: Workload, spec: SteadyState) -> str | None:
        return writes_problem(workload, spec)
