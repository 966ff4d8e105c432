"""Rejoin a former primary as a replica of the new one: pg_rewind, then follow.

After a failover the old primary's timeline has diverged (it may hold WAL the new primary never
received). ``pg_rewind`` copies back what differs so the node can follow the new timeline; it
needs ``wal_log_hints`` or data checksums (drillkit's nodes have both) and, since PostgreSQL 13,
runs crash recovery itself when the target was killed. It runs in a short-lived helper
that mounts the node's data volume and joins the run's network to reach the new primary; the
helper carries the run's labels, so a sweep removes it if the harness dies.
"""

from __future__ import annotations

from drillkit.backend.node import Node
from drillkit.topology.pg_admin import PGDATA
from drillkit.topology.pg_storage import volume_node

__all__ = ["RewindError", "rewind"]


_SCRIPT = r"""
d="$1"
# The node is stopped (the caller checked). A killed postmaster leaves postmaster.pid naming PID
# 1, which in this helper is the shell, so crash recovery would refuse to start: remove it.
rm -f "$d/postmaster.pid"
pg_rewind --target-pgdata="$d" --progress \
  --source-server="host=$DK_SOURCE port=5432 user=postgres dbname=postgres connect_timeout=5" \
  > /tmp/rewind.log 2>&1 || { tail -n 5 /tmp/rewind.log >&2; exit 3; }
grep -E "servers diverged|no rewind required|Done" /tmp/rewind.log || tail -n 2 /tmp/rewind.log
touch "$d/standby.signal"
conninfo="host=$DK_SOURCE port=5432 user=replicator password=$DK_REPLICATION_PASSWORD"
cat >> "$d/postgresql.auto.conf" <<CONF
# drillkit rejoin: follow the new primary (later lines win over what pg_rewind copied)
primary_conninfo = '$conninfo application_name=$DK_NODE connect_timeout=2'
primary_slot_name = '$DK_SLOT'
cluster_name = '$DK_NODE'
CONF
"""


class RewindError(RuntimeError):
    """pg_rewind (or the helper that runs it) failed; the message carries its last lines."""


def rewind(
    node: Node,
    *,
    source_host: str,
    slot: str,
    secrets: dict[str, str],
    timeout: float = 120.0,
) -> str:
    """Rewind ``node``'s stopped data directory onto ``source_host``'s timeline and configure it
    to stream from there; return what pg_rewind reported."""
    result = volume_node(node).run_helper_on_volume(
        PGDATA,
        ["/bin/bash", "-euc", _SCRIPT, "drillkit-rewind", PGDATA],
        timeout=timeout,
        user="postgres",
        join_network=True,
        environment={
            "DK_SOURCE": source_host,
            "DK_NODE": node.name,
            "DK_SLOT": slot,
            "PGPASSWORD": secrets["postgres"],
            "DK_REPLICATION_PASSWORD": secrets["replicator"],
        },
    )
    if result.status is None:
        raise RewindError(f"pg_rewind of {node.name} ran over {timeout:g}s")
    if not result.ok:
        raise RewindError(f"pg_rewind of {node.name} exited {result.status}: {result.tail()}")
    out = result.stdout
    return " | ".join(line.strip() for line in out.strip().splitlines()[-3:])
