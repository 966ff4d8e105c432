"""Admin access to PostgreSQL nodes, shared by every PostgreSQL topology (plain and Patroni)."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg.conninfo import make_conninfo
from psycopg.rows import dict_row

from drillkit.secrets import Secrets
from drillkit.tls import CA_FILE, RunTls
from drillkit.topology.node import Node

__all__ = ["PGDATA", "PG_PORT", "REPLICATION_STATUS_SQL", "PgAdmin", "PgSession"]

PG_PORT = 5432
# pg_stat_replication on a primary: each standby's name, state, sync_state and replay lag in bytes
REPLICATION_STATUS_SQL = (
    "SELECT application_name, state, sync_state,"
    " pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn)::bigint AS lag_bytes"
    " FROM pg_stat_replication"
)
PGDATA = "/var/lib/postgresql/data"  # the data directory in drillkit's postgres image


class PgSession:
    """``connect`` and ``query`` on one node, and which running node is the primary, for any
    PostgreSQL topology that says how to reach its nodes (:meth:`conninfo`): drillkit's own
    (:class:`PgAdmin`) and a stack drillkit did not create (``topology.external``)."""

    def conninfo(self, nodes: list[Node], **params: Any) -> str:
        raise NotImplementedError

    def connect(self, node: Node, *, statement_timeout_ms: int = 10_000) -> psycopg.Connection[Any]:
        """An autocommit admin connection to one node with a server-side statement timeout."""
        return psycopg.connect(
            self.conninfo([node], connect_timeout=2),
            autocommit=True,
            options=f"-c statement_timeout={statement_timeout_ms}",
        )

    def query(self, node: Node, sql: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
        """Run one statement on one node; its rows as dicts (none for a statement without)."""
        with self.connect(node) as conn, conn.cursor(row_factory=dict_row) as cur:
            cur.execute(sql, params)  # type: ignore[call-overload,arg-type,unused-ignore]
            return list(cur.fetchall()) if cur.description else []

    def queries(
        self, node: Node, statements: list[tuple[str, tuple[Any, ...]]]
    ) -> list[list[dict[str, Any]]]:
        """Several statements on one connection to one node (one SCRAM handshake, not one per
        statement); each one's rows as dicts."""
        out: list[list[dict[str, Any]]] = []
        with self.connect(node) as conn, conn.cursor(row_factory=dict_row) as cur:
            for sql, params in statements:
                cur.execute(sql, params)  # type: ignore[call-overload,arg-type,unused-ignore]
                out.append(list(cur.fetchall()) if cur.description else [])
        return out

    def sole_primary(self, nodes: list[Node]) -> Node | None:
        """The one node of ``nodes`` that is not in recovery (None if none is, or several are)."""
        primaries = []
        for n in nodes:
            try:
                if not self.query(n, "SELECT pg_is_in_recovery() AS r")[0]["r"]:
                    primaries.append(n)
            except psycopg.Error:
                continue
        return primaries[0] if len(primaries) == 1 else None


class PgAdmin(PgSession):
    """libpq connection strings, ``connect`` and ``query`` for nodes of a topology whose
    superuser password is ``secrets["postgres"]``."""

    secrets: Secrets
    tls: RunTls | None = None

    def conninfo(self, nodes: list[Node], port: int = PG_PORT, **params: Any) -> str:
        """A libpq connection string; several nodes give a multi-host string, as real apps use.
        With TLS on, it verifies the server against the run's CA and its name
        (``sslmode=verify-full``): every conninfo drillkit hands out or uses goes through here."""
        if self.tls is not None:
            params = {"sslmode": "verify-full", "sslrootcert": str(self.tls.ca_file), **params}
        return make_conninfo(
            host=",".join(n.host for n in nodes),
            port=",".join(str(n.port(port)) for n in nodes),
            user="postgres",
            password=self.secrets["postgres"],
            dbname="postgres",
            **params,
        )

    def tls_step_env(self) -> dict[str, str]:
        """For custom steps, with topology.tls: libpq verifies servers (``PGSSLMODE``); the
        step's runner points ``PGSSLROOTCERT`` at ``tls-ca.crt`` (:meth:`tls_step_files`)."""
        return {"PGSSLMODE": "verify-full"} if self.tls is not None else {}

    def tls_step_files(self) -> dict[str, str]:
        """The run's CA certificate among a custom step's secret files (topology.tls)."""
        return {CA_FILE: self.tls.ca_pem} if self.tls is not None else {}

    def replication_status(self, primary: Node) -> list[dict[str, Any]]:
        """``pg_stat_replication`` on ``primary``: each standby's name, state, sync_state and
        replay lag in bytes."""
        return self.query(primary, REPLICATION_STATUS_SQL)

    def streaming_from(self, primary: Node, names: set[str]) -> list[dict[str, Any]]:
        """The rows of :meth:`replication_status` of standbys named in ``names`` that stream
        (a base backup's WAL stream, under another name, does not count)."""
        return [
            r
            for r in self.replication_status(primary)
            if r["state"] == "streaming" and r["application_name"] in names
        ]

    def server_version(self, nodes: list[Node]) -> str | None:
        """``server_version`` from the first of ``nodes`` that answers."""
        for n in nodes:
            try:
                return str(self.query(n, "SHOW server_version")[0]["server_version"])
            except psycopg.Error:
                continue
        return None
