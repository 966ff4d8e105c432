"""Provisioning a Patroni topology: a 3-member etcd cluster (the DCS), the Patroni members, an
optional HAProxy, and waiting until a leader serves the client path with every replica
streaming."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from functools import partial
from typing import Any

import psycopg
import requests

from drillkit.backend.docker import create_volume
from drillkit.errors import InfrastructureError
from drillkit.topology.node import Node
from drillkit.topology.patroni_view import HAPROXY_PORT, REST_PORT, REST_SECRET, PatroniView
from drillkit.topology.pg_admin import PG_PORT, PGDATA
from drillkit.topology.pgbackrest import BackupRepo, PgBackRestError, archive_parameters
from drillkit.topology.tls_evidence import replication_tls

__all__ = ["DCS_FILE", "DEFAULT_PARAMETERS", "ETCD_MEMBERS", "PatroniProvisioning", "dcs_config"]

ETCD_MEMBERS = 3
DCS_FILE = "patroni-dcs.json"  # in each member's secrets directory; the entrypoint embeds it
# drillkit's defaults under the drill's own parameters (topology.postgresql); timeouts are
# PostgreSQL's unless the drill sets them.
DEFAULT_PARAMETERS: dict[str, str] = {
    "wal_level": "replica",
    "hot_standby": "on",
    "wal_log_hints": "on",
    "max_wal_senders": "10",
    "max_replication_slots": "10",
    "max_connections": "200",
    "wal_keep_size": "256MB",
    "password_encryption": "scram-sha-256",
}


def dcs_config(spec: Any) -> dict[str, Any]:
    """Patroni's bootstrap dynamic configuration for a :class:`PatroniTopology`."""
    return {
        "ttl": spec.ttl,
        "loop_wait": spec.loop_wait,
        "retry_timeout": spec.retry_timeout,
        "maximum_lag_on_failover": spec.maximum_lag_on_failover,
        "synchronous_mode": spec.replication == "sync",
        "postgresql": {
            "use_pg_rewind": True,
            "use_slots": True,
            "parameters": {
                **DEFAULT_PARAMETERS,
                "synchronous_commit": spec.synchronous_commit,
                **spec.postgresql,
                # topology.pgbackrest: the leader archives (settings.py refuses other values)
                **(archive_parameters(spec.pgbackrest) if spec.pgbackrest else {}),
            },
        },
    }


class PatroniProvisioning(PatroniView):
    """Start etcd, the members and HAProxy on the run's network; wait until usable."""

    READY_TIMEOUT = 120.0

    def init_state(self) -> None:
        self.restored: list[str] = []  # members that bootstrapped from the repository
        self._restore_phases: dict[str, dict[str, float]] = {}  # member -> phase -> seconds
        self.repo: BackupRepo | None = None
        if self.spec.pgbackrest is not None:
            self.repo = BackupRepo(
                self.client,
                self.spec.pgbackrest,
                volume_name=f"{self._prefix}-pgbackrest",
                labels=self.labels,
                progress=self.progress,
            )

    def _container(
        self, name: str, role: str, ports: list[int], env: dict[str, str], **kw: Any
    ) -> Node:
        env = {"DK_NODE_NAME": name, "DK_ADVERTISE": self.container_name(name), **env}
        if self.tls is not None:
            env["DK_TLS"] = "on"
        return self.start_container(name, role, ports, env, **kw)

    def start(self) -> None:
        started = time.monotonic()
        self.create_network()
        etcd = [f"etcd{i}" for i in range(ETCD_MEMBERS)]
        scheme = self.rest_scheme  # topology.tls: etcd peers over TLS too
        initial = ",".join(f"{e}={scheme}://{self.container_name(e)}:2380" for e in etcd)
        # The etcd members at once (each waits for its peers by itself); then the first member;
        # then the other members and HAProxy at once. Each member's entrypoint starts Patroni
        # once etcd is healthy, and the others once the first holds the initialize key, so the
        # first bootstraps the cluster (patroni-entrypoint.sh, await_etcd).
        self.progress("starting " + ", ".join(f"{e} (etcd)" for e in etcd))
        etcd_env = {
            "DK_SERVICE": "etcd",
            "DK_ETCD_INITIAL_CLUSTER": initial,
            "DK_ETCD_TOKEN": self.run_id,
        }
        self.start_nodes({e: partial(self._container, e, "etcd", [], etcd_env) for e in etcd})
        if self.repo is not None:
            self.repo.create_volume()
        first, *others = self.spec.member_names()
        for name in (first, *others):
            create_volume(self.client, self.member_volume(name), self.labels)
        self.progress(f"starting {first} (Patroni member)")
        self.start_member(first)
        rest: dict[str, Callable[[], Node]] = {
            m: partial(self._member_container, m, await_initialize=True) for m in others
        }
        if self.spec.haproxy:
            members = " ".join(f"{m}={self.container_name(m)}" for m in self.spec.member_names())
            haproxy_env = {"DK_SERVICE": "haproxy", "DK_PATRONI_MEMBERS": members}
            rest["haproxy"] = partial(
                self._container, "haproxy", "haproxy", [HAPROXY_PORT], haproxy_env
            )
        self.progress(
            "starting "
            + ", ".join(f"{n} (Patroni member)" for n in others)
            + (", haproxy (routes to the leader: GET /primary)" if self.spec.haproxy else "")
        )
        self.start_nodes(rest)
        self.progress("waiting for a leader and every replica streaming")
        self._wait_ready()
        if self.repo is not None:
            leader = self.leader()
            assert leader is not None  # _wait_ready saw one
            self.progress(f"pgbackrest: stanza-create and a full backup on {leader.name}")
            try:
                self.repo.init(leader)
            except PgBackRestError as e:
                raise InfrastructureError(f"the backup repository did not come up: {e}") from None
        self.ready_seconds = time.monotonic() - started
        # TLS as the servers report it once ready, before any fault: the report's proof that
        # replication was encrypted while it mattered (after a failover the walsenders differ)
        self.tls_at_ready = replication_tls(self, self.members())

    def member_volume(self, name: str) -> str:
        """The Docker volume holding member ``name``'s data directory."""
        return f"{self._prefix}-{name}-data"

    def start_member(self, name: str) -> Node:
        """Start Patroni member ``name`` on its data volume (and the repository's, if any)."""
        node = self._member_container(name)
        self.nodes.append(node)
        return node

    def _member_container(self, name: str, *, await_initialize: bool = False) -> Node:
        """Member ``name``'s container. Every member starts Patroni once etcd is healthy;
        ``await_initialize`` (the members after the first, at provisioning) also waits until a
        member holds Patroni's initialize key, so the first one bootstraps (bounded: 10 s)."""
        etcd = [n for n in self.spec.node_names() if n.startswith("etcd")]
        env = {
            "DK_SERVICE": "patroni",
            "DK_ETCD_HOSTS": ",".join(f"{self.container_name(e)}:2379" for e in etcd),
            **(self.repo.environment() if self.repo else {}),
        }
        if await_initialize:
            env["DK_AWAIT_INITIALIZE"] = "1"
        return self._container(
            name,
            "member",
            [PG_PORT, REST_PORT],
            env,
            volumes={
                self.member_volume(name): {"bind": PGDATA, "mode": "rw"},
                **(self.repo.mount() if self.repo else {}),
            },
            secrets={
                "postgres": self.secrets["postgres"],
                "replicator": self.secrets["replicator"],
                REST_SECRET: self.secrets[REST_SECRET],
                DCS_FILE: json.dumps(dcs_config(self.spec)),
            },
        )

    def _wait_ready(self) -> None:
        def problem() -> str | None:
            try:
                return self.not_ready()
            except (psycopg.Error, requests.RequestException) as e:
                return str(e).strip()[:300]

        last = self.await_ready(problem, interval=0.2)
        if last is not None:
            logs = "\n".join(f"--- {n.name}\n{n.logs(tail=10)}" for n in self.members())
            raise InfrastructureError(
                f"Patroni topology not ready after {self.ready_timeout:.0f} s ({last}):\n{logs}"
            )

    def not_ready(self) -> str | None:
        """What keeps the cluster from being usable (no leader, replicas not streaming, the
        client path not reaching the leader), or None."""
        leader = self.leader()
        if leader is None:
            return "no leader yet"
        streaming = self.streaming(leader)
        if len(streaming) < self.spec.replicas:
            return f"{len(streaming)} of {self.spec.replicas} replica(s) streaming"
        with psycopg.connect(self.client_conninfo(), autocommit=True) as conn:
            row = conn.execute("SELECT pg_is_in_recovery()").fetchone()
            if row is None or row[0]:
                return "the client path does not reach the leader yet"
        return None
