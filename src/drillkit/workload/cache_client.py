"""The workload's connection to the cache in front of PostgreSQL (``topology.cache``).

A single cache node is reached at its published address, as before. A cache with Sentinels is
reached the way an application does it: the master is asked of the Sentinels (redis-py's
``Sentinel.discover_master``, which refuses a master they see as down), the address they announce
on the run's network is mapped to the port published on 127.0.0.1, and every read and write goes
to that master only. Any error other than a plain command error (a refused connection, a
timeout, a node that became a replica and answers READONLY, a cancelled operation) drops the
connection, so the next operation asks the Sentinels again: after a failover the client follows
the new master within one operation once the Sentinels announce it.

Sockets time out at a third of the operation's deadline (at least 50 ms), as the Redis writer's
do, so a dead Sentinel is skipped within one operation; there are no hidden retries. The caller
bounds each operation by its own deadline (``asyncio.timeout``).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TypeVar

import redis.asyncio as aredis
from redis.exceptions import ReadOnlyError, ResponseError

from drillkit.endpoints import Address, CacheEndpoint
from drillkit.workload.sentinel_master import SentinelMaster, no_retry

__all__ = ["CacheClient", "SentinelCache", "cache_client"]

T = TypeVar("T")


class CacheClient(Protocol):
    """What the workload asks of the cache (redis-py's asyncio ``Redis`` is one)."""

    def get(self, name: str) -> Awaitable[Any]: ...

    def set(self, name: str, value: int, *, px: int | None = None) -> Awaitable[Any]: ...

    def delete(self, *names: str) -> Awaitable[Any]: ...

    def mget(self, keys: list[str]) -> Awaitable[Any]: ...

    def aclose(self) -> Awaitable[None]: ...


def _node(host: str, port: int, password: str, timeout: float) -> aredis.Redis:
    return aredis.Redis(
        host=host,
        port=port,
        password=password,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        retry=no_retry(),
    )


class SentinelCache:
    """The cache's master as its Sentinels name it, found again after any connection error."""

    def __init__(self, endpoint: CacheEndpoint, timeout: float) -> None:
        if not endpoint.sentinels or endpoint.publish is None:
            raise ValueError("a Sentinel cache needs the Sentinels' addresses and publish")
        self._endpoint = endpoint
        self._timeout = max(0.05, timeout / 3)
        self._sentinel = SentinelMaster(
            endpoint.sentinels,
            endpoint.master_name,
            endpoint.publish,
            password=endpoint.password,
            timeout=self._timeout,
        )
        self._master: aredis.Redis | None = None
        self.master_address: Address | None = None  # where the last discovery pointed

    async def _client(self) -> aredis.Redis:
        if self._master is None:
            self.master_address = await self._sentinel.address()
            self._master = _node(*self.master_address, self._endpoint.password, self._timeout)
        return self._master

    async def _call(self, command: Callable[[aredis.Redis], Awaitable[T]]) -> T:
        client = await self._client()
        try:
            return await command(client)
        except ResponseError as e:
            if isinstance(e, ReadOnlyError):  # a deposed master, now a replica
                await self._drop()
            raise
        except BaseException:
            await self._drop()
            raise

    async def _drop(self) -> None:
        client, self._master = self._master, None
        if client is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(client.aclose(), timeout=0.5)

    async def get(self, name: str) -> Any:
        return await self._call(lambda r: r.get(name))

    async def set(self, name: str, value: int, *, px: int | None = None) -> Any:
        return await self._call(lambda r: r.set(name, value, px=px))

    async def delete(self, *names: str) -> Any:
        return await self._call(lambda r: r.delete(*names))

    async def mget(self, keys: list[str]) -> Any:
        return await self._call(lambda r: r.mget(keys))

    async def aclose(self) -> None:
        await self._drop()
        await self._sentinel.aclose()


def cache_client(endpoint: CacheEndpoint, timeout: float) -> CacheClient:
    """A client for the cache: through its Sentinels if it has some, else its one node."""
    if endpoint.sentinels:
        return SentinelCache(endpoint, timeout)
    host, port = endpoint.address()
    return _node(host, port, endpoint.password, timeout)
