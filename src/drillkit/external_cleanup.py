"""``drillkit cleanup --external``: drop the probe tables (PostgreSQL) or delete the probe keys
(Redis) runs left on a stack drillkit did not create (a run interrupted hard, or whose primary was
down when it ended).

Only tables named ``drillkit_probe_*`` in the login's current schema are dropped, only keys
named ``drillkit_probe_*:ids`` deleted (``SCAN`` + ``DEL`` on the master, never FLUSHDB); no
container is touched (attaching reads their ports and asks the servers their roles).
"""

from __future__ import annotations

from typing import Any

import psycopg
from redis.exceptions import RedisError

from drillkit.errors import InfrastructureError
from drillkit.secrets import Secrets
from drillkit.spec.external import ComposeTopology, ContainersTopology
from drillkit.topology.external import ExternalPostgres, ExternalStack
from drillkit.topology.external_redis import ExternalRedis
from drillkit.workload.pg_writer import drop_probe_tables
from drillkit.workload.redis_writer import PROBE_PREFIX

__all__ = ["drop_probe_leftovers"]


def drop_probe_leftovers(
    client: Any, spec: ComposeTopology | ContainersTopology, *, dry_run: bool = False
) -> tuple[list[str], Secrets]:
    """Attach to the stack and drop every ``drillkit_probe_*`` table on its primary; the tables
    (only found, with ``dry_run``) and the secrets to redact messages with. Raises
    InfrastructureError if the stack cannot be reached or has no single primary."""
    secrets = Secrets()
    system = ExternalStack(
        client, spec, run_id="cleanup", labels={}, image="", secrets=secrets, progress=_quiet
    )
    with system:
        primary = system.current_primary()
        if primary is None:
            raise InfrastructureError("the stack has no single primary to clean up")
        if isinstance(system, ExternalRedis):
            return _delete_probe_keys(system, primary, dry_run=dry_run), secrets
        assert isinstance(system, ExternalPostgres)
        try:
            tables = drop_probe_tables(
                system.conninfo([primary], connect_timeout=2), dry_run=dry_run
            )
        except psycopg.Error as e:
            raise InfrastructureError(secrets.redact(f"{primary.name}: {e}".strip())) from None
    return tables, secrets


def _delete_probe_keys(system: ExternalRedis, primary: Any, *, dry_run: bool) -> list[str]:
    """``DEL`` of every ``drillkit_probe_*:ids`` key on the master (found with ``SCAN``)."""
    try:
        with system.redis(primary, timeout=5.0) as r:
            keys = sorted(str(k) for k in r.scan_iter(match=f"{PROBE_PREFIX}*:ids", count=1000))
            if keys and not dry_run:
                r.delete(*keys)
    except (RedisError, OSError) as e:
        raise InfrastructureError(system.secrets.redact(f"{primary.name}: {e}")) from None
    return keys


def _quiet(_message: str) -> None:
    pass
