"""Reading PostgreSQL through a cache (``workload.cache``): cache-aside readers, the strategies
that keep the cache fresh on writes, and the end-of-run audit (docs/consistency.md, "Cache
drills"; judged by :mod:`drillkit.checkers.cache`).

Each write (:class:`~drillkit.workload.pg_writer.PgWriter`) also sets ``version`` = its id for
one key (:func:`key_of`) of ``drillkit_items`` in the same statement, so the RPO machinery is
unchanged and a key's version is the highest id written to it. After the commit:
``delete-on-write`` deletes the key from the cache, ``write-through`` sets it to the new
version, ``ttl`` and ``versioned`` do nothing.

History (every op of a cache reader runs on a :class:`~drillkit.workload.deadline.Lane`):

- ``cache-setup`` (process ``cache``, ok): the strategy, ``ttl_seconds``, ``keys``;
- ``cache-read``, process ``cache-reader-<k>``: invoke ``extra.key`` (each reader sweeps the
  keys in order from its own offset, ``k * keys / readers``, so every key is read once every
  ``keys / (readers * reader_rate)`` seconds: the ghost window's resolution); ``ok`` ``value`` = the
  version the read returned (0: the key has no row), ``extra.hit`` = from the cache;
  ``fail``/``info`` with ``error`` (a cache or database that did not answer);
- ``cache-update`` (``info``, only when it went wrong): a delete or set after a write failed;
- ``cache-audit`` (process ``cache``, once the writers and readers stopped): ``ok`` ``value`` =
  ``{"cached": {key: version}, "db": {key: version}}``, what the cache would serve for each key
  (for ``versioned``: the entry of the database's current version) and what the database holds;
  ``fail`` with ``error`` if either could not be read.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import psycopg
from psycopg import sql

from drillkit.endpoints import CacheEndpoint
from drillkit.history import History, OpType
from drillkit.workload.base import run_paced
from drillkit.workload.cache_client import CacheClient, cache_client
from drillkit.workload.readback import late_read

if TYPE_CHECKING:
    from drillkit.spec.model import CacheWorkload
    from drillkit.workload.deadline import Lane

__all__ = [
    "AUDIT",
    "CACHE_PROCESS",
    "CACHE_READ",
    "CACHE_SETUP",
    "CACHE_UPDATE",
    "ITEMS_TABLE",
    "CacheReader",
    "CacheStore",
    "cache_key",
    "key_of",
]

ITEMS_TABLE = "drillkit_items"
CACHE_READ = "cache-read"
CACHE_SETUP = "cache-setup"
CACHE_UPDATE = "cache-update"
AUDIT = "cache-audit"
CACHE_PROCESS = "cache"
_SELECT = sql.SQL("SELECT version FROM {} WHERE key = %s").format(sql.Identifier(ITEMS_TABLE))
_ALL = sql.SQL("SELECT key, version FROM {}").format(sql.Identifier(ITEMS_TABLE))


def key_of(wid: int, keys: int) -> int:
    """The key write ``wid`` sets: a multiplicative hash, so consecutive ids spread over keys."""
    return ((wid * 2654435761) & 0xFFFFFFFF) % keys


def cache_key(key: int, version: int | None = None) -> str:
    """``item:<key>``, or ``item:<key>:<version>`` for the versioned strategy."""
    return f"item:{key}" if version is None else f"item:{key}:{version}"


def create_items(conninfo: str) -> None:
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(
            sql.SQL(
                "CREATE TABLE IF NOT EXISTS {} (key int PRIMARY KEY, version bigint NOT NULL)"
            ).format(sql.Identifier(ITEMS_TABLE))
        )


def upsert_statement(table: str) -> sql.Composed:
    """One statement, one transaction: the write's id into ``table`` and, for its key,
    ``version`` = the highest id written to it."""
    return sql.SQL(
        "WITH w AS (INSERT INTO {} (id, writer) VALUES (%s, %s)) "
        "INSERT INTO {} AS i (key, version) VALUES (%s, %s) "
        "ON CONFLICT (key) DO UPDATE SET version = greatest(i.version, EXCLUDED.version)"
    ).format(sql.Identifier(table), sql.Identifier(ITEMS_TABLE))


class CacheStore:
    """The workload's side of the cache: clients, and what a write does to it."""

    def __init__(self, endpoint: CacheEndpoint, spec: CacheWorkload, timeout: float) -> None:
        self.endpoint = endpoint
        self.spec = spec
        self.timeout = timeout

    def client(self) -> CacheClient:
        """The cache node, or the master its Sentinels name (:mod:`.cache_client`)."""
        return cache_client(self.endpoint, self.timeout)

    def ttl_ms(self) -> int | None:
        ttl = self.spec.ttl_seconds
        return None if ttl is None else max(1, round(ttl * 1000))

    async def after_write(self, r: CacheClient, wid: int, key: int) -> None:
        """What the strategy does to the cache once write ``wid`` (of ``key``) committed."""
        if self.spec.strategy == "delete-on-write":
            await r.delete(cache_key(key))
        elif self.spec.strategy == "write-through":
            await r.set(cache_key(key), wid, px=self.ttl_ms())

    def setup_value(self) -> dict[str, Any]:
        s = self.spec
        return {
            "strategy": s.strategy,
            "ttl_seconds": s.ttl_seconds,
            "keys": s.keys,
            "readers": s.readers,
            "reader_rate": s.reader_rate,
        }


@dataclass
class _Pair:
    """A reader's connections: the cache, and the database on the client path it opened."""

    cache: CacheClient
    db: psycopg.AsyncConnection[Any]
    conninfo: str


class _PairSource:
    """Opens a reader's pair; a pair opened on a client path since re-pointed is not reused
    (a real application's pool follows the new connection string)."""

    connecting = "connecting"

    def __init__(self, store: CacheStore, conninfo: Callable[[], str]) -> None:
        self._store = store
        self._conninfo = conninfo

    async def connect(self) -> _Pair:
        conninfo = self._conninfo()
        db = await psycopg.AsyncConnection.connect(conninfo, autocommit=True)
        return _Pair(self._store.client(), db, conninfo)

    async def close(self, pair: _Pair) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(pair.cache.aclose(), timeout=0.5)
        if not pair.db.closed:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(pair.db.close(), timeout=0.5)

    def usable(self, pair: _Pair) -> bool:
        return not pair.db.closed and pair.conninfo == self._conninfo()

    def keeps_connection(self, error: BaseException) -> bool:
        return False


async def _db_version(db: psycopg.AsyncConnection[Any], key: int) -> int:
    cursor = await db.execute(_SELECT, (key,))
    row = await cursor.fetchone()
    return 0 if row is None else int(row[0])


class CacheReader:
    """Cache-aside reads of the keys in turn at ``reader_rate`` until ``stop`` is set."""

    def __init__(
        self,
        history: History,
        lane: Lane[Any],
        store: CacheStore,
        *,
        process: str,
        classify: Callable[[BaseException], OpType],
        stop: threading.Event,
        first_key: int = 0,
    ) -> None:
        self._history = history
        self._lane = lane
        self._store = store
        self.process = process
        self._classify = classify
        self._stop = stop
        self._next = first_key  # readers sweep the keys in turn, each from its own offset

    @staticmethod
    def source(store: CacheStore, conninfo: Callable[[], str]) -> _PairSource:
        return _PairSource(store, conninfo)

    async def run(self) -> None:
        await run_paced(self._store.spec.reader_rate, self._stop, self.read_once, self._lane.close)

    async def read(self, pair: _Pair, key: int) -> tuple[int, bool]:
        """(version, from the cache) of ``key``, filling the cache on a miss."""
        ttl = self._store.ttl_ms()
        if self._store.spec.strategy == "versioned":
            version = await _db_version(pair.db, key)
            cached = await pair.cache.get(cache_key(key, version))
            if cached is not None:
                return int(cached), True
            await pair.cache.set(cache_key(key, version), version, px=ttl)
            return version, False
        cached = await pair.cache.get(cache_key(key))
        if cached is not None:
            return int(cached), True
        version = await _db_version(pair.db, key)
        await pair.cache.set(cache_key(key), version, px=ttl)
        return version, False

    async def read_once(self) -> None:
        key = self._next % self._store.spec.keys
        self._next = key + 1
        invocation = self._history.invoke(self.process, CACHE_READ, key=key)

        def classify(error: BaseException, sent: bool) -> OpType:
            return self._classify(error)

        async def read(pair: _Pair) -> tuple[int, bool]:
            return await self.read(pair, key)

        outcome = await self._lane.run(read, classify, late_read)
        if outcome.type is OpType.OK and outcome.result is not None:
            version, hit = outcome.result
            self._history.complete(invocation, OpType.OK, version, key=key, hit=hit)
        else:
            kind = OpType.INFO if outcome.type is OpType.OK else outcome.type
            self._history.complete(invocation, kind, error=outcome.error, key=key)


async def audit(history: History, store: CacheStore, conninfo: str, timeout: float = 5.0) -> None:
    """Record what the cache would serve for every key next to what the database holds."""
    invocation = history.invoke(CACHE_PROCESS, AUDIT)
    versioned = store.spec.strategy == "versioned"
    try:
        async with asyncio.timeout(timeout):
            async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as db:
                cursor = await db.execute(_ALL)
                rows = await cursor.fetchall()
            held = {int(k): int(v) for k, v in rows}
            r = store.client()
            try:
                keys = list(range(store.spec.keys))
                names = [cache_key(k, held.get(k, 0) if versioned else None) for k in keys]
                values = await r.mget(names) if names else []
            finally:
                await r.aclose()
    except Exception as e:
        history.complete(invocation, OpType.FAIL, error=f"{type(e).__name__}: {e}"[:300])
        return
    cached = {str(k): int(v) for k, v in zip(keys, values, strict=True) if v is not None}
    history.complete(
        invocation,
        OpType.OK,
        {"cached": cached, "db": {str(k): v for k, v in sorted(held.items())}},
    )
