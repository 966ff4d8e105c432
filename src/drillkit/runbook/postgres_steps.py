"""Built-in PostgreSQL restore steps."""

from __future__ import annotations

from typing import Any

import psycopg
from tenacity import retry, retry_if_exception_type, stop_after_delay, wait_fixed

from drillkit.backend.node import Node
from drillkit.spec.steps import PromoteStep, RepointStep
from drillkit.topology.postgres import PostgresCluster

__all__ = ["Promote", "Repoint"]


class Promote:
    """Promote the replica that has received the most WAL, as an operator would choose it."""

    name = "promote"

    def __init__(self, spec: PromoteStep, cluster: PostgresCluster) -> None:
        self.spec = spec
        self.cluster = cluster
        self.delay_seconds = spec.delay_seconds
        self.timeout_seconds = spec.timeout_seconds

    def _candidates(self) -> dict[str, int]:
        """Running standbys and the WAL position (bytes) each has received."""
        received: dict[str, int] = {}
        for node in self.cluster.running():
            try:
                row = self.cluster.query(
                    node,
                    "SELECT pg_is_in_recovery() AS standby,"
                    " pg_wal_lsn_diff(COALESCE(pg_last_wal_receive_lsn(),"
                    " pg_last_wal_replay_lsn()), '0/0')::bigint AS received",
                )[0]
            except psycopg.Error:
                continue
            if row["standby"]:
                received[node.name] = int(row["received"] or 0)
        return received

    def run(self) -> dict[str, Any]:
        @retry(
            retry=retry_if_exception_type(psycopg.OperationalError),
            stop=stop_after_delay(self.timeout_seconds),
            wait=wait_fixed(0.1),
            reraise=True,
        )
        def promote() -> dict[str, Any]:
            candidates = self._candidates()
            if not candidates:
                raise RuntimeError("no running standby to promote")
            best = max(candidates, key=lambda name: candidates[name])
            rows = self.cluster.query(
                self.cluster.node(best),
                "SELECT pg_promote(true, %s) AS promoted",
                (max(1, int(self.timeout_seconds)),),
            )
            if not rows or not rows[0]["promoted"]:
                raise RuntimeError(f"pg_promote() on {best} did not finish in time")
            return {"node": best, "received_wal_bytes": candidates}

        result = promote()
        if getattr(self.cluster.spec, "replication", "async") == "sync":  # external: not ours
            result.update(self._resync(self.cluster.node(result["node"])))
        return result

    def _resync(self, primary: Node) -> dict[str, Any]:
        """Name the standbys that stream from the new primary as its synchronous quorum.

        A promoted replica has no synchronous standbys configured; if it named standbys that do
        not follow it, every commit would wait forever. With none following it, synchronous
        replication is suspended until a standby rejoins (the rejoin step restores it).
        """
        standbys = self.cluster.streaming_standbys(primary)
        names = self.cluster.configure_sync(primary, standbys)
        out: dict[str, Any] = {"synchronous_standby_names": names}
        if not standbys:
            out["note"] = (
                f"no standby streams from {primary.name}: synchronous replication suspended "
                "until one rejoins"
            )
        return out


class Repoint:
    """Point the client path (the application's connection string) at another node."""

    name = "repoint"

    def __init__(self, spec: RepointStep, cluster: PostgresCluster) -> None:
        self.spec = spec
        self.cluster = cluster
        self.delay_seconds = spec.delay_seconds
        self.timeout_seconds = spec.timeout_seconds
        self.retries = spec.retries
        self.retry_wait_seconds = spec.retry_wait_seconds

    def run(self) -> dict[str, Any]:
        before = [n.name for n in self.cluster.client_nodes()]
        to = self.spec.to
        if to == "restored":
            if not self.cluster.restored:
                raise RuntimeError("no node was restored to point the client at")
            to = self.cluster.restored[-1]
        elif to == "primary":
            primary = self.cluster.current_primary()
            if primary is None:
                raise RuntimeError("no single primary to point the client at")
            to = primary.name
        return {"client_path": self.cluster.repoint([to]), "previous": before}
