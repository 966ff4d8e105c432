"""A Redis primary with N asynchronous replicas and K Sentinels, on a private network per run.

Sentinel announces the addresses nodes have on the run's Docker network; the harness reaches a
node only through the port Docker publishes for it on 127.0.0.1. :meth:`RedisCluster.publish`
maps one to the other (by the node's current IP on the network, looked up again if a node
restarted with a new one), so the workload asks Sentinel for the master exactly as an application
does and then connects to the published port of whatever node Sentinel named.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import redis
from redis.backoff import NoBackoff
from redis.exceptions import RedisError
from redis.retry import Retry

from drillkit.backend.docker import create_volume
from drillkit.errors import InfrastructureError
from drillkit.history import History
from drillkit.spec import SteadyState
from drillkit.spec import Workload as WorkloadSpec
from drillkit.spec_redis import RedisTopology
from drillkit.topology.containers import ContainerTopology
from drillkit.topology.node import Node, start_node
from drillkit.topology.redis_config import (
    BACKUP_DIR,
    DATA_DIR,
    MASTER_NAME,
    REDIS_PORT,
    SENTINEL_PORT,
    data_node_command,
    redis_conf,
    sentinel_command,
    sentinel_conf,
)
from drillkit.workload.base import Workload
from drillkit.workload.redis_writer import KEY, RedisEndpoints, RedisWriter

__all__ = ["RedisCluster", "no_retry"]

Progress = Callable[[str], None]
Address = tuple[str, int]


# The settings that decide what a failure loses, recorded in the evidence (never a password).
DATA_LOSS_SETTINGS = (
    "appendonly",
    "appendfsync",
    "save",
    "min-replicas-to-write",
    "min-replicas-max-lag",
    "replica-serve-stale-data",
    "repl-diskless-sync",
)


def no_retry() -> Retry:
    """No hidden retries: redis-py 8's default retry stretches one failed call to ~10 s."""
    return Retry(NoBackoff(), 0)


class RedisCluster(ContainerTopology):
    """Provision, reach and tear down Redis + Sentinel; the harness's only view of them."""

    SECRET_NAMES = ("redis",)
    IMAGE = "redis"

    READY_TIMEOUT = 60.0
    spec: RedisTopology

    def init_state(self) -> None:
        # The master the steady-state gate last found healthy: the one a failover replaces.
        self.healthy_master: str | None = None
        self._by_ip: dict[str, Node] = {}

    def start(self) -> None:
        started = time.monotonic()
        self.create_network()
        password = self.secrets["redis"]
        master_ip: str | None = None
        for name in self.spec.data_node_names():
            role = "replica" if master_ip else "primary"
            self.progress(f"starting {name} ({role})")
            node = self._start_data_node(name, role, redis_conf(self.spec, password, master_ip))
            self.nodes.append(node)
            master_ip = master_ip or node.ip(self.network_name)
        assert master_ip is not None
        self.progress(f"waiting for {self.spec.replicas} replica(s) to sync")
        self._wait(self._replication_problem)
        # Sentinels start once the replicas are online: a Sentinel learns replicas from the
        # master's INFO, which it asks for every 10 s after the first time.
        for name in self.spec.sentinel_names():
            self.progress(f"starting {name} (sentinel)")
            self.nodes.append(
                start_node(
                    self.client,
                    name=name,
                    role="sentinel",
                    image=self.image,
                    network=self.network_name,
                    labels=self.labels,
                    container_ports=[SENTINEL_PORT],
                    environment={"DK_SENTINEL_CONF": sentinel_conf(self.spec, password, master_ip)},
                    container_name=self.container_name(name),
                    command=sentinel_command(),
                )
            )
        self.progress(f"waiting for {self.spec.sentinels} Sentinel(s) to agree")
        self._wait(self._sentinel_problem)
        self.ready_seconds = time.monotonic() - started

    def _start_data_node(self, name: str, role: str, conf: str) -> Node:
        volumes = {self._volume(name, "data"): {"bind": DATA_DIR, "mode": "rw"}}
        env = {"DK_REDIS_CONF": conf}
        if self.spec.backup_interval_seconds is not None:
            volumes[self._volume(name, "backup")] = {"bind": BACKUP_DIR, "mode": "rw"}
            env["DK_BACKUP_INTERVAL"] = f"{self.spec.backup_interval_seconds:g}"
        return start_node(
            self.client,
            name=name,
            role=role,
            image=self.image,
            network=self.network_name,
            labels=self.labels,
            container_ports=[REDIS_PORT],
            environment=env,
            volumes=volumes,
            container_name=self.container_name(name),
            command=data_node_command(),
        )

    def start_scratch_node(
        self, name: str, *, environment: dict[str, str], command: list[str]
    ) -> Node:
        """A labelled Redis container on the run's network that is not one of the topology's
        nodes (faults never target it); the caller removes it."""
        return start_node(
            self.client,
            name=name,
            role="restore",
            image=self.image,
            network=self.network_name,
            labels=self.labels,
            container_ports=[REDIS_PORT],
            environment=environment,
            container_name=self.container_name(name),
            command=command,
        )

    def _volume(self, node: str, what: str) -> str:
        name = f"{self._prefix}-{node}-{what}"
        return create_volume(self.client, name, self.labels)

    def _wait(self, problem: Callable[[], str | None]) -> None:
        deadline = time.monotonic() + self.ready_timeout
        last: str | None = "not tried"
        while time.monotonic() < deadline:
            for node in self.nodes:
                if node.status() not in ("running", "created"):
                    raise InfrastructureError(
                        f"{node.name} exited while starting; last log lines:\n{node.logs(tail=20)}"
                    )
            last = problem()
            if last is None:
                return
            time.sleep(0.05)
        logs = "\n".join(f"--- {n.name}\n{n.logs(tail=10)}" for n in self.nodes)
        raise InfrastructureError(
            f"topology not ready after {self.ready_timeout:.0f} s ({last}); logs:\n{logs}"
        )

    def _replication_problem(self) -> str | None:
        try:
            online = self.online_replicas(self.data_nodes[0])
        except RedisError as e:
            return str(e)
        if len(online) < self.spec.replicas:
            return f"{len(online)} of {self.spec.replicas} replica(s) online"
        return None

    def _sentinel_problem(self) -> str | None:
        master = self.data_nodes[0]
        for s in self.sentinel_nodes:
            problem = self._sentinel_view_problem(s, master)
            if problem:
                return problem
        return None

    # -- reaching nodes ----------------------------------------------------------------------
    @property
    def data_nodes(self) -> list[Node]:
        return [n for n in self.nodes if n.role != "sentinel"]

    @property
    def sentinel_nodes(self) -> list[Node]:
        return [n for n in self.nodes if n.role == "sentinel"]

    def redis(self, node: Node, timeout: float = 1.0, *, decode: bool = True) -> redis.Redis:
        """A client for one node (data node or Sentinel) on its published port; no retries."""
        port = SENTINEL_PORT if node.role == "sentinel" else REDIS_PORT
        return redis.Redis(
            host=node.host,
            port=node.port(port),
            password=self.secrets["redis"],
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            retry=no_retry(),
            decode_responses=decode,
        )

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

    def publish(self, ip: str, port: int) -> Address:
        """Where the harness reaches ``ip:port`` (an address Sentinel announced)."""
        node = self.node_at(ip)
        return node.host, node.port(port)

    def endpoints(self) -> RedisEndpoints:
        return RedisEndpoints(
            sentinels=[(s.host, s.port(SENTINEL_PORT)) for s in self.sentinel_nodes],
            master_name=MASTER_NAME,
            password=self.secrets["redis"],
            publish=self.publish,
        )

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
                    ip, _port = r.sentinel_get_master_addr_by_name(MASTER_NAME)
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

    def current_primary(self) -> Node | None:
        """The running data node that is master; if several claim it (split brain), the one the
        Sentinels name."""
        masters = [n for n in self.running() if n.role != "sentinel" and self._is_master(n)]
        if len(masters) == 1:
            return masters[0]
        if not masters:
            return None
        announced = self.sentinel_master()
        return announced if announced in masters else None

    def _is_master(self, node: Node) -> bool:
        role = self.role(node)
        return bool(role) and role is not None and role[0] == "master"

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

    # -- what the drill runner needs (topology.base.System) ------------------------------------
    def prepare(self) -> None:
        """Nothing to create: the workload's set springs into being with its first SADD."""

    def make_workload(self, history: History, spec: WorkloadSpec) -> RedisWriter:
        return RedisWriter(self.endpoints(), history, spec)

    def read_ids(self) -> list[int]:
        """Every id in the workload's set, from the master the Sentinels name."""
        master = self.sentinel_master() or self.current_primary()
        if master is None:
            raise RuntimeError("neither the Sentinels nor the nodes name a single master")
        with self.redis(master, timeout=5.0) as r:
            return sorted(int(v) for v in r.smembers(KEY))

    def steady_state_problem(self, workload: Workload, spec: SteadyState) -> str | None:
        master = self.current_primary()
        if master is None:
            return "no single master"
        try:
            with self.redis(master) as r:
                info = r.info("replication")
        except RedisError as e:
            return f"cannot read INFO replication from {master.name}: {e}"
        replicas = [v for k, v in info.items() if k.startswith("slave") and isinstance(v, dict)]
        online = [v for v in replicas if v.get("state") == "online"]
        if len(online) < self.spec.replicas:
            return f"{len(online)} of {self.spec.replicas} replica(s) online"
        lag = int(info["master_repl_offset"]) - min(int(v["offset"]) for v in online)
        if lag > spec.max_replica_lag_bytes:
            return f"replica lag {lag} bytes > max_replica_lag_bytes {spec.max_replica_lag_bytes}"
        for s in self.sentinel_nodes:
            problem = self._sentinel_view_problem(s, master)
            if problem:
                return problem
        if workload.ok_count < spec.min_ok_writes:
            return f"{workload.ok_count} of {spec.min_ok_writes} writes acknowledged"
        self.healthy_master = master.name
        return None

    def _sentinel_view_problem(self, sentinel: Node, master: Node) -> str | None:
        try:
            with self.redis(sentinel, timeout=0.5) as r:
                state = r.sentinel_master(MASTER_NAME)
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
        if others < self.spec.sentinels - 1:
            return f"{sentinel.name} knows {others} of {self.spec.sentinels - 1} other Sentinel(s)"
        known = int(state.get("num-slaves", 0))
        if known < self.spec.replicas:
            return f"{sentinel.name} knows {known} of {self.spec.replicas} replica(s)"
        return None

    def _port(self, node: Node) -> int:
        return SENTINEL_PORT if node.role == "sentinel" else REDIS_PORT

    def shell_environment(self, *, inside: bool) -> dict[str, str]:
        """For custom steps: node names and addresses (from the host, or inside the run's
        network), the current master and the Sentinels. No password: that is in the file
        ``$DK_SECRETS_DIR/redis-auth`` (``REDISCLI_AUTH="$(cat ...)" redis-cli ...``)."""
        env = self.node_environment(self.nodes, self._port, self.current_primary(), inside=inside)
        env["DK_SENTINELS"] = " ".join(n.name for n in self.sentinel_nodes)
        env["DK_MASTER_NAME"] = MASTER_NAME
        return env

    def secret_files(self, *, inside: bool) -> dict[str, str]:
        """The password, alone in ``redis-auth`` (every node and Sentinel requires it)."""
        return {"redis-auth": self.secrets["redis"] + "\n"}

    def keep_instructions(self, credentials_dir: Path) -> list[str]:
        auth = self.write_password_file(credentials_dir / f"{self.run_id}.redis-auth")
        lines = []
        for n in self.nodes:
            port = n.port(SENTINEL_PORT if n.role == "sentinel" else REDIS_PORT)
            lines.append(
                f'{n.name} ({n.role}, {n.status()}): REDISCLI_AUTH="$(cat {auth})" '
                f"redis-cli -h {n.host} -p {port}"
            )
        return lines

    def write_password_file(self, path: Path) -> Path:
        """The password alone in a 0600 file, for a kept topology; never in the evidence."""
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(self.secrets["redis"] + "\n")
        return path

    def evidence(self, directory: Path) -> dict[str, Any]:
        """Write each node's container log under ``directory``; return the configuration
        fingerprint per node: role, image, and the settings that decide data loss (persistence,
        min-replicas, Sentinel timings). A node that does not answer is recorded as such."""
        nodes = self.node_evidence(directory, self._evidence_settings)
        return {"kind": "redis", "master_name": MASTER_NAME, "nodes": nodes}

    def _evidence_settings(self, node: Node, status: str) -> dict[str, Any]:
        if status != "running":
            return {}
        try:
            return self._settings(node)
        except (RedisError, OSError) as e:
            return {"settings_error": str(e)}

    def _settings(self, node: Node) -> dict[str, Any]:
        with self.redis(node) as r:
            if node.role == "sentinel":
                state = r.sentinel_master(MASTER_NAME)
                keys = ("quorum", "down-after-milliseconds", "failover-timeout", "parallel-syncs")
                master = self.node_at(str(state["ip"])).name if state.get("ip") else None
                return {"settings": {k: state.get(k) for k in keys}, "names_master": master}
            settings: dict[str, Any] = {}
            for key in DATA_LOSS_SETTINGS:
                settings.update(r.config_get(key))
            role = self.role(node)
        return {"settings": settings, "replication_role": role[0] if role else None}

    def versions(self) -> dict[str, str]:
        """Server version and image, for the evidence."""
        out: dict[str, str] = {}
        for n in self.running():
            if n.role == "sentinel":
                continue
            try:
                with self.redis(n) as r:
                    out["redis"] = str(r.info("server")["redis_version"])
                break
            except RedisError:
                continue
        out["redis_image"] = self.image
        return out
