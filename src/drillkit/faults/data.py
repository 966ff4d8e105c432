"""Operator errors: SQL that destroys data on the current primary, at a time the history records.

Replication faithfully copies the damage to every replica, so failover is no remedy: only a
restore (a backup plus WAL up to just before the statement) brings the rows back. Each fault
therefore records what a runbook needs to undo it by hand or by point-in-time recovery: the
table, how many rows went (and which ids), the transaction id and the server's clock when the
transaction began (a ``recovery_target_xid`` with ``recovery_target_inclusive = off``, or a
``recovery_target_time`` at or before that instant, stops just before the damage).

Healing is 'nothing to undo': putting data back is the runbook's job, and the drill measures it.
"""

from __future__ import annotations

from typing import Any, Protocol, cast, runtime_checkable

import psycopg
from psycopg import sql

from drillkit.backend.node import Node
from drillkit.faults.base import FaultTopology, record
from drillkit.history import History
from drillkit.queries import encode_ids

__all__ = ["DeleteRange", "DropTable", "SqlTopology", "Truncate", "sql_topology"]

# The workload's table, for delete-range (the other kinds name theirs in the drill file, with this
# default). Written out rather than imported: a fault never imports the workload, and
# tests/unit/test_import_rules.py checks the two stay equal.
WORKLOAD_TABLE = "drillkit_writes"
_MAX_RANGES = 100  # id ranges listed in the evidence; gaps come only from failed writes


@runtime_checkable
class SqlTopology(FaultTopology, Protocol):
    """A topology whose nodes speak SQL: PostgreSQL."""

    def connect(self, node: Node) -> psycopg.Connection[Any]:
        """An autocommit superuser connection to ``node`` with a server-side statement timeout."""
        ...


def sql_topology(topology: FaultTopology, kind: str) -> SqlTopology:
    """``topology`` as an :class:`SqlTopology`: ``kind`` requires "sql" in the registry, so a
    drill whose topology lacks it was refused at validation."""
    return cast(SqlTopology, topology)


def _transaction_mark(conn: psycopg.Connection[Any]) -> str:
    """The open transaction's id and start time: the point-in-time recovery targets."""
    row = conn.execute("SELECT pg_current_xact_id()::text, now()::text").fetchone()
    assert row is not None
    return f"xid {row[0]}, transaction began {row[1]} (server clock)"


def _lock(conn: psycopg.Connection[Any], table: str) -> None:
    """Take the lock the statement would take anyway, before counting, so the count is exact:
    no concurrent insert can commit between counting and destroying."""
    conn.execute(sql.SQL("LOCK TABLE {} IN ACCESS EXCLUSIVE MODE").format(sql.Identifier(table)))


def _count(conn: psycopg.Connection[Any], table: str) -> int:
    row = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table))).fetchone()
    assert row is not None
    return int(row[0])


class _OperatorError:
    """A destructive statement, run once on whichever node is the primary when it is injected."""

    kind = ""

    def __init__(self, spec: Any) -> None:
        self.spec = spec
        self.node: Node | None = None

    @property
    def table(self) -> str:
        return str(getattr(self.spec, "table", WORKLOAD_TABLE))

    def _value(self, node: Node) -> dict[str, Any]:
        return {"target": "primary", "node": node.name, "table": self.table}

    def inject(self, topology: FaultTopology, history: History) -> None:
        db = sql_topology(topology, self.kind)
        node = self.node = db.resolve("primary")[0]
        record(history, self.kind, self._value(node), lambda: self._run(db, node))

    def _run(self, db: SqlTopology, node: Node) -> str:
        with db.connect(node) as conn, conn.transaction():
            mark = _transaction_mark(conn)
            done = self._destroy(conn)
        return f"{node.name}: {done}; {mark}"

    def _destroy(self, conn: psycopg.Connection[Any]) -> str:
        """Run the statement inside the open transaction; say exactly what it did."""
        raise NotImplementedError

    def heal(self, topology: FaultTopology, history: History) -> None:
        if self.node is None:
            return
        value, self.node = self._value(self.node), None
        record(
            history,
            f"heal-{self.kind}",
            value,
            lambda: "nothing to undo: restoring the data is the runbook's job",
        )


class DropTable(_OperatorError):
    """``DROP TABLE``: the table, its rows and its indexes are gone on every node."""

    kind = "drop-table"

    def _destroy(self, conn: psycopg.Connection[Any]) -> str:
        _lock(conn, self.table)
        rows = _count(conn, self.table)
        conn.execute(sql.SQL("DROP TABLE {}").format(sql.Identifier(self.table)))
        return f"DROP TABLE {self.table} (it held {rows} rows)"


class Truncate(_OperatorError):
    """``TRUNCATE``: the table stays, empty."""

    kind = "truncate"

    def _destroy(self, conn: psycopg.Connection[Any]) -> str:
        _lock(conn, self.table)
        rows = _count(conn, self.table)
        conn.execute(sql.SQL("TRUNCATE {}").format(sql.Identifier(self.table)))
        return f"TRUNCATE {self.table} removed {rows} rows"


class DeleteRange(_OperatorError):
    """``DELETE`` of the newest ``rows`` rows of the workload's table (highest ids: the writer's
    ids increase with time). Fewer go if the table holds fewer; the evidence lists the ids."""

    kind = "delete-range"

    def _value(self, node: Node) -> dict[str, Any]:
        return {**super()._value(node), "rows": self.spec.rows}

    def _destroy(self, conn: psycopg.Connection[Any]) -> str:
        table = sql.Identifier(self.table)
        ids = [
            int(r[0])
            for r in conn.execute(
                sql.SQL(
                    "DELETE FROM {t} WHERE id IN (SELECT id FROM {t} ORDER BY id DESC LIMIT %s)"
                    " RETURNING id"
                ).format(t=table),
                (self.spec.rows,),
            )
        ]
        if not ids:
            return f"DELETE of the {self.spec.rows} newest rows of {self.table}: it was empty"
        ranges = encode_ids(ids)
        exactly = str(ranges[:_MAX_RANGES])
        if len(ranges) > _MAX_RANGES:
            exactly += f" and {len(ranges) - _MAX_RANGES} more ranges"
        return (
            f"DELETE of the {self.spec.rows} newest rows of {self.table} removed {len(ids)} rows,"
            f" ids {min(ids)}..{max(ids)} (exactly: {exactly})"
        )
