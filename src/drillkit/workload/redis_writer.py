"""A Redis writer: unique increasing ids, every write recorded, none allowed to stall.

Each write is ``SADD drillkit:ids <id>``, so the final read (``SMEMBERS``) enumerates every id
that survived, and the read-back probe asks ``SMISMEMBER drillkit:ids <ids...>`` on its own
connection to the master, found the same way. The writer finds the master the way a redis-py
application does with Sentinel (``SentinelConnectionPool``): it asks the Sentinels for the
master's address when it opens a connection, keeps that connection while it works, and asks again
only after the connection broke or the server answered ``READONLY`` (it was demoted). Any other
error reply, such as ``NOREPLICAS``, leaves the connection where it is, as redis-py does. So a
client that still reaches a deposed master keeps writing to it, which is what a real application
does.

Sentinel announces addresses on the Docker network; ``publish`` maps each to the port published
on 127.0.0.1, the only way the harness reaches a node. Every socket has a short explicit timeout
and redis-py's retries are off (``Retry(NoBackoff(), 0)``): redis-py 8's default retry would
stretch one failed call to ~10 s and hide the outage being measured. On top of that, each write
(lookup and connect included) has its own deadline, enforced by
:class:`~drillkit.workload.deadline.DeadlineWriter`.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Awaitable, Callable
from typing import Any

import redis
from redis.asyncio.connection import Connection, SSLConnection
from redis.backoff import NoBackoff
from redis.exceptions import BusyLoadingError, ReadOnlyError, RedisError, ResponseError
from redis.retry import Retry as SyncRetry

from drillkit.endpoints import Address, RedisEndpoints
from drillkit.history import History, OpType
from drillkit.spec import SteadyState, WorkloadSpec
from drillkit.workload.base import Workload, writes_problem
from drillkit.workload.deadline import DeadlineWriter
from drillkit.workload.latest import CLIENT_SOURCE, LatestReader, Seen, reader_process
from drillkit.workload.sentinel_master import SentinelMaster, no_retry

__all__ = [
    "KEY",
    "RedisClient",
    "RedisEndpoints",
    "RedisWriter",
    "classify_error",
    "keeps_connection",
    "probe_key",
]

KEY = "drillkit:ids"
# A reader's one round trip on a node: the highest id in the set, how many ids it holds, how
# many of them are at most ARGV[1] (the reader's highest so far). Read-only (EVAL_RO), so it runs
# on replicas; O(members) on the server, ~1 ms at a drill's few thousand ids.
LATEST_SCRIPT = """
local top, rows, present = 0, 0, 0
local upto = tonumber(ARGV[1])
for _, v in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local id = tonumber(v)
  if id then
    rows = rows + 1
    if id > top then top = id end
    if id <= upto then present = present + 1 end
  end
end
return {top, rows, present}
"""
PROBE_PREFIX = "drillkit_probe_"  # a stack drillkit did not create: drillkit_probe_<run>:ids


def classify_error(error: BaseException, *, sent: bool) -> OpType:
    """``fail`` if the write certainly did not happen, else ``info``.

    An error reply (READONLY, NOREPLICAS, LOADING, OOM, ...) means the server refused the command.
    """
    if not sent or isinstance(error, ResponseError | BusyLoadingError):
        return OpType.FAIL
    return OpType.INFO


def keeps_connection(error: BaseException) -> bool:
    """Whether redis-py's Sentinel pool would send the next command on the same connection."""
    return isinstance(error, ResponseError) and not isinstance(error, ReadOnlyError)


def sync_no_retry() -> SyncRetry:
    """No hidden retries: redis-py 8's default retry stretches one failed call to ~10 s."""
    return SyncRetry(NoBackoff(), 0)


class RedisWriter(DeadlineWriter[Connection]):
    """``SADD`` of unique ids to whichever node Sentinel says is the master."""

    connecting = "finding or connecting"

    def __init__(
        self,
        endpoints: RedisEndpoints,
        history: History,
        spec: WorkloadSpec,
        *,
        first_id: int = 1,
        key: str = KEY,
    ) -> None:
        super().__init__(history, spec, first_id=first_id)
        self._endpoints = endpoints
        self._key = key
        self._sentinel: SentinelMaster | None = None
        # Sockets time out well inside the per-write deadline, so a dead Sentinel is skipped
        # and the next one asked within the same write.
        self._socket_timeout = max(0.05, spec.op_timeout_seconds / 3)

    async def setup(self) -> None:
        self._sentinel = SentinelMaster(
            self._endpoints.sentinels,
            self._endpoints.master_name,
            self._endpoints.publish,
            password=self._endpoints.password,
            timeout=self._socket_timeout,
            tls=self._tls_kwargs(),
        )

    async def teardown(self) -> None:
        if self._sentinel is not None:
            await self._sentinel.aclose()

    async def _master(self) -> Address:
        """The master's address as Sentinel announces it, mapped to its published port."""
        assert self._sentinel is not None
        return await self._sentinel.address()

    def _tls_kwargs(self) -> dict[str, Any]:
        """topology.tls: every connection verifies the run's CA and the server's name."""
        tls = self._endpoints.tls
        return {"ssl": True, **tls.redis_kwargs()} if tls is not None else {}

    async def connect(self) -> Connection:
        return await self.open(*await self._master())

    async def open(self, host: str, port: int) -> Connection:
        """A connection to one node, with the writer's timeouts, no retries, and TLS if set."""
        tls = self._endpoints.tls
        conn = (Connection if tls is None else SSLConnection)(
            host=host,
            port=port,
            password=self._endpoints.password,
            socket_timeout=self._socket_timeout,
            socket_connect_timeout=self._socket_timeout,
            retry=no_retry(),
            **(tls.redis_kwargs() if tls is not None else {}),
        )
        await conn.connect()  # type: ignore[no-untyped-call]
        return conn

    async def write(self, conn: Connection, wid: int, process: str) -> None:
        await conn.send_command("SADD", self._key, wid)
        await conn.read_response()

    async def read(self, conn: Connection, ids: list[int]) -> list[int]:
        await conn.send_command("SMISMEMBER", self._key, *ids)
        flags = await conn.read_response()
        if not isinstance(flags, list) or len(flags) != len(ids):
            raise RuntimeError(f"SMISMEMBER answered {flags!r} for {len(ids)} ids")
        return [wid for wid, member in zip(ids, flags, strict=True) if int(member)]

    async def read_latest(self, conn: Connection, upto: int) -> Seen:
        """The highest id the node holds, its count and how many are at most ``upto``
        (:data:`LATEST_SCRIPT`), and whether it is a replica (``ROLE``), in one round trip."""
        await conn.send_packed_command(
            conn.pack_commands([("EVAL_RO", LATEST_SCRIPT, 1, self._key, upto), ("ROLE",)])
        )
        try:
            counts = await conn.read_response()
        finally:
            role = await conn.read_response()  # both replies read: the connection stays in step
        if not isinstance(counts, list) or len(counts) != 3:
            raise RuntimeError(f"the reader's script answered {counts!r}")
        top, rows, present = (int(x) for x in counts)
        first = role[0] if isinstance(role, list) and role else None
        kind = first.decode() if isinstance(first, bytes) else first
        replica = None if kind is None else kind in ("slave", "replica")
        return Seen(top, replica, rows, present)

    async def latest_readers(self) -> list[LatestReader[Any]]:
        """``readers`` per source: each data node that is a replica when the workload starts
        (read directly), and the master as the Sentinels name it (``client``, found again
        after the connection breaks, as the writer does), as ``read_from`` says."""
        spec, endpoints = self._spec, self._endpoints
        if spec.readers == 0:
            return []
        sources: list[tuple[str, Callable[[], Awaitable[Address]]]] = []
        if "replicas" in spec.read_from:
            try:
                names = await asyncio.to_thread(endpoints.replicas)
                addresses = [await asyncio.to_thread(endpoints.node, n) for n in names]
            except Exception as e:  # recorded; the checkers find no replica readers
                self._history.append(
                    "reader-replicas", OpType.INFO, "find-replicas", error=f"{e!r}"[:300]
                )
                names, addresses = [], []
            sources += [(n, _fixed(a)) for n, a in zip(names, addresses, strict=True)]
        if "client" in spec.read_from:
            sources.append((CLIENT_SOURCE, self._master))
        return [
            LatestReader(
                self._history,
                self.lane(_NodeSource(self, address)),
                process=reader_process(source, k),
                source=source,
                read=self.read_latest,
                classify=self.classify_read,
                rate=spec.reader_rate,
                stop=self._stop,
            )
            for source, address in sources
            for k in range(spec.readers)
        ]

    def classify(self, error: BaseException, *, sent: bool) -> OpType:
        return classify_error(error, sent=sent)

    def classify_read(self, error: BaseException) -> OpType:
        """``fail`` only for an error reply (``WRONGTYPE``, ``LOADING``, ...); else unknown."""
        return classify_error(error, sent=True)

    def keeps_connection(self, error: BaseException) -> bool:
        return keeps_connection(error)

    async def close(self, conn: Connection) -> None:
        with contextlib.suppress(RedisError, OSError, asyncio.TimeoutError):
            await asyncio.wait_for(conn.disconnect(nowait=True), timeout=0.5)


def _fixed(address: Address) -> Callable[[], Awaitable[Address]]:
    async def find() -> Address:
        return address

    return find


class _NodeSource:
    """A reader's connections: to one node, or to the master the Sentinels name. Any error
    closes the connection (the next read connects again, finding the master anew)."""

    connecting = "finding or connecting"

    def __init__(self, writer: RedisWriter, address: Callable[[], Awaitable[Address]]) -> None:
        self._writer = writer
        self._address = address

    async def connect(self) -> Connection:
        return await self._writer.open(*await self._address())

    async def close(self, conn: Connection) -> None:
        await self._writer.close(conn)

    def usable(self, conn: Connection) -> bool:
        return True

    def keeps_connection(self, error: BaseException) -> bool:
        return False


def probe_key(run_id: str) -> str:
    """The one key a run writes on a Redis stack drillkit did not create (its keyspace
    ``drillkit_probe_<run>:*``), deleted at the end."""
    token = re.sub(r"[^a-z0-9]+", "_", run_id.lower()).strip("_")
    if not token:
        raise ValueError(f"{run_id!r} cannot name a probe key")
    return f"{PROBE_PREFIX}{token}:ids"


class RedisClient:
    """The workload's side of Redis (a :class:`~drillkit.workload.base.Client`): the set
    ``drillkit:ids`` (``key``), written through Sentinel and read back from the master. With
    ``delete`` (a stack drillkit did not create), :meth:`dispose` deletes exactly that key."""

    def __init__(self, endpoints: RedisEndpoints, *, key: str = KEY, delete: bool = False) -> None:
        self.endpoints = endpoints
        self.key = key
        self.delete = delete

    def prepare(self) -> None:
        """Nothing to create: the set springs into being with its first SADD."""

    def dispose(self) -> str | None:
        """``DEL`` of this run's key on the master (only with ``delete``; never FLUSHDB or a
        pattern); None, or why it is left over."""
        if not self.delete:
            return None
        try:
            with self._master_client() as r:
                r.delete(self.key)
        except (RedisError, OSError, RuntimeError) as e:
            return f"probe key {self.key} left over: {str(e).strip()}"
        return None

    def _master_client(self) -> redis.Redis:
        master = self.endpoints.master()
        if master is None:
            raise RuntimeError("neither the Sentinels nor the nodes name a single master")
        host, port = self.endpoints.node(master)
        return redis.Redis(
            host=host,
            port=port,
            password=self.endpoints.password,
            socket_timeout=5.0,
            socket_connect_timeout=5.0,
            retry=sync_no_retry(),
            decode_responses=True,
            **({"ssl": True, **tls.redis_kwargs()} if (tls := self.endpoints.tls) else {}),
        )

    def make_workload(self, history: History, spec: WorkloadSpec) -> RedisWriter:
        return RedisWriter(self.endpoints, history, spec, key=self.key)

    def read_ids(self) -> list[int]:
        """Every id in the set, from the master the Sentinels name (else the only master)."""
        with self._master_client() as r:
            return sorted(int(v) for v in r.smembers(self.key))

    def steady_state_problem(self, workload: Workload, spec: SteadyState) -> str | None:
        return writes_problem(workload, spec)
