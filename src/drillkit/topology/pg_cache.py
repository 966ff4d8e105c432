"""The cache in front of PostgreSQL (``topology.cache``): Redis or Valkey containers on the run's
network, started with the database nodes.

By default one node, ``cache0`` (role ``cache``). With ``replicas`` and ``sentinels``:
``cache1``/``cache2`` replicate ``cache0`` asynchronously (role ``cache-replica``) and three
Sentinels ``cache-s0..2`` (role ``cache-sentinel``, quorum 2) monitor the master as
``drillkit-cache`` and fail it over; Sentinel's configuration, start-up and its view of who is
master are the Redis topology's own (:mod:`~drillkit.topology.redis_config`,
:class:`~drillkit.topology.redis_roles.SentinelQueries`).

It is a cache, not a database: no persistence (no save points, no AOF), a password in each
node's configuration file (a secrets file, never argv or the environment), ports published on
127.0.0.1 only. The cache nodes are not the topology's data nodes (``nodes``): roles, the client
path and the database's evidence never see them; faults reach them by name, or the cache's
master by the role ``cache-master``.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any

from redis import Redis
from redis.backoff import NoBackoff
from redis.exceptions import RedisError
from redis.retry import Retry

from drillkit.backend.docker import start_node
from drillkit.endpoints import Address, CacheEndpoint
from drillkit.spec.postgres import CACHE_MASTER_NAME, CACHE_NODE, CacheOptions
from drillkit.topology.node import Node
from drillkit.topology.redis_config import (
    CONF_DIR,
    REDIS_PORT,
    SENTINEL_PORT,
    sentinel_command,
    sentinel_conf,
    server_version,
)
from drillkit.topology.redis_roles import SentinelQueries, SentinelRoles
from drillkit.wait import WaitTimeout, is_none, wait_until

__all__ = [
    "CACHE_NODE",
    "CACHE_REPLICA_ROLE",
    "CACHE_ROLE",
    "CACHE_SENTINEL_ROLE",
    "CacheNodes",
    "cache_conf",
]

CACHE_ROLE = "cache"
CACHE_REPLICA_ROLE = "cache-replica"
CACHE_SENTINEL_ROLE = "cache-sentinel"
CACHE_SECRET = "cache"
READY_TIMEOUT = 60.0


def cache_conf(password: str, master_ip: str | None = None, *, replicated: bool = False) -> str:
    """``redis.conf`` of a cache node: no persistence, a password, every address; with
    ``master_ip``, a replica of it; ``replicated``: the master of replicas (it syncs at once)."""
    quoted = '"' + password.replace("\\", "\\\\").replace('"', '\\"') + '"'
    lines = [
        f"port {REDIS_PORT}",
        "bind * -::*",
        "protected-mode no",  # a password is required anyway; clients come through docker-proxy
        f"requirepass {quoted}",
        'save ""',
        "appendonly no",
    ]
    if replicated or master_ip is not None:
        # any node may become master or replica after a failover
        lines += [f"masterauth {quoted}", "repl-diskless-sync-delay 0"]
    if master_ip is not None:
        lines.append(f"replicaof {master_ip} {REDIS_PORT}")
    return "\n".join(lines) + "\n"


class CacheNodes(SentinelQueries, SentinelRoles):
    """Starting, reaching and describing the cache nodes (and Sentinels) of a database
    topology."""

    master_name = CACHE_MASTER_NAME

    def __init__(self, topology: Any, image: str | None) -> None:
        self._topology = topology
        self.image = image
        self.nodes: list[Node] = []
        self._by_ip = {}

    @property
    def options(self) -> CacheOptions | None:
        return getattr(self._topology.spec, "cache", None)

    @property
    def wanted(self) -> bool:
        return self.options is not None

    @property
    def sentinels_wanted(self) -> bool:
        return self.options is not None and self.options.sentinels > 0

    @property
    def expected_sentinels(self) -> int:
        return self.options.sentinels if self.options is not None else 0

    @property
    def expected_replicas(self) -> int:
        return self.options.replicas if self.options is not None else 0

    @property
    def network_name(self) -> str:
        return str(self._topology.network_name)

    @property
    def data_nodes(self) -> list[Node]:
        return [n for n in self.nodes if n.role != CACHE_SENTINEL_ROLE]

    @property
    def sentinel_nodes(self) -> list[Node]:
        return [n for n in self.nodes if n.role == CACHE_SENTINEL_ROLE]

    def port_of(self, node: Node) -> int:
        return SENTINEL_PORT if node.role == CACHE_SENTINEL_ROLE else REDIS_PORT

    def _start(
        self, name: str, role: str, port: int, command: list[str], secrets: dict[str, str]
    ) -> Node:
        t = self._topology
        assert self.image is not None
        return start_node(
            t.client,
            name=name,
            role=role,
            image=self.image,
            network=t.network_name,
            labels=t.labels,
            container_ports=[port],
            environment={},
            container_name=t.container_name(name),
            command=command,
            helper_image=t.helper_image,
            secrets=secrets,
        )

    def _start_all(self, starts: list[Callable[[], Node]]) -> None:
        if not starts:
            return
        with ThreadPoolExecutor(max_workers=len(starts)) as pool:
            futures = [pool.submit(s) for s in starts]
        self.nodes.extend(f.result() for f in futures)

    def start(self) -> Node:
        """Start ``cache0`` and, with replicas, its replicas (once it runs: they name its
        address) and, once they are online, the Sentinels (a Sentinel learns replicas from the
        master's INFO). The caller runs this alongside the database nodes; returns ``cache0``."""
        options = self.options
        if self.image is None or options is None:
            raise RuntimeError("topology.cache needs the cache image (DockerPlatform.prepare)")
        password = self._topology.secrets[CACHE_SECRET]
        server = ["redis-server", f"{CONF_DIR}/redis.conf"]
        conf = cache_conf(password, replicated=options.replicas > 0)
        master = self._start(CACHE_NODE, CACHE_ROLE, REDIS_PORT, server, {"redis.conf": conf})
        self.nodes.append(master)
        if options.replicas == 0:
            return master
        ip = master.ip(self.network_name)
        replica_conf = {"redis.conf": cache_conf(password, ip)}
        self._start_all(
            [
                partial(self._start, n, CACHE_REPLICA_ROLE, REDIS_PORT, server, replica_conf)
                for n in options.node_names()[1 : options.replicas + 1]
            ]
        )
        self._wait(self._replication_problem)
        text = {"sentinel.conf": sentinel_conf(options, password, ip, CACHE_MASTER_NAME)}
        names = options.node_names()[options.replicas + 1 :]
        self._start_all(
            [
                partial(
                    self._start, n, CACHE_SENTINEL_ROLE, SENTINEL_PORT, sentinel_command(i), text
                )
                for i, n in enumerate(names)
            ]
        )
        return master

    def _wait(self, problem: Callable[[], str | None]) -> None:
        try:
            wait_until(problem, until=is_none, timeout=READY_TIMEOUT, interval=0.05)
        except WaitTimeout as e:
            raise RuntimeError(f"the cache did not come up: {e.last_value}") from None

    def _replication_problem(self) -> str | None:
        try:
            online = self.online_replicas(self.data_nodes[0])
        except (RedisError, OSError) as e:
            return f"{CACHE_NODE}: {e}"
        if len(online) < self.expected_replicas:
            return f"{len(online)} of {self.expected_replicas} cache replica(s) online"
        return None

    def find(self, name: str) -> Node | None:
        return next((n for n in self.nodes if n.name == name), None)

    def node(self, name: str) -> Node:
        found = self.find(name)
        if found is None:
            raise KeyError(name)
        return found

    def publish(self, ip: str, port: int) -> Address:
        """Where the harness reaches ``ip:port`` (an address the cache's Sentinels announce)."""
        node = self.node_at(ip)
        return node.host, node.port(port)

    def endpoint(self) -> CacheEndpoint | None:
        if not self.nodes:
            return None
        node = self.nodes[0]
        return CacheEndpoint(
            address=lambda: (node.host, node.port(REDIS_PORT)),
            password=self._topology.secrets[CACHE_SECRET],
            sentinels=[(s.host, s.port(SENTINEL_PORT)) for s in self.sentinel_nodes],
            master_name=CACHE_MASTER_NAME,
            publish=self.publish,
        )

    def redis(self, node: Node, timeout: float = 1.0, *, decode: bool = True) -> Redis:
        """A client for a cache node or Sentinel on its published port (no retries)."""
        return Redis(
            host=node.host,
            port=node.port(self.port_of(node)),
            password=self._topology.secrets[CACHE_SECRET],
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            retry=Retry(NoBackoff(), 0),
            decode_responses=decode,
        )

    def client(self, node: Node, timeout: float = 1.0) -> Redis:
        """A client for a cache node on its published port (short timeouts, no retries)."""
        return self.redis(node, timeout, decode=False)

    def wait_problem(self) -> str | None:
        """None once every cache node answers PING (and, with Sentinels, every Sentinel
        names cache0 and knows the others and the replicas), else why not."""
        for node in self.data_nodes:
            try:
                with self.client(node) as r:
                    r.ping()
            except RedisError as e:
                return f"{node.name}: {e}"
        if self.sentinels_wanted:
            master = self.data_nodes[0]
            for s in self.sentinel_nodes:
                problem = self.sentinel_view_problem(s, master)
                if problem:
                    return problem
        return None

    def versions(self) -> dict[str, str]:
        """The cache server's version as it reports it (``cache_redis`` or ``cache_valkey``),
        read from the first cache node that answers; {} if none does."""
        for node in self.data_nodes:
            try:
                with self.client(node) as r:
                    engine, version = server_version(r.info("server"))
            except (RedisError, OSError):
                continue
            return {f"cache_{engine}": version}
        return {}

    def evidence(self, directory: Path) -> dict[str, Any]:
        """Each cache node's log (``<node>.log``), role, status and image."""
        directory.mkdir(parents=True, exist_ok=True)
        out: dict[str, Any] = {}
        for n in self.nodes:
            (directory / f"{n.name}.log").write_text(n.logs(), encoding="utf-8")
            out[n.name] = {"role": n.role, "status": n.status(), "image": self.image}
        return out
