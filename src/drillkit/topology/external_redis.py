"""A Redis (or Valkey) + Sentinel stack drillkit did not create: a Compose project or chosen
containers (``engine: redis`` with ``sentinel: {nodes, master_name}``).

Like :class:`~drillkit.topology.external.ExternalPostgres`, entering only *attaches*: it finds
the data nodes and the Sentinels, reads their published ports and discovers the roles (``ROLE``
on each data node, ``SENTINEL get-master-addr-by-name`` on each Sentinel). drillkit sends the
stack no FLUSHALL/FLUSHDB, no CONFIG SET and no SENTINEL command that changes anything: the
workload writes one key of its own (``drillkit_probe_<run>:ids``) through Sentinel discovery, as
the application does, and deletes exactly that key at the end.
"""

from __future__ import annotations

from collections import Counter
from typing import Any, Self

import redis
from redis.exceptions import RedisError

from drillkit.backend.docker.attach import (
    Found,
    attach_node,
    compose_containers,
    named_containers,
    published_port,
)
from drillkit.backend.docker.node import LOOPBACK
from drillkit.endpoints import Address, RedisEndpoints
from drillkit.errors import InfrastructureError
from drillkit.spec import SteadyState
from drillkit.spec.external import ComposeTopology, ExternalSentinels
from drillkit.topology.base import Health
from drillkit.topology.external import ExternalPostgres, Surveyed, read_password
from drillkit.topology.node import Node
from drillkit.topology.redis_roles import SentinelRoles, no_retry

__all__ = ["ExternalRedis"]


class ExternalRedis(SentinelRoles, ExternalPostgres):
    """The :class:`~drillkit.topology.base.System` of an existing Redis + Sentinel stack."""

    @property
    def sentinel(self) -> ExternalSentinels:
        assert self.spec.sentinel is not None  # validation: engine redis needs sentinel
        return self.spec.sentinel

    # -- attaching ------------------------------------------------------------------------------
    def __enter__(self) -> Self:
        self._password = read_password(self.spec.credentials, self.environ)
        if self._password:
            self.secrets.add("external", self._password)
        data, sentinels = self._find_all()
        if not data:
            raise InfrastructureError(f"{self._describe()}: no Redis container found")
        for found, role, port in [
            *((f, "unknown", self.spec.port) for f in data),
            *((f, "sentinel", self.sentinel.port) for f in sentinels),
        ]:
            status = str(found.container.status)
            if status != "running":
                raise InfrastructureError(
                    f"{found.name} ({found.container.name}) is {status}, not running"
                )
            try:
                node = attach_node(
                    self.client,
                    found,
                    role=role,
                    container_ports=[port],
                    labels=self.labels,
                    helper_image=self.image,
                )
            except LookupError as e:
                raise InfrastructureError(str(e)) from None
            self.nodes.append(node)
        self._network = next((n.network for n in self.nodes if n.network), "")  # type: ignore[attr-defined]
        self._discover_roles()
        names = ", ".join(f"{n.name} ({n.role})" for n in self.nodes)
        self.progress(f"attached to {self._describe()}: {names}")
        return self

    def _find_all(self) -> tuple[list[Found], list[Found]]:
        """The data nodes and the Sentinels (each declared Sentinel must exist)."""
        names = self.sentinel.nodes
        if isinstance(self.spec, ComposeTopology):
            sentinels = compose_containers(self.client, self.spec.project, names)
            missing = set(names) - {f.group for f in sentinels}
            if missing:
                raise InfrastructureError(
                    f"{self._describe()} has no service {', '.join(sorted(missing))}"
                )
            data = compose_containers(self.client, self.spec.project, self.spec.services)
            missing = set(self.spec.services) - {f.group for f in data}
            if missing:
                raise InfrastructureError(
                    f"{self._describe()} has no service {', '.join(sorted(missing))}"
                )
            data = [f for f in data if f.group not in names]
            if not self.spec.services:  # every other service that publishes the Redis port
                data = [f for f in data if published_port(f.container, self.spec.port)]
            return data, sentinels
        try:
            data = named_containers(self.client, self.spec.names, self.spec.label)
            sentinels = named_containers(self.client, names, None)
        except LookupError as e:
            raise InfrastructureError(str(e)) from None
        return [f for f in data if f.name not in names], sentinels

    def _find(self) -> list[Found]:
        data, sentinels = self._find_all()
        return [*data, *sentinels]

    def _discover_roles(self) -> None:
        for n in self.data_nodes:
            role = self.role(n)
            if role is None:
                raise InfrastructureError(
                    f"{n.name}: cannot reach Redis at {n.host}:{n.port(self.spec.port)} "
                    "(is the password right?)"
                )
            n.role = "primary" if role[0] == "master" else "replica"

    def survey(self) -> list[Surveyed]:
        """As :meth:`ExternalPostgres.survey`: read-only Docker calls and ``ROLE`` (data nodes);
        Sentinels are listed with the role ``sentinel``."""
        try:
            self._password = read_password(self.spec.credentials, self.environ)
            if self._password:
                self.secrets.add("external", self._password)
            credentials = ""
        except InfrastructureError as e:
            credentials = str(e)
        data, sentinels = self._find_all()
        out = []
        for f, is_sentinel in [*((f, False) for f in data), *((f, True) for f in sentinels)]:
            c = f.container
            container_port = self.sentinel.port if is_sentinel else self.spec.port
            status, port = str(c.status), published_port(c, container_port)
            role, note = ("sentinel" if is_sentinel else "unknown"), credentials
            if status != "running":
                note = f"{status}: a run would refuse to start"
            elif port is None:
                note = f"port {container_port} not published on {LOOPBACK}: a run would refuse"
            elif not credentials and not is_sentinel:
                role, note = self._survey_role(port)
            image = str((c.attrs.get("Config") or {}).get("Image", ""))
            out.append(Surveyed(f.name, str(c.name), str(c.id), image, status, role, port, note))
        return out

    def _survey_role(self, port: int) -> tuple[str, str]:  # type: ignore[override]
        try:
            with self._client(LOOPBACK, port, 2.0) as r:
                role = list(r.execute_command("ROLE"))
        except (RedisError, OSError) as e:
            return "unknown", self.secrets.redact(f"cannot query: {str(e).strip()}")
        return ("primary" if role and role[0] == "master" else "replica"), ""

    # -- reaching nodes and Sentinels (read-only commands) ---------------------------------------
    @property
    def data_nodes(self) -> list[Node]:
        return [n for n in self.nodes if n.role != "sentinel"]

    @property
    def sentinel_nodes(self) -> list[Node]:
        return [n for n in self.nodes if n.role == "sentinel"]

    def _client(self, host: str, port: int, timeout: float) -> redis.Redis:
        return redis.Redis(
            host=host,
            port=port,
            password=self._password or None,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            retry=no_retry(),
            decode_responses=True,
        )

    def port_of(self, node: Node) -> int:
        return self.sentinel.port if node.role == "sentinel" else self.spec.port

    def redis(self, node: Node, timeout: float = 1.0) -> redis.Redis:
        return self._client(node.host, node.port(self.port_of(node)), timeout)

    def role(self, node: Node) -> list[Any] | None:
        """``ROLE`` of a data node, None if it does not answer."""
        try:
            with self.redis(node, timeout=0.5) as r:
                return list(r.execute_command("ROLE"))
        except (RedisError, OSError):
            return None

    def node_at(self, host: str) -> Node:
        """The data node Sentinel announced as ``host`` (its IP on one of its networks, or its
        container or node name when the stack announces hostnames)."""
        for n in self.data_nodes:
            container = n.container  # type: ignore[attr-defined]
            container.reload()
            networks = (container.attrs.get("NetworkSettings") or {}).get("Networks") or {}
            ips = {str(v.get("IPAddress", "")) for v in networks.values()}
            aliases = {a for v in networks.values() for a in (v.get("Aliases") or [])}
            if host in ips or host in aliases or host in (n.name, str(container.name)):
                return n
        raise KeyError(f"no data node of {self._describe()} is {host}")

    def publish(self, host: str, port: int) -> Address:
        node = self.node_at(host)
        return node.host, node.port(self.spec.port)

    def sentinel_announced(self) -> dict[str, Node | None]:
        out: dict[str, Node | None] = {}
        for s in self.sentinel_nodes:
            try:
                with self.redis(s, timeout=0.5) as r:
                    host, _port = r.sentinel_get_master_addr_by_name(self.sentinel.master_name)
                out[s.name] = self.node_at(str(host))
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

    # -- what the workload and the runner see ----------------------------------------------------
    def endpoints(self) -> RedisEndpoints:  # type: ignore[override]
        return RedisEndpoints(
            sentinels=[(s.host, s.port(self.sentinel.port)) for s in self.sentinel_nodes],
            master_name=self.sentinel.master_name,
            password=self._password,
            publish=self.publish,
            node=lambda name: (self.node(name).host, self.node(name).port(self.spec.port)),
            master=self._master_name,
            replicas=self.replica_names,
        )

    def _master_name(self) -> str | None:
        master = self.sentinel_master() or self.current_primary()
        return None if master is None else master.name

    def health(self, spec: SteadyState) -> Health:
        """One master, every other data node an online replica within the lag, every Sentinel
        naming that master."""
        master = self.current_primary()
        if master is None:
            return Health("no single master")
        try:
            with self.redis(master) as r:
                info = r.info("replication")
        except (RedisError, OSError) as e:
            return Health(f"cannot read INFO replication from {master.name}: {e}")
        online = [
            v
            for k, v in info.items()
            if k.startswith("slave") and isinstance(v, dict) and v.get("state") == "online"
        ]
        expected = len(self.data_nodes) - 1
        problem = None
        if len(online) < expected:
            problem = f"{len(online)} of {expected} replica(s) online"
        elif online:
            lag = int(info["master_repl_offset"]) - min(int(v["offset"]) for v in online)
            if lag > spec.max_replica_lag_bytes:
                problem = f"replica lag {lag} bytes > max_replica_lag_bytes"
        if problem is None:
            announced = self.sentinel_announced()
            wrong = {s: (n.name if n else None) for s, n in announced.items() if n is not master}
            if wrong:
                problem = f"Sentinels do not name {master.name}: {wrong}"
        return Health(problem, {"primary": master.name})

    def versions(self) -> dict[str, str]:
        for n in self.data_nodes:
            try:
                with self.redis(n) as r:
                    info = r.info("server")
            except (RedisError, OSError):
                continue
            out = {"redis": str(info.get("redis_version", ""))}
            if "valkey_version" in info:
                out["valkey"] = str(info["valkey_version"])
            return out
        return {}

    # -- custom steps ----------------------------------------------------------------------------
    def _address(self, node: Node, *, inside: bool) -> tuple[str, int]:
        if inside:
            return str(node.container.name), self.port_of(node)  # type: ignore[attr-defined]
        return node.host, node.port(self.port_of(node))

    def shell_environment(self, *, inside: bool) -> dict[str, str]:
        """``DK_*`` variables (nodes, containers, the master), ``DK_MASTER_NAME``,
        ``DK_SENTINELS``; the password only as the file ``$DK_SECRETS_DIR/redis-auth``."""
        primary = self.current_primary()
        env = {
            "DK_RUN_ID": self.run_id,
            "DK_NETWORK": self._network,
            "DK_NODES": " ".join(n.name for n in self.nodes),
            "DK_PRIMARY": primary.name if primary else "",
            "DK_MASTER_NAME": self.sentinel.master_name,
            "DK_SENTINELS": " ".join(n.name for n in self.sentinel_nodes),
        }
        for n in self.nodes:
            key = "DK_" + n.name.upper().replace("-", "_")
            host, port = self._address(n, inside=inside)
            env[f"{key}_HOST"], env[f"{key}_PORT"] = host, str(port)
            env[f"{key}_CONTAINER"] = str(n.container.name)  # type: ignore[attr-defined]
        if primary is not None:
            host, port = self._address(primary, inside=inside)
            env["DK_PRIMARY_HOST"], env["DK_PRIMARY_PORT"] = host, str(port)
        return env

    def secret_files(self, *, inside: bool) -> dict[str, str]:
        return {"redis-auth": self._password + "\n"}
