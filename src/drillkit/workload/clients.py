"""Which client a drill's workload uses, chosen by what its topology provides (the registry's
capabilities), never by the topology kind's name.

The topology hands out its endpoints (:mod:`drillkit.endpoints`); the client made from them owns
the data (:class:`~drillkit.workload.base.Client`). A new database is one more line here.
"""

from __future__ import annotations

from collections.abc import Callable, Collection

from pydantic import BaseModel

from drillkit.endpoints import PgEndpoints, RedisEndpoints
from drillkit.registry import REGISTRY, Capability, Registry
from drillkit.workload.base import Client
from drillkit.workload.pg_writer import PgClient, probe_name
from drillkit.workload.redis_writer import RedisClient, probe_key

__all__ = ["CLIENTS", "client_for", "client_for_topology"]


def _pg(endpoints: object, run_id: str) -> Client:
    if not isinstance(endpoints, PgEndpoints):
        raise TypeError(f"a SQL topology hands out PgEndpoints, not {type(endpoints).__name__}")
    return PgClient(endpoints)


def _pg_probe(endpoints: object, run_id: str) -> Client:
    """A stack drillkit did not create: a table of the run's own, dropped at the end."""
    if not isinstance(endpoints, PgEndpoints):
        raise TypeError(
            f"a probe-table topology hands out PgEndpoints, not {type(endpoints).__name__}"
        )
    if not run_id:
        raise ValueError("a probe table is named after the run: give run_id")
    return PgClient(endpoints, table=probe_name(run_id), drop=True)


def _redis(endpoints: object, run_id: str) -> Client:
    if not isinstance(endpoints, RedisEndpoints):
        raise TypeError(
            f"a Redis topology hands out RedisEndpoints, not {type(endpoints).__name__}"
        )
    return RedisClient(endpoints)


def _redis_probe(endpoints: object, run_id: str) -> Client:
    """A Redis stack drillkit did not create: one key of the run's own, deleted at the end."""
    if not isinstance(endpoints, RedisEndpoints):
        raise TypeError(
            f"a probe-key topology hands out RedisEndpoints, not {type(endpoints).__name__}"
        )
    if not run_id:
        raise ValueError("a probe key is named after the run: give run_id")
    return RedisClient(endpoints, key=probe_key(run_id), delete=True)


# In order: the first capability the topology provides decides the client.
CLIENTS: tuple[tuple[Capability, Callable[[object, str], Client]], ...] = (
    (Capability.SQL, _pg),
    (Capability.REDIS, _redis),
    (Capability.PROBE_TABLE, _pg_probe),
    (Capability.PROBE_KEYS, _redis_probe),
)


def client_for(provides: Collection[Capability], endpoints: object, run_id: str = "") -> Client:
    """The client for a topology that provides ``provides`` and hands out ``endpoints``
    (``run_id`` names a probe table)."""
    for capability, make in CLIENTS:
        if capability in provides:
            return make(endpoints, run_id)
    names = ", ".join(sorted(provides)) or "nothing"
    raise ValueError(f"no workload client for a topology that provides {names}")


def client_for_topology(
    topology: BaseModel, endpoints: object, registry: Registry = REGISTRY, *, run_id: str = ""
) -> Client:
    """The client for a drill file's ``topology`` (as configured), reached at ``endpoints``."""
    entry = registry.topologies[str(getattr(topology, "kind", ""))]
    return client_for(entry.provided(topology), endpoints, run_id)
