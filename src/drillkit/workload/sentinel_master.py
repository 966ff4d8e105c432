"""The master a set of Redis Sentinels names, as an application finds it.

Shared by the Redis writer (:mod:`drillkit.workload.redis_writer`) and the cache client
(:mod:`drillkit.workload.cache_client`): the master is asked of the Sentinels (redis-py's
``Sentinel.discover_master``, which refuses a master they see as down), and the address they
announce on the run's network is mapped to the port published on 127.0.0.1 (asked once per
address, off the event loop). Sockets to the Sentinels time out at the caller's ``timeout`` with
no hidden retries, so a dead Sentinel is skipped within one operation.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence
from typing import Any

from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import Sentinel
from redis.backoff import NoBackoff

from drillkit.endpoints import Address

__all__ = ["SentinelMaster", "no_retry"]


def no_retry() -> Retry:
    """No hidden retries: each operation's deadline is the caller's to keep."""
    return Retry(NoBackoff(), 0)


class SentinelMaster:
    """``await address()``: the published address of the master the Sentinels name now."""

    def __init__(
        self,
        sentinels: Sequence[Address],
        master_name: str,
        publish: Callable[[str, int], Address],
        *,
        password: str,
        timeout: float,
        tls: dict[str, Any] | None = None,
    ) -> None:
        options = {
            "password": password,
            "socket_timeout": timeout,
            "socket_connect_timeout": timeout,
            "retry": no_retry(),
            **(tls or {}),
        }
        self._sentinel = Sentinel(  # type: ignore[no-untyped-call]
            list(sentinels), sentinel_kwargs=options
        )
        self._master_name = master_name
        self._publish = publish
        self._published: dict[Address, Address] = {}

    async def address(self) -> Address:
        """The master's address as the Sentinels announce it, mapped to its published port."""
        announced = await self._sentinel.discover_master(self._master_name)
        address = (str(announced[0]), int(announced[1]))
        if address not in self._published:
            self._published[address] = await asyncio.to_thread(self._publish, *address)
        return self._published[address]

    async def aclose(self) -> None:
        """Close the connections to the Sentinels (each given at most 0.5 s)."""
        for client in self._sentinel.sentinels:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(client.aclose(), timeout=0.5)
