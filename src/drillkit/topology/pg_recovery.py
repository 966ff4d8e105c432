"""Recovery procedures on a plain PostgreSQL topology: restore from the backup repository, and
rejoin a former primary as a replica with pg_rewind. Runbook steps call them through the
topology (``PostgresCluster.restore`` / ``.rejoin``)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Protocol

import psycopg

from drillkit.backend.node import Node
from drillkit.secrets import Secrets
from drillkit.tls import RunTls
from drillkit.topology.pg_storage import data_volume, fast_shutdown, run_helper
from drillkit.topology.pgbackrest import BackupRepo, restore_environment
from drillkit.topology.rewind import rewind
from drillkit.wait import WaitTimeout, is_none, wait_until

__all__ = ["RecoveryCluster", "rejoin", "restore"]


class RecoveryCluster(Protocol):
    """What the recovery procedures use of a PostgreSQL topology (``PostgresCluster``)."""

    spec: Any
    nodes: list[Node]
    secrets: Secrets
    repo: BackupRepo | None
    client_path: list[str] | None  # nodes the client connects to; None: all
    restored: list[str]  # nodes made by restores, oldest first
    tls: RunTls | None  # topology.tls: the run's CA
    progress: Callable[[str], None]

    def node(self, name: str) -> Node: ...

    def current_primary(self) -> Node | None: ...

    def container_name(self, node: str) -> str: ...

    def create_volume(self, node: str) -> str: ...

    def start_pg_node(
        self, name: str, role: str, volume: str, extra_env: dict[str, str] | None = None
    ) -> Node: ...

    def connect(
        self, node: Node, *, statement_timeout_ms: int = 10_000
    ) -> psycopg.Connection[Any]: ...

    def query(self, node: Node, sql: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]: ...

    def configure_sync(self, primary: Node, standbys: list[str] | None = None) -> str: ...

    def streaming_standbys(self, primary: Node) -> list[str]: ...


def restore(
    cluster: RecoveryCluster, *, onto: str, kind: str, target: str | None, timeout: float
) -> Node:
    """Restore from the repository onto a fresh node (``onto='fresh'``) or onto an existing
    node's emptied volume, start it, and wait until it has promoted and accepts writes."""
    if cluster.repo is None:
        raise RuntimeError("this topology has no backup repository")
    env = restore_environment(kind, target)
    if cluster.client_path is None:  # the application does not know the new node yet
        cluster.client_path = [n.name for n in cluster.nodes]
    if onto == "fresh":
        name = f"pgr{len(cluster.restored) + 1}"
        volume = cluster.create_volume(name)
    else:
        old = cluster.node(onto)
        name, volume = old.name, data_volume(old)
        fast_shutdown(old)
        run_helper(old, 'find "$1" -mindepth 1 -delete')
        old.remove()
        cluster.nodes.remove(old)
    to = f"to {target}" if target else "every archived segment"
    cluster.progress(f"restoring {name} from the repository ({kind}: {to})")
    node = cluster.start_pg_node(name, "restore", volume, env)
    cluster.nodes.append(node)
    cluster.restored.append(name)
    _await_promoted(cluster, node, timeout)
    return node


def _await_promoted(cluster: RecoveryCluster, node: Node, timeout: float) -> None:
    def problem() -> str | None:
        if node.status() == "exited":
            raise RuntimeError(f"{node.name} exited while restoring: {node.logs(tail=8)}")
        try:
            if not cluster.query(node, "SELECT pg_is_in_recovery() AS r")[0]["r"]:
                return None
            return "still in recovery"
        except psycopg.Error as e:
            return str(e).strip()

    try:
        wait_until(problem, until=is_none, timeout=timeout, interval=0.1)
    except WaitTimeout as e:
        raise TimeoutError(
            f"{node.name} not promoted after {timeout:g}s ({e.last_value})"
        ) from None


def rejoin(cluster: RecoveryCluster, name: str, timeout: float) -> dict[str, Any]:
    """Make ``name`` (a former primary) a replica of the current primary: pg_rewind its
    data onto the new timeline, start it, wait until it streams. Under sync replication
    the primary names it as its synchronous standby again."""
    deadline = time.monotonic() + timeout
    node, primary = cluster.node(name), cluster.current_primary()
    if primary is None or primary.name == name:
        raise RuntimeError(f"no other primary for {name} to follow")
    stopped = fast_shutdown(node)
    slot = name.replace("-", "_")
    with cluster.connect(primary, statement_timeout_ms=60_000) as conn:
        # A freshly promoted primary's pg_control still names the old timeline until its
        # next checkpoint; pg_rewind reads it there and would find "no rewind required".
        conn.execute("CHECKPOINT")
        conn.execute(
            "SELECT pg_create_physical_replication_slot(%s, true)"
            " WHERE NOT EXISTS (SELECT 1 FROM pg_replication_slots WHERE slot_name = %s)",
            (slot, slot),
        )
    rewound = rewind(
        node,
        source_host=cluster.container_name(primary.name),
        slot=slot,
        secrets=cluster.secrets.values,
        timeout=max(1.0, deadline - time.monotonic()),
        tls_ca=cluster.tls.ca_pem if cluster.tls is not None else None,
    )
    node.start()
    timeline = int(
        cluster.query(primary, "SELECT timeline_id FROM pg_control_checkpoint()")[0]["timeline_id"]
    )

    def follows() -> bool:
        if _follows(cluster, node, timeline):
            return True
        if node.status() == "exited":
            raise RuntimeError(f"{name} does not stream from {primary.name}: {node.logs(tail=5)}")
        return False

    try:
        wait_until(follows, timeout=deadline - time.monotonic(), interval=0.1)
    except WaitTimeout:
        log = node.logs(tail=5)
        raise RuntimeError(f"{name} does not stream from {primary.name}: {log}") from None
    out: dict[str, Any] = {"node": name, "primary": primary.name, "timeline": timeline}
    out["stopped"] = stopped
    out["pg_rewind"] = rewound
    if cluster.spec.replication == "sync":
        out["synchronous_standby_names"] = cluster.configure_sync(
            primary, cluster.streaming_standbys(primary)
        )
    return out


def _follows(cluster: RecoveryCluster, node: Node, timeline: int) -> bool:
    """Whether ``node`` streams WAL of ``timeline`` (a standby still on the old timeline
    connects, is refused and retries, and looks 'streaming' for an instant each time)."""
    try:
        rows = cluster.query(node, "SELECT status, received_tli FROM pg_stat_wal_receiver")
    except psycopg.Error:
        return False
    return bool(rows) and rows[0]["status"] == "streaming" and rows[0]["received_tli"] == timeline
