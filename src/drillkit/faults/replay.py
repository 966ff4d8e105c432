"""Replay pause: a replica keeps receiving WAL but stops applying it, so it serves an ever older
snapshot of the data while everything else stays healthy (the known staleness of
docs/consistency.md's calibration drill).

``pg_wal_replay_pause()`` on the target (a standby; on a primary it fails: "recovery is not in
progress"); heal: ``pg_wal_replay_resume()``. Pausing loses nothing (received WAL is replayed on
resume, and before a promotion). Effective times: when the call returned on the server's
connection (the pause request is honoured at the next record; a replay already waiting for WAL
applies nothing anyway). The evidence names the server's replay state and its last replayed
transaction's commit time (``pg_last_xact_replay_timestamp()``), an independent clock for the
staleness the readers measure.
"""

from __future__ import annotations

from drillkit.backend.node import Node
from drillkit.faults.base import Effect, FaultTopology, NodeFault
from drillkit.faults.data import sql_topology

__all__ = ["ReplayPause"]

_STATE = (
    "SELECT pg_is_in_recovery(), pg_get_wal_replay_pause_state(),"
    " pg_last_xact_replay_timestamp()::text"
)


class ReplayPause(NodeFault):
    """Pause WAL replay on the target replica; heal: resume it."""

    kind = "replay-pause"
    expected_latency_s = 0.02  # one SQL round trip on a fresh connection

    def _call(self, topology: FaultTopology, node: Node, function: str) -> Effect:
        db = sql_topology(topology, self.kind)
        with db.connect(node) as conn:
            conn.execute(f"SELECT {function}()")
            returned = self.now()
            row = conn.execute(_STATE).fetchone()
        state = "unknown" if row is None else f"replay {row[1]}, last replayed commit {row[2]}"
        return Effect(
            f"{node.name}: {function}(): {state}", returned, f"when {function}() returned"
        )

    def _inject(self, topology: FaultTopology, node: Node) -> Effect:
        return self._call(topology, node, "pg_wal_replay_pause")

    def _heal(self, topology: FaultTopology, node: Node) -> Effect:
        return self._call(topology, node, "pg_wal_replay_resume")
