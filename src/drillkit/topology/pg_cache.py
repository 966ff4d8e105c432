"""A cache node in front of PostgreSQL (``topology.cache``): one Redis or Valkey container
(``cache0``, role ``cache``) on the run's network, started with the database nodes.

It is a cache, not a database: no persistence (no save points, no AOF), no replica, a password
in its configuration file (a secrets file, never argv or the environment), its port published
on 127.0.0.1 only. It is not one of the topology's data nodes (``nodes``): roles, the client
path and the database's evidence never see it; faults reach it by name.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from drillkit.backend.docker import start_node
from drillkit.endpoints import CacheEndpoint
from drillkit.spec.postgres import CACHE_NODE
from drillkit.topology.node import Node
from drillkit.topology.redis_config import CONF_DIR, REDIS_PORT

__all__ = ["CACHE_NODE", "CACHE_ROLE", "CacheNodes", "cache_conf"]

CACHE_ROLE = "cache"
CACHE_SECRET = "cache"


def cache_conf(password: str) -> str:
    """``redis.conf`` of the cache node: no persistence, a password, every address."""
    quoted = '"' + password.replace("\\", "\\\\").replace('"', '\\"') + '"'
    lines = [
        f"port {REDIS_PORT}",
        "bind * -::*",
        "protected-mode no",  # a password is required anyway; clients come through docker-proxy
        f"requirepass {quoted}",
        'save ""',
        "appendonly no",
    ]
    return "\n".join(lines) + "\n"


class CacheNodes:
    """Starting, reaching and describing the cache node of a database topology."""

    def __init__(self, topology: Any, image: str | None) -> None:
        self._topology = topology
        self.image = image
        self.nodes: list[Node] = []

    @property
    def wanted(self) -> bool:
        return getattr(self._topology.spec, "cache", None) is not None

    def start(self) -> Node:
        """Start ``cache0`` (the caller runs it alongside the database nodes)."""
        t = self._topology
        if self.image is None:
            raise RuntimeError("topology.cache needs the cache image (DockerPlatform.prepare)")
        node = start_node(
            t.client,
            name=CACHE_NODE,
            role=CACHE_ROLE,
            image=self.image,
            network=t.network_name,
            labels=t.labels,
            container_ports=[REDIS_PORT],
            environment={},
            container_name=t.container_name(CACHE_NODE),
            command=["redis-server", f"{CONF_DIR}/redis.conf"],
            helper_image=t.helper_image,
            secrets={"redis.conf": cache_conf(t.secrets[CACHE_SECRET])},
        )
        self.nodes.append(node)
        return node

    def find(self, name: str) -> Node | None:
        return next((n for n in self.nodes if n.name == name), None)

    def endpoint(self) -> CacheEndpoint | None:
        if not self.nodes:
            return None
        node = self.nodes[0]
        return CacheEndpoint(
            address=lambda: (node.host, node.port(REDIS_PORT)),
            password=self._topology.secrets[CACHE_SECRET],
        )

    def client(self, node: Node, timeout: float = 1.0) -> redis.Redis:
        """A client for the cache node on its published port (short timeouts, no retries)."""
        return redis.Redis(
            host=node.host,
            port=node.port(REDIS_PORT),
            password=self._topology.secrets[CACHE_SECRET],
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            retry=Retry(NoBackoff(), 0),
        )

    def wait_problem(self) -> str | None:
        """None once every cache node answers PING, else why not."""
        for node in self.nodes:
            try:
                with self.client(node) as r:
                    r.ping()
            except redis.RedisError as e:
                return f"{node.name}: {e}"
        return None

    def versions(self) -> dict[str, str]:
        """The cache server's version as it reports it (``cache_redis`` or ``cache_valkey``),
        read from the first cache node that answers; {} if none does."""
        for node in self.nodes:
            try:
                with self.client(node) as r:
                    server = r.info("server")
            except redis.RedisError:
                continue
            # Valkey also reports redis_version (the Redis API it implements, 7.2.4).
            engine = "valkey" if "valkey_version" in server else "redis"
            return {f"cache_{engine}": str(server[f"{engine}_version"])}
        return {}

    def evidence(self, directory: Path) -> dict[str, Any]:
        """Each cache node's log (``<node>.log``), role, status and image."""
        directory.mkdir(parents=True, exist_ok=True)
        out: dict[str, Any] = {}
        for n in self.nodes:
            (directory / f"{n.name}.log").write_text(n.logs(), encoding="utf-8")
            out[n.name] = {"role": n.role, "status": n.status(), "image": self.image}
        return out
