"""A PostgreSQL writer: unique increasing ids, every insert recorded, none allowed to stall.

The writer finds the primary the way an application does, with a multi-host connection string and
``target_session_attrs=read-write``; the read-back probe reads from the primary the same way
(``SELECT id ... WHERE id = ANY(...)``) on its own connection. The loop, the deadlines and the
abandonment of late operations are :class:`~drillkit.workload.deadline.DeadlineWriter`'s.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import re
from collections.abc import Callable
from typing import Any

import psycopg
from psycopg import sql

from drillkit.endpoints import PgEndpoints
from drillkit.history import History, OpType
from drillkit.spec import SteadyState, WorkloadSpec
from drillkit.workload.base import Workload, writes_problem
from drillkit.workload.cache import (
    CACHE_PROCESS,
    CACHE_SETUP,
    CACHE_UPDATE,
    CacheReader,
    CacheStore,
    audit,
    create_items,
    key_of,
    upsert_statement,
)
from drillkit.workload.deadline import DeadlineWriter
from drillkit.workload.latest import CLIENT_SOURCE, LatestReader, Seen, reader_process

__all__ = [
    "PROBE_PREFIX",
    "TABLE",
    "PgClient",
    "PgWriter",
    "classify_error",
    "create_table",
    "drop_probe_tables",
    "probe_name",
    "read_ids",
]

TABLE = "drillkit_writes"  # drillkit's own topologies (the whole database is the run's)
PROBE_PREFIX = "drillkit_probe_"  # a stack drillkit did not create: one table per run, dropped

# Server errors that may arrive after the statement already committed (the connection or server
# is going away): the outcome is unknown, never 'fail'.
_UNKNOWN_SQLSTATE_PREFIXES = ("08", "57P", "58", "XX")
_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def classify_error(error: BaseException, *, sent: bool) -> OpType:
    """``fail`` if the write certainly did not happen, else ``info``."""
    if not sent:
        return OpType.FAIL
    sqlstate = getattr(error, "sqlstate", None)
    if sqlstate and not sqlstate.startswith(_UNKNOWN_SQLSTATE_PREFIXES):
        return OpType.FAIL  # the server answered with an error: the statement was rolled back
    return OpType.INFO


def probe_name(run_id: str) -> str:
    """The probe table (or key prefix) of run ``run_id`` on a stack drillkit did not create:
    ``drillkit_probe_<run>``, a valid unquoted identifier of at most 63 characters."""
    token = re.sub(r"[^a-z0-9]+", "_", run_id.lower()).strip("_")
    return PROBE_PREFIX + token[-(63 - len(PROBE_PREFIX)) :]


def _table(name: str) -> sql.Identifier:
    if not _IDENTIFIER.match(name):
        raise ValueError(f"{name!r} is not a table name drillkit writes")
    return sql.Identifier(name)


def create_table(conninfo: str, table: str = TABLE) -> None:
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(
            sql.SQL(
                "CREATE TABLE IF NOT EXISTS {} (id bigint PRIMARY KEY, writer text NOT NULL,"
                " written_at timestamptz NOT NULL DEFAULT clock_timestamp())"
            ).format(_table(table))
        )


def read_ids(conninfo: str, table: str = TABLE) -> list[int]:
    """Every id present, for the final read."""
    query = sql.SQL("SELECT id FROM {} ORDER BY id").format(_table(table))
    with psycopg.connect(conninfo, autocommit=True) as conn:
        return [int(r[0]) for r in conn.execute(query)]


def drop_probe_tables(
    conninfo: str, only: str | None = None, *, dry_run: bool = False
) -> list[str]:
    """Drop ``only`` (a probe table), or every ``drillkit_probe_*`` table of the current
    schema; the tables dropped (with ``dry_run``: found, none dropped). Nothing else is ever
    dropped."""
    with psycopg.connect(conninfo, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
            " AND starts_with(tablename, %s) ORDER BY tablename",
            (PROBE_PREFIX,),
        ).fetchall()
        names = [str(r[0]) for r in rows if only is None or r[0] == only]
        for name in [] if dry_run else names:
            conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(_table(name)))
    return names


class PgWriter(DeadlineWriter["psycopg.AsyncConnection[Any]"]):
    """Autocommit INSERTs of unique ids through the client's multi-host connection string."""

    def __init__(
        self,
        conninfo: Callable[[], str],
        history: History,
        spec: WorkloadSpec,
        *,
        first_id: int = 1,
        table: str = TABLE,
        endpoints: PgEndpoints | None = None,
    ) -> None:
        super().__init__(history, spec, first_id=first_id)
        self._conninfo = conninfo
        self._endpoints = endpoints
        self._insert = sql.SQL("INSERT INTO {} (id, writer) VALUES (%s, %s)").format(_table(table))
        # workload.cache: each write also sets its key's version; readers read through the cache
        self._cache: CacheStore | None = None
        self._cache_client: Any = None
        if spec.cache is not None and endpoints is not None and endpoints.cache is not None:
            self._cache = CacheStore(endpoints.cache, spec.cache, spec.op_timeout_seconds)
            self._upsert = upsert_statement(table)
        self._read_back = sql.SQL("SELECT id FROM {} WHERE id = ANY(%s)").format(_table(table))
        self._latest = sql.SQL(
            "SELECT coalesce(max(id), 0), count(*), count(*) FILTER (WHERE id <= %s),"
            " pg_is_in_recovery() FROM {}"
        ).format(_table(table))

    async def connect(self) -> psycopg.AsyncConnection[Any]:
        return await psycopg.AsyncConnection.connect(self._conninfo(), autocommit=True)

    def usable(self, conn: psycopg.AsyncConnection[Any]) -> bool:
        return not conn.closed

    async def write(self, conn: psycopg.AsyncConnection[Any], wid: int, process: str) -> None:
        if self._cache is None:
            await conn.execute(self._insert, (wid, process))
            return
        await conn.execute(self._upsert, (wid, process, key_of(wid, self._cache.spec.keys), wid))

    def write_extra(self, wid: int) -> dict[str, Any]:
        return {} if self._cache is None else {"key": key_of(wid, self._cache.spec.keys)}

    async def setup(self) -> None:
        if self._cache is not None:
            self._history.append(CACHE_PROCESS, OpType.OK, CACHE_SETUP, self._cache.setup_value())
            self._cache_client = self._cache.client()

    async def after_write(self, wid: int, process: str) -> None:
        """The strategy's delete or set once a write committed; a failure is recorded."""
        store = self._cache
        if store is None or store.spec.strategy not in ("delete-on-write", "write-through"):
            return
        key = key_of(wid, store.spec.keys)
        try:
            async with asyncio.timeout(store.timeout):
                await store.after_write(self._cache_client, wid, key)
        except Exception as e:
            self._history.append(
                process, OpType.INFO, CACHE_UPDATE, wid, key=key, error=f"{type(e).__name__}: {e}"
            )

    async def cache_readers(self) -> list[Any]:
        store = self._cache
        if store is None:
            return []
        source = CacheReader.source(store, self._conninfo)
        return [
            CacheReader(
                self._history,
                self.lane(source),
                store,
                process=f"cache-reader-{k}",
                classify=self.classify_read,
                stop=self._stop,
                first_key=k * store.spec.keys // store.spec.readers,
            )
            for k in range(store.spec.readers)
        ]

    async def after_run(self) -> None:
        """The cache audit: every key's cached version next to the database's."""
        if self._cache is None:
            return
        try:
            conninfo = self._conninfo()
        except Exception as e:
            invocation = self._history.invoke(CACHE_PROCESS, "cache-audit")
            self._history.complete(invocation, OpType.FAIL, error=f"{e!r}"[:300])
            return
        await audit(self._history, self._cache, conninfo)

    async def teardown(self) -> None:
        if self._cache_client is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._cache_client.aclose(), timeout=0.5)

    async def read(self, conn: psycopg.AsyncConnection[Any], ids: list[int]) -> list[int]:
        cursor = await conn.execute(self._read_back, (ids,))
        return [int(row[0]) for row in await cursor.fetchall()]

    async def read_latest(self, conn: psycopg.AsyncConnection[Any], upto: int) -> Seen:
        cursor = await conn.execute(self._latest, (upto,))
        row = await cursor.fetchone()
        if row is None:
            return Seen(0)
        return Seen(int(row[0]), bool(row[3]), int(row[1]), int(row[2]))

    async def latest_readers(self) -> list[LatestReader[Any]]:
        """``readers`` per source: each replica when the workload starts (read directly), and
        the application's connection string (``client``), as ``read_from`` says."""
        spec, endpoints = self._spec, self._endpoints
        if spec.readers == 0 or endpoints is None:
            return []
        sources: list[tuple[str, Callable[[], str]]] = []
        if "replicas" in spec.read_from:
            try:
                names = await asyncio.to_thread(endpoints.replicas)
            except Exception as e:  # recorded; the checkers find no replica readers
                self._history.append(
                    "reader-replicas", OpType.INFO, "find-replicas", error=f"{e!r}"[:300]
                )
                names = []
            sources += [(name, functools.partial(endpoints.node, name)) for name in names]
        if "client" in spec.read_from:
            sources.append((CLIENT_SOURCE, endpoints.client))
        return [
            LatestReader(
                self._history,
                self.lane(_Source(self, conninfo)),
                process=reader_process(source, k),
                source=source,
                read=self.read_latest,
                classify=self.classify_read,
                rate=spec.reader_rate,
                stop=self._stop,
            )
            for source, conninfo in sources
            for k in range(spec.readers)
        ]

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


class _Source:
    """A reader's connections: to one node, or through the client path (the writer's rules
    for using and closing them)."""

    connecting = "connecting"

    def __init__(self, writer: PgWriter, conninfo: Callable[[], str]) -> None:
        self._writer = writer
        self._conninfo = conninfo

    async def connect(self) -> psycopg.AsyncConnection[Any]:
        return await psycopg.AsyncConnection.connect(self._conninfo(), autocommit=True)

    async def close(self, conn: psycopg.AsyncConnection[Any]) -> None:
        await self._writer.close(conn)

    def usable(self, conn: psycopg.AsyncConnection[Any]) -> bool:
        return not conn.closed

    def keeps_connection(self, error: BaseException) -> bool:
        return False


class PgClient:
    """The workload's side of PostgreSQL (a :class:`~drillkit.workload.base.Client`): its table
    (``drillkit_writes`` on drillkit's own topologies, ``drillkit_probe_<run>`` on a stack it did
    not create), created and read back through the application's write path. With ``drop``,
    :meth:`dispose` drops the table at the end of the run."""

    def __init__(self, endpoints: PgEndpoints, *, table: str = TABLE, drop: bool = False) -> None:
        _table(table)
        self.endpoints = endpoints
        self.table = table
        self.drop = drop

    def prepare(self) -> None:
        create_table(self.endpoints.client(), self.table)
        if self.endpoints.cache is not None:
            create_items(self.endpoints.client())

    def make_workload(self, history: History, spec: WorkloadSpec) -> PgWriter:
        return PgWriter(
            self.endpoints.client, history, spec, table=self.table, endpoints=self.endpoints
        )

    def dispose(self) -> str | None:
        """Drop the table if this client owns it (``drop``); None, or why it is left over."""
        if not self.drop:
            return None
        try:
            drop_probe_tables(self.endpoints.running_client(), only=self.table)
        except (psycopg.Error, RuntimeError) as e:
            return f"probe table {self.table} left over: {str(e).strip()}"
        return None

    def read_ids(self) -> list[int]:
        """Every surviving id, through the running nodes of the write path (a dropped table
        holds none)."""
        try:
            return read_ids(self.endpoints.running_client(), self.table)
        except psycopg.errors.UndefinedTable:
            return []

    def steady_state_problem(self, workload: Workload, spec: SteadyState) -> str | None:
        return writes_problem(workload, spec)
