"""Replication on a plain PostgreSQL topology: who is primary, who streams, the synchronous
quorum, and the nodes the application's connection string names."""

from __future__ import annotations

import re
from typing import Any

from drillkit.spec.postgres import PostgresTopology
from drillkit.topology.containers import ContainerTopology
from drillkit.topology.node import Node
from drillkit.topology.pg_admin import PG_PORT, PgAdmin

__all__ = ["SYNC_STATES", "PgReplication", "sync_standby_names"]

SYNC_STATES = ("sync", "quorum")  # pg_stat_replication.sync_state of a standby commits wait for
_NODE_NAME = re.compile(r"^[a-z][a-z0-9-]*$")


def sync_standby_names(standbys: list[str], num_sync: int) -> str:
    """``ANY n ("a", "b")``: any ``n`` of the named standbys confirm a commit; '' for none."""
    for name in standbys:
        if not _NODE_NAME.match(name):
            raise ValueError(f"{name!r} cannot be named in synchronous_standby_names")
    if not standbys:
        return ""
    quoted = ", ".join(f'"{n}"' for n in standbys)
    return f"ANY {min(num_sync, len(standbys))} ({quoted})"


class PgReplication(PgAdmin, ContainerTopology):
    """Roles and replication state of a primary and its streaming replicas."""

    spec: PostgresTopology
    client_path: list[str] | None  # nodes the client connects to; None: all

    def conninfo(self, nodes: list[Node] | None = None, port: int = PG_PORT, **params: Any) -> str:
        """A libpq connection string for ``nodes`` (default: every node)."""
        return super().conninfo(nodes or self.nodes, port, **params)

    def client_conninfo(self) -> str:
        """What the workload uses: the client path (default: every node), first one that
        accepts writes wins."""
        return self.conninfo(
            self.client_nodes(), target_session_attrs="read-write", connect_timeout=2
        )

    def client_nodes(self) -> list[Node]:
        """The nodes the application's connection string names (see :meth:`repoint`)."""
        if self.client_path is None:
            return list(self.nodes)
        return [self.node(name) for name in self.client_path]

    def repoint(self, names: list[str]) -> list[str]:
        """Re-point the client path (the workload's and the final read's) at ``names``."""
        for name in names:
            self.node(name)  # KeyError for a node that does not exist
        self.client_path = list(names)
        return self.client_path

    def streaming_replicas(self, primary: Node) -> list[dict[str, Any]]:
        """Replicas streaming under their own name (a base backup's WAL stream does not count)."""
        return self.streaming_from(primary, {n.name for n in self.nodes if n is not primary})

    def configure_sync(self, primary: Node, standbys: list[str] | None = None) -> str:
        """Name ``standbys`` (default: every other node) as ``primary``'s synchronous quorum.

        ``ALTER SYSTEM`` on the primary only: a replica cloned earlier does not inherit the
        setting, so a promoted replica starts without synchronous standbys until told.
        An empty list clears the setting (commits then wait for no standby).
        """
        if standbys is None:
            standbys = [n.name for n in self.nodes if n.name != primary.name]
        names = sync_standby_names(standbys, self.spec.sync_standbys)
        with self.connect(primary) as conn:
            conn.execute(f"ALTER SYSTEM SET synchronous_standby_names = '{names}'")
            conn.execute("SELECT pg_reload_conf()")
        return names

    def streaming_standbys(self, primary: Node) -> list[str]:
        """application_name (= cluster_name = node name) of each standby streaming now."""
        return [
            r["application_name"]
            for r in self.replication_status(primary)
            if r["state"] == "streaming"
        ]

    def current_primary(self) -> Node | None:
        """The running node that is not in recovery (None if there is none, or more than one)."""
        return self.sole_primary(self.running())
