"""Reaching Redis nodes and Sentinels, and discovering roles: which node is master (by its own
``ROLE`` or by the Sentinels' majority), which replicas are online, what a Sentinel believes.

Sentinel announces the addresses nodes have on the run's Docker network; the harness reaches a
node only through the port Docker publishes for it on 127.0.0.1. :meth:`RedisRoles.publish`
maps one to the other (by the node's current IP on the network, looked up again if a node
restarted with a new one).
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any

import redis
from redis.backoff import NoBackoff
from redis.exceptions import RedisError
from redis.retry import Retry

from drillkit.endpoints import Address, RedisEndpoints, TlsClient
from drillkit.spec.redis import RedisTopology
from drillkit.topology.containers import ContainerTopology
from drillkit.topology.node import Node
from drillkit.topology.redis_config import MASTER_NAME, REDIS_PORT, SENTINEL_PORT

__all__ = ["Address", "RedisRoles", "SentinelQueries", "SentinelRoles", "no_retry"]


def no_retry() -> Retry:
    """No hidden retries: redis-py 8's default retry stretches one failed call to ~10 s."""
    return Retry(NoBackoff(), 0)


class SentinelRoles:
    """Who is master among a Redis topology's data nodes, and the ``sentinel``/``sentinels``
    targets: shared by drillkit's own Redis topology and a stack it did not create. The class
    provides ``data_nodes``, ``sentinel_nodes``, ``role`` and ``sentinel_master``."""

    if TYPE_CHECKING:

        @property
        def data_nodes(self) -> list[Node]: ...

        @property
        def sentinel_nodes(self) -> list[Node]: ...

        def role(self, node: Node) -> list[Any] | None: ...

        def sentinel_master(self) -> Node | None: ...

    def current_primary(self) -> Node | None:
        """The running data node that is master; if several claim it (split brain), the one the
        Sentinels name."""
        masters = [n for n in self.data_nodes if n.is_running() and self._is_master(n)]
        if len(masters) == 1:
            return masters[0]
        if not masters:
            return None
        announced = self.sentinel_master()
        return announced if announced in masters else None

    def _is_master(self, node: Node) -> bool:
        role = self.role(node)
        return bool(role) and role is not None and role[0] == "master"

    def replica_names(self) -> list[str]:
        """The running data nodes whose ``ROLE`` says replica, by name."""
        names = []
        for node in self.data_nodes:
            if node.is_running():
                role = self.role(node)
                if role and str(role[0]) in ("slave", "replica"):
                    names.append(node.name)
        return names

    def role_pool(self) -> list[Node]:
        return self.data_nodes

    def resolve_special(self, target: str) -> list[Node] | None:
        """``sentinel`` is the first running Sentinel, ``sentinels`` all of them."""
        if target not in ("sentinel", "sentinels"):
            return None
        sentinels = [n for n in self.sentinel_nodes if n.is_running()]
        if not sentinels:
            raise RuntimeError("no running Sentinel to target")
        return sentinels if target == "sentinels" else sentinels[:1]


class SentinelQueries:
    """What a set of Redis data nodes and the Sentinels that watch them say: each node's
    ``ROLE``, the replicas online, which node each Sentinel names as master (by its address on
    the run's network), and whether a Sentinel's view is complete. Shared by drillkit's Redis
    topology and the cache in front of PostgreSQL (``topology.cache``); the class provides
    ``nodes``, ``network_name``, ``redis``, ``node``, ``master_name``, ``expected_sentinels``
    and ``expected_replicas``."""

    master_name: str = MASTER_NAME
    _by_ip: dict[str, Node]

    if TYPE_CHECKING:
        nodes: list[Node]

        @property
        def sentinel_nodes(self) -> list[Node]: ...

        @property
        def network_name(self) -> str: ...

        @property
        def expected_sentinels(self) -> int: ...

        @property
        def expected_replicas(self) -> int: ...

        def redis(
            self, node: Node, timeout: float = 1.0, *, decode: bool = True
        ) -> redis.Redis: ...

        def node(self, name: str) -> Node: ...

    def node_at(self, ip: str) -> Node:
        """The node that has ``ip`` on the run's network now (looked up again on a miss)."""
        if ip not in self._by_ip:
            fresh: dict[str, Node] = {}
            for node in self.nodes:
                try:
                    address = node.ip(self.network_name)
                except KeyError:
                    continue
                if address:
                    fresh[address] = node
            self._by_ip = fresh
        try:
            return self._by_ip[ip]
        except KeyError:
            raise KeyError(f"no node of this run has {ip} on {self.network_name}") from None

    def role(self, node: Node) -> list[Any] | None:
        """``ROLE`` of a data node (``['master', ...]`` or ``['slave', host, ...]``), None if
        it does not answer."""
        try:
            with self.redis(node, timeout=0.5) as r:
                return list(r.execute_command("ROLE"))
        except (RedisError, OSError):
            return None

    def online_replicas(self, master: Node) -> list[dict[str, Any]]:
        with self.redis(master) as r:
            info = r.info("replication")
        return [
            v
            for k, v in info.items()
            if k.startswith("slave") and isinstance(v, dict)
            if v.get("state") == "online"
        ]

    def sentinel_announced(self) -> dict[str, Node | None]:
        """Which node each running Sentinel names as master now (None: no answer)."""
        out: dict[str, Node | None] = {}
        for s in self.sentinel_nodes:
            try:
                with self.redis(s, timeout=0.5) as r:
                    ip, _port = r.sentinel_get_master_addr_by_name(self.master_name)
                out[s.name] = self.node_at(str(ip))
            except (RedisError, OSError, KeyError, TypeError):
                out[s.name] = None
        return out

    def sentinel_master(self) -> Node | None:
        """The node a majority of the answering Sentinels names as master, or None."""
        named = [n.name for n in self.sentinel_announced().values() if n is not None]
        if not named:
            return None
        name, votes = Counter(named).most_common(1)[0]
        return self.node(name) if votes * 2 > len(named) else None

    def sentinel_view_problem(self, sentinel: Node, master: Node) -> str | None:
        """What is wrong with ``sentinel``'s view of ``master`` (another master named, it is
        down, Sentinels or replicas missing), or None."""
        try:
            with self.redis(sentinel, timeout=0.5) as r:
                state = r.sentinel_master(self.master_name)
        except (RedisError, OSError) as e:
            return f"{sentinel.name} does not answer: {e}"
        try:
            named = self.node_at(str(state["ip"])).name
        except KeyError as e:
            return str(e)
        if named != master.name:
            return f"{sentinel.name} names {named} as master, not {master.name}"
        if not state.get("is_master") or state.get("is_sdown") or state.get("is_odown"):
            return f"{sentinel.name} sees {named} as {state.get('flags')}"
        others = int(state.get("num-other-sentinels", 0))
        if others < self.expected_sentinels - 1:
            return (
                f"{sentinel.name} knows {others} of {self.expected_sentinels - 1} other Sentinel(s)"
            )
        known = int(state.get("num-slaves", 0))
        if known < self.expected_replicas:
            return f"{sentinel.name} knows {known} of {self.expected_replicas} replica(s)"
        return None


class RedisRoles(SentinelQueries, SentinelRoles, ContainerTopology):
    """Data nodes and Sentinels of one run, and who is master among them right now."""

    spec: RedisTopology

    def init_state(self) -> None:
        self._by_ip = {}

    @property
    def expected_sentinels(self) -> int:
        return self.spec.sentinels

    @property
    def expected_replicas(self) -> int:
        return self.spec.replicas

    @property
    def data_nodes(self) -> list[Node]:
        return [n for n in self.nodes if n.role != "sentinel"]

    @property
    def sentinel_nodes(self) -> list[Node]:
        return [n for n in self.nodes if n.role == "sentinel"]

    def port_of(self, node: Node) -> int:
        """The port ``node`` serves inside its container (Sentinel or Redis)."""
        return SENTINEL_PORT if node.role == "sentinel" else REDIS_PORT

    def redis(self, node: Node, timeout: float = 1.0, *, decode: bool = True) -> redis.Redis:
        """A client for one node (data node or Sentinel) on its published port; no retries."""
        return redis.Redis(
            host=node.host,
            port=node.port(self.port_of(node)),
            password=self.secrets["redis"],
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            retry=no_retry(),
            decode_responses=decode,
            **self.tls_kwargs(),
        )

    def publish(self, ip: str, port: int) -> Address:
        """Where the harness reaches ``ip:port`` (an address Sentinel announced)."""
        node = self.node_at(ip)
        return node.host, node.port(port)

    def endpoints(self) -> RedisEndpoints:
        """The Sentinels, the address map, each data node's address and who is master now."""
        return RedisEndpoints(
            sentinels=[(s.host, s.port(SENTINEL_PORT)) for s in self.sentinel_nodes],
            master_name=MASTER_NAME,
            password=self.secrets["redis"],
            publish=self.publish,
            node=self._node_address,
            master=self._master_name,
            replicas=self.replica_names,
            tls=self.tls_client(),
        )

    def tls_client(self) -> TlsClient | None:
        """topology.tls: the run's CA and drillkit's client certificate (0600 files in the
        run's private directory), for every client of this deployment."""
        if self.tls is None:
            return None
        cert, key = self.tls.client_files()
        return TlsClient(str(self.tls.ca_file), str(cert), str(key))

    def tls_kwargs(self) -> dict[str, Any]:
        """Keyword arguments that make a redis-py ``Redis`` client speak TLS (none if off)."""
        client = self.tls_client()
        return {"ssl": True, **client.redis_kwargs()} if client is not None else {}

    def _node_address(self, name: str) -> Address:
        node = self.node(name)
        return node.host, node.port(self.port_of(node))

    def _master_name(self) -> str | None:
        master = self.sentinel_master() or self.current_primary()
        return None if master is None else master.name
