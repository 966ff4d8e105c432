"""Rejoin a former primary as a replica of the new one: pg_rewind, then follow.

After a failover the old primary's timeline has diverged (it may hold WAL the new primary never
received). ``pg_rewind`` copies back what differs so the node can follow the new timeline; it
needs ``wal_log_hints`` or data checksums (drillkit's nodes have both) and, since PostgreSQL 13,
runs crash recovery itself when the target was killed. It runs in a short-lived helper
that mounts the node's data volume and joins the run's network to reach the new primary; the
helper carries the run's labels, so a sweep removes it if the harness dies.

No password is written to the data volume: the rejoined node connects to its new primary with
``passfile=`` naming :data:`PASSFILE`, the 0600 file its container was created with (outside
PGDATA); the helper gets its own copy the same way, never through its environment.
"""

from __future__ import annotations

from collections.abc import Mapping

from drillkit.backend.docker import SECRETS_DIR
from drillkit.backend.node import Node
from drillkit.tls import CA_FILE
from drillkit.topology.pg_admin import PGDATA
from drillkit.topology.pg_storage import volume_node
from drillkit.topology.tls_conf import tls_conninfo_env

__all__ = ["PASSFILE", "RewindError", "pg_secret_files", "rewind"]

PASSFILE = f"{SECRETS_DIR}/pgpass"


def pg_secret_files(secrets: Mapping[str, str]) -> dict[str, str]:
    """The files a PostgreSQL node's secrets directory holds: each password (``postgres``,
    ``replicator``) and ``pgpass``, a libpq password file for both roles."""
    pgpass = "".join(f"*:*:*:{user}:{secrets[user]}\n" for user in ("postgres", "replicator"))
    return {
        "postgres": secrets["postgres"],
        "replicator": secrets["replicator"],
        "pgpass": pgpass,
    }


_SCRIPT = r"""
d="$1"
# The node is stopped (the caller checked). A killed postmaster leaves postmaster.pid naming PID
# 1, which in this helper is the shell, so crash recovery would refuse to start: remove it.
rm -f "$d/postmaster.pid"
tls="${DK_TLS_CONNINFO:+ $DK_TLS_CONNINFO}"  # topology.tls: verify-full with the run's CA
pg_rewind --target-pgdata="$d" --progress \
  --source-server="host=$DK_SOURCE port=5432 user=postgres dbname=postgres connect_timeout=5$tls" \
  > /tmp/rewind.log 2>&1 || { tail -n 5 /tmp/rewind.log >&2; exit 3; }
grep -E "servers diverged|no rewind required|Done" /tmp/rewind.log || tail -n 2 /tmp/rewind.log
touch "$d/standby.signal"
conninfo="host=$DK_SOURCE port=5432 user=replicator passfile=$PGPASSFILE$tls"
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
    secrets: Mapping[str, str],
    timeout: float = 120.0,
    tls_ca: str | None = None,
) -> str:
    """Rewind ``node``'s stopped data directory onto ``source_host``'s timeline and configure it
    to stream from there; return what pg_rewind reported. ``tls_ca`` (the run's CA, when TLS is
    on): both connections verify the source with it (``sslmode=verify-full``)."""
    tls_secrets = {CA_FILE: tls_ca} if tls_ca is not None else {}
    tls_env = tls_conninfo_env() if tls_ca is not None else {}
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
            "PGPASSFILE": PASSFILE,  # the same path in the helper and in the node
            **tls_env,
        },
        secrets={"pgpass": pg_secret_files(secrets)["pgpass"], **tls_secrets},
    )
    if result.status is None:
        raise RewindError(f"pg_rewind of {node.name} ran over {timeout:g}s")
    if not result.ok:
        raise RewindError(f"pg_rewind of {node.name} exited {result.status}: {result.tail()}")
    out = result.stdout
    return " | ".join(line.strip() for line in out.strip().splitlines()[-3:])
