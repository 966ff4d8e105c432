"""Provisioning Redis + Sentinel: data nodes (primary first, then replicas of it), volumes, the
Sentinels once the replicas are online, and waiting until every Sentinel agrees."""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import partial

from redis.exceptions import RedisError

from drillkit.backend.docker import create_volume
from drillkit.errors import InfrastructureError
from drillkit.topology.node import Node
from drillkit.topology.redis_config import (
    BACKUP_DIR,
    DATA_DIR,
    REDIS_PORT,
    SENTINEL_PORT,
    data_node_command,
    redis_conf,
    sentinel_command,
    sentinel_conf,
)
from drillkit.topology.redis_roles import RedisRoles
from drillkit.topology.tls_conf import redis_tls_conf, sentinel_tls_conf

__all__ = ["RedisProvisioning"]


class RedisProvisioning(RedisRoles):
    """Start the data nodes and Sentinels on the run's network; wait until usable."""

    READY_TIMEOUT = 60.0

    def start(self) -> None:
        started = time.monotonic()
        self.create_network()
        password = self.secrets["redis"]
        # The master first (a replica's replicaof names its address, which Sentinel announces),
        # then every replica at once.
        first, *others = self.spec.data_node_names()
        self.progress(f"starting {first} (primary)")
        text = redis_conf(self.spec, password, None) + self._tls_conf(REDIS_PORT)
        (master,) = self.start_nodes({first: lambda: self._start_data_node(first, "primary", text)})
        master_ip = master.ip(self.network_name)
        replica_text = redis_conf(self.spec, password, master_ip) + self._tls_conf(REDIS_PORT)
        if others:
            self.progress("starting " + ", ".join(f"{n} (replica)" for n in others))
        self.start_nodes(
            {n: partial(self._start_data_node, n, "replica", replica_text) for n in others}
        )
        self.progress(f"waiting for {self.spec.replicas} replica(s) to sync")
        self._wait(self._replication_problem)
        # Sentinels start once the replicas are online: a Sentinel learns replicas from the
        # master's INFO, which it asks for every 10 s after the first time.
        names = self.spec.sentinel_names()
        if names:
            self.progress("starting " + ", ".join(f"{n} (sentinel)" for n in names))
        conf = {
            "sentinel.conf": sentinel_conf(self.spec, password, master_ip)
            + self._tls_conf(SENTINEL_PORT)
        }
        self.start_nodes(
            {
                n: partial(
                    self.start_container,
                    n,
                    "sentinel",
                    [SENTINEL_PORT],
                    {},
                    command=sentinel_command(i),
                    secrets=conf,
                )
                for i, n in enumerate(names)
            }
        )
        self.progress(f"waiting for {self.spec.sentinels} Sentinel(s) to agree")
        self._wait(self._sentinel_problem)
        self.ready_seconds = time.monotonic() - started

    def _tls_conf(self, port: int) -> str:
        """topology.tls: the TLS block appended to a node's or Sentinel's file (else nothing)."""
        if self.tls is None:
            return ""
        return sentinel_tls_conf(port) if port == SENTINEL_PORT else redis_tls_conf(port)

    def _start_data_node(self, name: str, role: str, conf: str) -> Node:
        volumes = {self._volume(name, "data"): {"bind": DATA_DIR, "mode": "rw"}}
        env: dict[str, str] = {}
        if self.spec.backup_interval_seconds is not None:
            volumes[self._volume(name, "backup")] = {"bind": BACKUP_DIR, "mode": "rw"}
            env["DK_BACKUP_INTERVAL"] = f"{self.spec.backup_interval_seconds:g}"
        return self.start_container(
            name,
            role,
            [REDIS_PORT],
            env,
            volumes=volumes,
            command=data_node_command(),
            secrets={"redis.conf": conf},
        )

    def start_scratch_node(
        self,
        name: str,
        *,
        environment: dict[str, str],
        command: list[str],
        secrets: dict[str, str] | None = None,
    ) -> Node:
        """A labelled Redis container on the run's network that is not one of the topology's
        nodes (faults never target it), with ``secrets`` as files in ``CONF_DIR``; the caller
        removes it."""
        return self.start_container(
            name, "restore", [REDIS_PORT], environment, command=command, secrets=secrets
        )

    def _volume(self, node: str, what: str) -> str:
        name = f"{self._prefix}-{node}-{what}"
        return create_volume(self.client, name, self.labels)

    def _wait(self, problem: Callable[[], str | None]) -> None:
        last = self.await_ready(problem, interval=0.05)
        if last is not None:
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
            problem = self.sentinel_view_problem(s, master)
            if problem:
                return problem
        return None
