"""``drillkit cleanup --external``: drop the probe tables runs left on a stack drillkit did not
create (a run interrupted hard, or whose primary was down when it ended).

Only tables named ``drillkit_probe_*`` in the login's current schema are dropped; no container is
touched (attaching reads their ports and asks the servers their roles).
"""

from __future__ import annotations

from typing import Any

import psycopg

from drillkit.errors import InfrastructureError
from drillkit.secrets import Secrets
from drillkit.spec.external import ComposeTopology, ContainersTopology
from drillkit.topology.external import ExternalPostgres
from drillkit.workload.pg_writer import drop_probe_tables

__all__ = ["drop_probe_leftovers"]


def drop_probe_leftovers(
    client: Any, spec: ComposeTopology | ContainersTopology, *, dry_run: bool = False
) -> tuple[list[str], Secrets]:
    """Attach to the stack and drop every ``drillkit_probe_*`` table on its primary; the tables
    (only found, with ``dry_run``) and the secrets to redact messages with. Raises
    InfrastructureError if the stack cannot be reached or has no single primary."""
    secrets = Secrets()
    system = ExternalPostgres(
        client, spec, run_id="cleanup", labels={}, image="", secrets=secrets, progress=_quiet
    )
    with system:
        primary = system.current_primary()
        if primary is None:
            raise InfrastructureError("the stack has no single primary to clean up")
        try:
            tables = drop_probe_tables(
                system.conninfo([primary], connect_timeout=2), dry_run=dry_run
            )
        except psycopg.Error as e:
            raise InfrastructureError(secrets.redact(f"{primary.name}: {e}".strip())) from None
    return tables, secrets


def _quiet(_message: str) -> None:
    pass
