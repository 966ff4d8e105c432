"""A Redis writer: unique increasing ids, every write recorded, none allowed to stall.

Each write is ``SADD drillkit:ids <id>``, so the final read (``SMEMBERS``) enumerates every id
that survived. The writer finds the master the way a redis-py application does with Sentinel
(``SentinelConnectionPool``): it asks the Sentinels for the master's address when it opens a
connection, keeps that connection while it works, and asks again only after the connection broke
or the server answered ``READONLY`` (it was demoted). Any other error reply, such as
``NOREPLICAS``, leaves the connection where it is, as redis-py does. So a client that still
reaches a deposed master keeps writing to it, which is what a real application does.

Sentinel announces addresses on the Docker network; ``publish`` maps each to the port published
on 127.0.0.1, the only way the harness reaches a node. Every socket has a short explicit timeout
and redis-py's retries are off (``Retry(NoBackoff(), 0)``): redis-py 8's default retry would
stretch one failed call to ~10 s and hide the outage being measured. On top of that, each write
(lookup and connect included) has its own deadline; a late one is abandoned, recorded as ``info``
if the command had been sent and ``fail`` if not, and the writer carries on at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from redis.asyncio.connection import Connection
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import Sentinel
from redis.backoff import NoBackoff
from redis.exceptions import BusyLoadingError, ReadOnlyError, RedisError, ResponseError

from drillkit.history import History, OpType
from drillkit.spec import Workload as WorkloadSpec
from drillkit.workload.base import Pacer

__all__ = ["KEY", "RedisEndpoints", "RedisWriter", "classify_error", "keeps_connection"]

KEY = "drillkit:ids"
Address = tuple[str, int]


@dataclass(frozen=True)
class RedisEndpoints:
    """How a client reaches the deployment: Sentinels on 127.0.0.1 and an address map."""

    sentinels: list[Address]
    master_name: str
    password: str = field(repr=False)
    publish: Callable[[str, int], Address]  # an address Sentinel announces -> 127.0.0.1:port


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


def no_retry() -> Retry:
    return Retry(NoBackoff(), 0)


class _Attempt:
    """One write in flight: how far it got decides fail versus info if it never returns."""

    def __init__(self) -> None:
        self.sent = False
        self.conn: Connection | None = None


class RedisWriter:
    """Runs ``spec.writers`` writers on a private event loop in a background thread."""

    def __init__(
        self,
        endpoints: RedisEndpoints,
        history: History,
        spec: WorkloadSpec,
        *,
        first_id: int = 1,
    ) -> None:
        self._endpoints = endpoints
        self._history = history
        self._spec = spec
        self._ids = itertools.count(first_id)
        self._ok = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._abandoned: set[asyncio.Task[None]] = set()
        self._published: dict[Address, Address] = {}
        self._sentinel: Sentinel | None = None
        self.error: BaseException | None = None
        # Sockets time out well inside the per-write deadline, so a dead Sentinel is skipped
        # and the next one asked within the same write.
        self._socket_timeout = max(0.05, spec.op_timeout_seconds / 3)

    @property
    def ok_count(self) -> int:
        return self._ok

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="drillkit-redis-writer", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 15.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def __enter__(self) -> RedisWriter:
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
        options = {
            "password": self._endpoints.password,
            "socket_timeout": self._socket_timeout,
            "socket_connect_timeout": self._socket_timeout,
            "retry": no_retry(),
        }
        self._sentinel = Sentinel(  # type: ignore[no-untyped-call]
            self._endpoints.sentinels, sentinel_kwargs=options
        )
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
            for client in self._sentinel.sentinels:
                with contextlib.suppress(RedisError, OSError, asyncio.TimeoutError):
                    await asyncio.wait_for(client.aclose(), timeout=0.5)

    async def _master(self) -> Address:
        """The master's address as Sentinel announces it, mapped to its published port."""
        assert self._sentinel is not None
        announced = await self._sentinel.discover_master(self._endpoints.master_name)
        address = (str(announced[0]), int(announced[1]))
        if address not in self._published:
            self._published[address] = await asyncio.to_thread(self._endpoints.publish, *address)
        return self._published[address]

    async def _connect(self) -> Connection:
        host, port = await self._master()
        conn = Connection(
            host=host,
            port=port,
            password=self._endpoints.password,
            socket_timeout=self._socket_timeout,
            socket_connect_timeout=self._socket_timeout,
            retry=no_retry(),
        )
        await conn.connect()  # type: ignore[no-untyped-call]
        return conn

    async def _attempt(self, attempt: _Attempt, conn: Connection | None, wid: int) -> None:
        if conn is None:
            conn = await self._connect()
        attempt.conn = conn
        attempt.sent = True
        await conn.send_command("SADD", KEY, wid)
        await conn.read_response()

    async def _writer(self, process: str, pacer: Pacer) -> None:
        conn: Connection | None = None
        deadline = self._spec.op_timeout_seconds
        while not self._stop.is_set():
            await pacer.wait()
            wid = next(self._ids)
            invocation = self._history.invoke(process, "write", wid)
            attempt = _Attempt()
            task = asyncio.create_task(self._attempt(attempt, conn, wid))
            done, _ = await asyncio.wait({task}, timeout=deadline)
            if not done:
                outcome = OpType.INFO if attempt.sent else OpType.FAIL
                phase = "awaiting the server" if attempt.sent else "finding or connecting"
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
            if attempt.sent and keeps_connection(error):
                conn = attempt.conn
            else:
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


async def _close_quietly(conn: Any) -> None:
    if conn is None:
        return
    with contextlib.suppress(RedisError, OSError, asyncio.TimeoutError):
        await asyncio.wait_for(conn.disconnect(nowait=True), timeout=0.5)
