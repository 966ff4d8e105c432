"""Restore steps that use the pgBackRest repository: restore (to a time, or the latest archived
WAL) and verify a restore against the history.

A point-in-time restore aims at just before the first fault was *requested* (read from the
history, so the target is what the drill did, not a guess). Every write acknowledged before the
target must come back; writes committed after it are discarded by design and the checkers report
them as lost, with the target time beside them in the step's value.
"""

from __future__ import annotations

import hashlib
import re
import time
from datetime import UTC, datetime
from typing import Any, Protocol, cast, runtime_checkable

import psycopg
from psycopg import sql

from drillkit.backend.node import Node
from drillkit.history import History, Op, OpType
from drillkit.queries import FAULT_PROCESS
from drillkit.spec.steps import RestoreStep as RestoreSpec
from drillkit.spec.steps import VerifyRestoreStep as VerifySpec
from drillkit.topology.pgbackrest import (
    BackupRepo,
    PgBackRestError,
    restore_seconds,
    restored_backup_set,
)

__all__ = ["ExplainsRestore", "Restorable", "Restore", "VerifyError", "VerifyRestore", "wall_time"]

NS = 1_000_000_000
_STOPPED = re.compile(r"recovery stopping (before|after) (commit|abort) of transaction [^\n]*")
_COMPLETE = "archive recovery complete"


@runtime_checkable
class Restorable(Protocol):
    """A topology with a backup repository that can restore a node from it."""

    repo: BackupRepo | None
    restored: list[str]

    def restore(self, *, onto: str, kind: str, target: str | None, timeout: float) -> Node: ...

    def current_primary(self) -> Node | None: ...

    def node(self, name: str) -> Node: ...

    def connect(self, node: Node) -> psycopg.Connection[Any]: ...


@runtime_checkable
class ExplainsRestore(Protocol):
    """A topology whose restore has phases of its own (Patroni: stop, remove from the DCS,
    bootstrap, replicas), reported beside the copy."""

    def restore_phases(self, node: str) -> dict[str, float]: ...


def _restorable(topology: Any, step: str) -> Restorable:
    """``topology`` as a :class:`Restorable`: ``step`` requires "backup-repository" in the
    registry, so a drill whose topology lacks one was refused at validation."""
    return cast(Restorable, topology)


def wall_time(ops: list[Op], mono_ns: int) -> datetime:
    """The UTC time of a monotonic history timestamp, from the drill's start marker."""
    start = next(op for op in ops if op.process == "drill" and op.f == "start")
    wall_ns = int(start.extra["wall_time_ns"]) + (mono_ns - start.time_ns)
    return datetime.fromtimestamp(wall_ns / NS, UTC)


def _first_fault_request(ops: list[Op]) -> Op:
    for op in ops:
        if (
            op.process == FAULT_PROCESS
            and op.type is OpType.INVOKE
            and not op.f.startswith("heal-")
        ):
            return op
    raise RuntimeError("no fault was requested before the restore: give target_time")


class _RepositoryStep:
    """What both repository steps share: their timing fields, a topology with a backup
    repository, and the history (a restore's default target and a verify's ground truth)."""

    name = ""

    def __init__(self, spec: Any, topology: Any) -> None:
        self.spec = spec
        self.cluster = _restorable(topology, self.name)
        self.delay_seconds = spec.delay_seconds
        self.timeout_seconds = spec.timeout_seconds
        self.retries = spec.retries
        self.retry_wait_seconds = spec.retry_wait_seconds
        self.history: History | None = None

    def observe(self, history: History) -> None:
        self.history = history


class Restore(_RepositoryStep):
    """Restore a node from the repository and wait until it is a primary accepting writes."""

    name = "restore"
    spec: RestoreSpec

    def _target(self) -> tuple[datetime, int | None]:
        """The target time, and the same instant on the history's monotonic clock if known."""
        ops = self.history.ops() if self.history is not None else []
        if self.spec.target_time is not None:
            target = self.spec.target_time.astimezone(UTC)
            start = next((op for op in ops if op.process == "drill" and op.f == "start"), None)
            if start is None:
                return target, None
            offset = int(target.timestamp() * NS) - int(start.extra["wall_time_ns"])
            return target, start.time_ns + offset
        fault = _first_fault_request(ops)
        mono = fault.time_ns - int(self.spec.before_fault_seconds * NS)
        return wall_time(ops, mono), mono

    def run(self) -> dict[str, Any]:
        started = time.monotonic()
        out: dict[str, Any] = {"type": self.spec.type, "onto": self.spec.onto}
        target: str | None = None
        if self.spec.type == "time":
            when, mono = self._target()
            target = when.strftime("%Y-%m-%d %H:%M:%S.%f+00")
            out["target_time"] = when.isoformat(timespec="microseconds")
            out["target_monotonic_ns"] = mono
            out["discards"] = "writes committed after target_time are discarded by design"
        if self.spec.flush_wal:
            out["wal_flush"] = self._flush()
        flushed = time.monotonic()
        remaining = max(1.0, self.timeout_seconds - (flushed - started))
        node = self.cluster.restore(
            onto=self.spec.onto, kind=self.spec.type, target=target, timeout=remaining
        )
        promoted = time.monotonic()
        log = node.logs()
        copy = restore_seconds(log)
        out.update(
            node=node.name,
            backup_set=restored_backup_set(log),
            timeline=self._timeline(node),
            seconds={
                "wal_flush": round(flushed - started, 3),
                "restore_copy": copy,
                "replay_and_promote": None if copy is None else round(promoted - flushed - copy, 3),
                "total": round(promoted - started, 3),
            },
        )
        if isinstance(self.cluster, ExplainsRestore):
            out["seconds"]["phases"] = self.cluster.restore_phases(node.name)
        return out

    def _flush(self) -> str:
        """Archive the primary's current segment first, if there is a primary to ask."""
        primary = self.cluster.current_primary()
        if primary is None:
            return "no running primary: restoring what the archive holds"
        assert self.cluster.repo is not None
        try:
            return f"{primary.name}: archived {self.cluster.repo.flush(primary)}"
        except PgBackRestError as e:
            return f"{primary.name}: flush failed ({e}); restoring what the archive holds"

    def _timeline(self, node: Node) -> int | None:
        try:
            with self.cluster.connect(node) as conn:
                row = conn.execute("SELECT timeline_id FROM pg_control_checkpoint()").fetchone()
            return int(row[0]) if row else None
        except psycopg.Error:
            return None


class VerifyError(RuntimeError):
    """The restored node does not hold what the history says it must."""


def _md5_ids(ids: list[int]) -> str:
    return hashlib.md5(",".join(str(i) for i in sorted(ids)).encode()).hexdigest()


class VerifyRestore(_RepositoryStep):
    """Check the restored node against its log and the history (see VerifyRestoreStep)."""

    name = "verify-restore"
    spec: VerifySpec

    def run(self) -> dict[str, Any]:
        ops = self.history.ops() if self.history is not None else []
        restore = next(
            (op for op in reversed(ops) if op.f == "restore" and op.type is OpType.OK), None
        )
        if restore is None and self.spec.node is None:
            raise VerifyError("no restore step completed before verify-restore")
        name = self.spec.node or (self.cluster.restored[-1] if self.cluster.restored else "")
        node = self.cluster.node(name)
        done = dict(restore.value) if restore is not None else {}
        problems: list[str] = []
        out: dict[str, Any] = {"node": node.name, "table": self.spec.table}
        out["log"] = self._log(node, str(done.get("type", "latest")), problems)
        with self.cluster.connect(node) as conn:
            exists = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (self.spec.table,))
            row = exists.fetchone()
            out["table_exists"] = bool(row and row[0])
            if not out["table_exists"]:
                problems.append(f"table {self.spec.table} does not exist on {node.name}")
            else:
                out.update(self._rows(conn, ops, done, problems))
        if problems:
            raise VerifyError("; ".join(problems))
        return out

    def _log(self, node: Node, kind: str, problems: list[str]) -> str:
        """The log line that says where recovery stopped."""
        log = node.logs()
        stopped = _STOPPED.search(log)
        if kind == "time" and stopped is None:
            problems.append(f"{node.name}'s log does not say that recovery stopped at the target")
        if _COMPLETE not in log:
            problems.append(f"{node.name}'s log does not say '{_COMPLETE}'")
        return stopped.group(0) if stopped else (_COMPLETE if _COMPLETE in log else "")

    def _rows(
        self,
        conn: psycopg.Connection[Any],
        ops: list[Op],
        done: dict[str, Any],
        problems: list[str],
    ) -> dict[str, Any]:
        """Count and checksum the rows the history says must be there; count the discarded."""
        table = sql.Identifier(self.spec.table)
        acked = {
            int(op.value): op.time_ns
            for op in ops
            if op.f == "write" and op.type is OpType.OK and isinstance(op.value, int)
        }
        total = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(table)).fetchone()
        out: dict[str, Any] = {"rows": int(total[0]) if total else 0}
        target_ns = done.get("target_monotonic_ns")
        if target_ns is None:  # latest: nothing is promised; say how much came back
            present = self._present(conn, table, sorted(acked))
            out["acknowledged_present"] = f"{len(present)} of {len(acked)}"
            return out
        expected = sorted(i for i, t in acked.items() if t <= target_ns)
        present = self._present(conn, table, expected)
        after = sorted(i for i, t in acked.items() if t > target_ns)
        kept_after = self._present(conn, table, after)
        out.update(
            expected_rows=len(expected),
            expected_present=len(present),
            checksum_expected=_md5_ids(expected),
            checksum_restored=_md5_ids(present),
            acknowledged_after_target=len(after),
            discarded_after_target=len(after) - len(kept_after),
        )
        if len(present) != len(expected):
            missing = sorted(set(expected) - set(present))
            problems.append(
                f"{len(missing)} of {len(expected)} rows acknowledged before the target are "
                f"missing (e.g. ids {missing[:5]})"
            )
        return out

    @staticmethod
    def _present(conn: psycopg.Connection[Any], table: sql.Identifier, ids: list[int]) -> list[int]:
        if not ids:
            return []
        query = sql.SQL("SELECT id FROM {} WHERE id = ANY(%s) ORDER BY id").format(table)
        return [int(r[0]) for r in conn.execute(query, (ids,))]
