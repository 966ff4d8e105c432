"""Admin access to PostgreSQL nodes, shared by every PostgreSQL topology (plain and Patroni)."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg.rows import dict_row

from drillkit.topology.node import Node

__all__ = ["PgAdmin"]


class PgAdmin:
    """``connect`` and ``query`` for a topology that can build a libpq ``conninfo`` for nodes."""

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
