"""A PostgreSQL primary with N asynchronous streaming replicas, on a private network per run.

The class composes small parts: :mod:`~drillkit.topology.pg_admin` (connections, queries),
:mod:`~drillkit.topology.pg_replication` (roles, streaming, the synchronous quorum, the client
path), :mod:`~drillkit.topology.pg_provision` (containers, volumes, waiting until ready),
:mod:`~drillkit.topology.pg_evidence` (the configuration fingerprint) and
:mod:`~drillkit.topology.pg_recovery` (restore, rejoin). What stays here is what the drill
runner, the runbook and a kept topology's user see.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import psycopg

import drillkit.topology.pg_recovery as pg_recovery
from drillkit.endpoints import PgEndpoints
from drillkit.spec import SteadyState
from drillkit.spec.postgres import CACHE_MASTER
from drillkit.topology.base import Health
from drillkit.topology.containers import write_private_file
from drillkit.topology.node import Node
from drillkit.topology.pg_admin import PG_PORT
from drillkit.topology.pg_evidence import node_settings
from drillkit.topology.pg_provision import PgProvisioning
from drillkit.topology.pg_replication import SYNC_STATES, sync_standby_names
from drillkit.topology.pgbackrest import archiving_problem
from drillkit.topology.tls_evidence import pg_tls_evidence

__all__ = ["PG_PORT", "SYNC_STATES", "PostgresCluster", "sync_standby_names"]


class PostgresCluster(PgProvisioning):
    """Provision, reach and tear down a primary plus replicas; the harness's only view of them."""

    SECRET_NAMES = ("postgres", "replicator", "cache")
    IMAGE = "postgres"  # which of drillkit's images the nodes run

    def prepare(self) -> None:
        """Start pgBackRest's incremental backups (the workload's table exists by now)."""
        if self.repo is not None:
            self.repo.start_schedule(self.current_primary)

    def endpoints(self) -> PgEndpoints:
        """The client path (see :meth:`repoint`), each node's own conninfo."""
        return PgEndpoints(
            client=self.client_conninfo,
            running_client=self._running_client_conninfo,
            node=lambda name: self.conninfo([self.node(name)], connect_timeout=2),
            replicas=self.replica_names,
            cache=self.cache.endpoint(),
        )

    def node(self, name: str) -> Node:
        """A database node, or the cache node (``cache0``), by name."""
        found = self.cache.find(name)
        return found if found is not None else super().node(name)

    def resolve_special(self, target: str) -> list[Node] | None:
        """``cache-master``: the cache node that reports itself master now (with Sentinels,
        the one they name if several do)."""
        if target != CACHE_MASTER:
            return None
        master = self.cache.current_primary()
        if master is None:
            raise RuntimeError("no single running cache master to target")
        return [master]

    def cache_client(self, node: Node, timeout: float = 1.0) -> Any:
        """A client for the cache node (the flush-cache fault's)."""
        return self.cache.client(node, timeout)

    def _running_client_conninfo(self) -> str:
        nodes = [n for n in self.client_nodes() if n.is_running()]
        if not nodes:
            raise RuntimeError("no node on the client path is running")
        return self.conninfo(nodes, target_session_attrs="read-write", connect_timeout=2)

    def health(self, spec: SteadyState) -> Health:
        primary = self.current_primary()
        if primary is None:
            return Health("no single primary")
        return Health(self._replication_problem(primary, spec), {"primary": primary.name})

    def _replication_problem(self, primary: Node, spec: SteadyState) -> str | None:
        try:
            streaming = self.streaming_replicas(primary)
        except psycopg.Error as e:
            return f"cannot read pg_stat_replication: {e}".strip()
        if len(streaming) < self.spec.replicas:
            return f"{len(streaming)} of {self.spec.replicas} replica(s) streaming"
        if self.spec.replication == "sync":
            sync = [r for r in streaming if r["sync_state"] in SYNC_STATES]
            if len(sync) < self.spec.sync_standbys:
                return (
                    f"{len(sync)} synchronous standby(s) of {self.spec.sync_standbys} needed "
                    f"(sync_state: {', '.join(str(r['sync_state']) for r in streaming)})"
                )
        if self.repo is not None:
            problem = archiving_problem(self.query, primary)
            if problem:
                return problem
        lag = max((int(r["lag_bytes"] or 0) for r in streaming), default=0)
        if lag > spec.max_replica_lag_bytes:
            return f"replica lag {lag} bytes > max_replica_lag_bytes {spec.max_replica_lag_bytes}"
        return None

    def restore(self, *, onto: str, kind: str, target: str | None, timeout: float) -> Node:
        """Restore from the backup repository; see :func:`pg_recovery.restore`."""
        return pg_recovery.restore(self, onto=onto, kind=kind, target=target, timeout=timeout)

    def rejoin(self, name: str, timeout: float) -> dict[str, Any]:
        """Make a former primary a replica again; see :func:`pg_recovery.rejoin`."""
        return pg_recovery.rejoin(self, name, timeout)

    def keep_instructions(self, credentials_dir: Path) -> list[str]:
        pgpass = self.write_pgpass(credentials_dir / f"{self.run_id}.pgpass")
        lines = [
            f"{n.name} ({n.status()}): PGPASSFILE={pgpass} psql -h {n.host} "
            f"-p {n.port(PG_PORT)} -U postgres"
            for n in self.nodes
        ]
        if self.cache.nodes:  # the cache's password in a file of its own (mode 0600)
            auth = write_private_file(
                credentials_dir / f"{self.run_id}.cache-auth", self.secrets["cache"] + "\n"
            )
            lines += [
                f"{n.name} ({n.status()}): REDISCLI_AUTH=$(cat {auth}) redis-cli -h {n.host} "
                f"-p {n.port(self.cache.port_of(n))}"
                for n in self.cache.nodes
            ]
        return lines

    def shell_environment(self, *, inside: bool) -> dict[str, str]:
        """For custom runbook steps (runbook.custom.ShellTopology): node names, addresses (from
        the host, or inside the run's network), the current primary and libpq defaults. No
        password: that is in the file PGPASSFILE names."""
        env = self.node_environment(
            self.nodes, lambda _n: PG_PORT, self.current_primary(), inside=inside
        )
        return {**env, "PGUSER": "postgres", "PGDATABASE": "postgres", **self.tls_step_env()}

    def secret_files(self, *, inside: bool) -> dict[str, str]:
        """A libpq password file for the superuser and the replication role, on every node
        (and the run's CA, ``tls-ca.crt``, with topology.tls)."""
        lines = []
        for n in self.nodes:
            host, port = self.address(n, PG_PORT, inside=inside)
            lines.append(f"{host}:{port}:*:postgres:{self.secrets['postgres']}")
            lines.append(f"{host}:{port}:*:replicator:{self.secrets['replicator']}")
        return {"pgpass": "\n".join(lines) + "\n", **self.tls_step_files()}

    def write_pgpass(self, path: Path) -> Path:
        """A libpq password file (mode 0600) for a kept topology; never part of the evidence."""
        text = "".join(
            f"{n.host}:{n.port(PG_PORT)}:*:postgres:{self.secrets['postgres']}\n"
            for n in self.nodes
        )
        return write_private_file(path, text)

    def evidence(self, directory: Path) -> dict[str, Any]:
        """Write each node's container log under ``directory``; return the configuration
        fingerprint (image ids, server version, the settings that decide data loss) per node.
        A node that is not running is recorded with its status (settings are the same image's)."""
        with ThreadPoolExecutor(max_workers=1) as pool:  # TLS read beside the nodes' evidence
            tls = pool.submit(pg_tls_evidence, self, self.nodes, enabled=self.tls is not None)
            nodes = self.node_evidence(directory, lambda n, status: node_settings(self, n, status))
        out: dict[str, Any] = {
            "kind": "postgres",
            "replication": self.spec.replication,
            "nodes": nodes,
            "tls": tls.result(),
        }
        if self.cache.nodes:
            out["cache"] = self.cache.evidence(directory)
        return out

    def versions(self) -> dict[str, str]:
        """Server version (and backups taken), for the evidence; the runner adds the image."""
        out: dict[str, str] = {}
        version = self.server_version(self.running())
        if version is not None:
            out["postgresql"] = version
        out.update(self.cache.versions())
        if self.repo is not None:
            out["pgbackrest_backups"] = "; ".join(
                f"{b.type} {b.label} on {b.node} in {b.seconds:.1f}s" for b in self.repo.backups
            )
        return out
