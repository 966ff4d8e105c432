"""A Redis primary with N asynchronous replicas and K Sentinels, on a private network per run.

The class composes :mod:`~drillkit.topology.redis_roles` (reaching nodes, who is master, what
the Sentinels believe), :mod:`~drillkit.topology.redis_provision` (containers, readiness) and
:mod:`~drillkit.topology.redis_evidence` (the configuration fingerprint). The workload asks
Sentinel for the master exactly as an application does and then connects to the published port
of whatever node Sentinel named (:meth:`RedisCluster.publish`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from redis.exceptions import RedisError

from drillkit.spec import SteadyState
from drillkit.topology.base import Health
from drillkit.topology.containers import write_private_file
from drillkit.topology.node import Node
from drillkit.topology.redis_config import MASTER_NAME, REDIS_PORT, SENTINEL_PORT, server_version
from drillkit.topology.redis_evidence import engine_defaults, node_settings
from drillkit.topology.redis_provision import RedisProvisioning
from drillkit.topology.redis_roles import no_retry
from drillkit.topology.tls_evidence import redis_tls_evidence

__all__ = ["REDIS_PORT", "SENTINEL_PORT", "RedisCluster", "no_retry"]


class RedisCluster(RedisProvisioning):
    """Provision, reach and tear down Redis + Sentinel; the harness's only view of them."""

    SECRET_NAMES = ("redis",)
    IMAGE = "redis"

    def prepare(self) -> None:
        """Nothing runs in the background beyond Redis and the Sentinels."""

    def health(self, spec: SteadyState) -> Health:
        """Replicas online within the lag, every Sentinel agreeing; the roles name the master."""
        master = self.current_primary()
        if master is None:
            return Health("no single master")
        return Health(self._serving_problem(master, spec), {"primary": master.name})

    def _serving_problem(self, master: Node, spec: SteadyState) -> str | None:
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
            problem = self.sentinel_view_problem(s, master)
            if problem:
                return problem
        return None

    def shell_environment(self, *, inside: bool) -> dict[str, str]:
        """For custom steps: node names and addresses (from the host, or inside the run's
        network), the current master and the Sentinels. No password: that is in the file
        ``$DK_SECRETS_DIR/redis-auth`` (``REDISCLI_AUTH="$(cat ...)" redis-cli ...``)."""
        env = self.node_environment(self.nodes, self.port_of, self.current_primary(), inside=inside)
        env["DK_SENTINELS"] = " ".join(n.name for n in self.sentinel_nodes)
        env["DK_MASTER_NAME"] = MASTER_NAME
        return env

    def secret_files(self, *, inside: bool) -> dict[str, str]:
        """The password, alone in ``redis-auth`` (every node and Sentinel requires it)."""
        return {"redis-auth": self.secrets["redis"] + "\n"}

    def keep_instructions(self, credentials_dir: Path) -> list[str]:
        auth = self.write_password_file(credentials_dir / f"{self.run_id}.redis-auth")
        return [
            f'{n.name} ({n.role}, {n.status()}): REDISCLI_AUTH="$(cat {auth})" '
            f"redis-cli -h {n.host} -p {n.port(self.port_of(n))}"
            for n in self.nodes
        ]

    def write_password_file(self, path: Path) -> Path:
        """The password alone in a 0600 file, for a kept topology; never in the evidence."""
        return write_private_file(path, self.secrets["redis"] + "\n")

    def evidence(self, directory: Path) -> dict[str, Any]:
        """Write each node's container log under ``directory``; return the configuration
        fingerprint per node: role, image, and the settings that decide data loss (persistence,
        min-replicas, Sentinel timings). A node that does not answer is recorded as such."""
        data = [n for n in self.running() if n.role != "sentinel"]
        defaults = engine_defaults(data[0]) if data else None
        nodes = self.node_evidence(
            directory, lambda n, status: node_settings(self, n, status, defaults)
        )
        return {
            "kind": "redis",
            "master_name": MASTER_NAME,
            "redis_defaults": defaults,
            "nodes": nodes,
            "tls": redis_tls_evidence(self, enabled=self.tls is not None),
        }

    def versions(self) -> dict[str, str]:
        """Server version and image, for the evidence."""
        out: dict[str, str] = {}
        for n in self.running():
            if n.role == "sentinel":
                continue
            try:
                with self.redis(n) as r:
                    engine, version = server_version(r.info("server"))
                out[engine] = version
                break
            except RedisError:
                continue
        out["redis_image"] = self.image
        return out
