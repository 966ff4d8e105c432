"""Endpoints: how a client reaches a deployment (Jepsen's db/client seam).

A topology provisions nodes and hands out one endpoints object for its engine; the workload's
client (:mod:`drillkit.workload.clients`) takes it and owns everything about the data: it
creates the table or keys, writes, reads back and does the final read. Neither side imports the
other; both import this module. Every callable is evaluated when it is called, so an endpoint
follows failovers, re-pointing and nodes restarted on new ports.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Address", "CacheEndpoint", "PgEndpoints", "RedisEndpoints", "TlsClient"]

Address = tuple[str, int]


@dataclass(frozen=True)
class TlsClient:
    """What a client needs to reach a TLS-only deployment (``topology.tls``): the run's CA to
    verify servers (and their names) with, and a client certificate for servers that ask for
    one. Paths of 0600 files in the run's private directory."""

    ca_file: str
    cert_file: str | None = None
    key_file: str | None = None

    def redis_kwargs(self) -> dict[str, Any]:
        """redis-py ``Redis``/``SSLConnection`` keyword arguments: verify the CA and hostname."""
        return {
            "ssl_ca_certs": self.ca_file,
            "ssl_certfile": self.cert_file,
            "ssl_keyfile": self.key_file,
            "ssl_check_hostname": True,
            "ssl_cert_reqs": "required",
        }


@dataclass(frozen=True)
class CacheEndpoint:
    """A cache node in front of the database (``topology.cache``): where it is reached (on
    127.0.0.1; evaluated per call, a restarted node keeps its port) and its password."""

    address: Callable[[], Address] = field(repr=False)
    password: str = field(repr=False)
    sentinels: list[Address] = field(default_factory=list)
    """The cache's Sentinels on 127.0.0.1 (topology.cache.sentinels); [] for a single node,
    reached at ``address``."""
    master_name: str = ""
    """The name the Sentinels monitor the cache's master under."""
    publish: Callable[[str, int], Address] | None = field(default=None, repr=False)
    """An address the Sentinels announce (on the run's network) -> where the harness reaches
    it."""


@dataclass(frozen=True)
class PgEndpoints:
    """How a PostgreSQL client reaches the deployment (conninfo strings carry the password)."""

    client: Callable[[], str] = field(repr=False)
    """The application's write path: a multi-host conninfo (or a proxy) with
    ``target_session_attrs=read-write``; the first node that accepts writes wins."""
    running_client: Callable[[], str] = field(repr=False)
    """The write path restricted to the nodes running now (raises ``RuntimeError`` if none
    is): for the final read, when a stopped node would only cost a connection attempt."""
    node: Callable[[str], str] = field(repr=False)
    """One node's conninfo, by node name (superuser, ``connect_timeout=2``)."""
    replicas: Callable[[], list[str]] = field(default=list, repr=False)
    """The names of the running data nodes that are not the primary now (readers read them);
    [] if none is, or the topology cannot tell."""
    cache: CacheEndpoint | None = None
    """The cache node in front of the database (``topology.cache``), if there is one."""


@dataclass(frozen=True)
class RedisEndpoints:
    """How a Redis client reaches the deployment: Sentinels on 127.0.0.1, an address map, the
    nodes' own addresses and the password."""

    sentinels: list[Address]
    master_name: str
    password: str = field(repr=False)
    publish: Callable[[str, int], Address]
    """An address Sentinel announces (on the run's network) -> where the harness reaches it."""
    node: Callable[[str], Address]
    """A data node's address, by node name."""
    master: Callable[[], str | None]
    """The data node that is master now: the one the Sentinels' majority names, else the only
    node that reports itself master; None if neither names a single one."""
    replicas: Callable[[], list[str]] = field(default=list, repr=False)
    """The names of the running data nodes that report themselves replicas now (readers read
    them); [] if none does."""
    tls: TlsClient | None = None
    """Set when the deployment speaks TLS only: every connection (Sentinels, nodes) uses it."""
