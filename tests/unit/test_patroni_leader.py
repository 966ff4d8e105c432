"""PatroniCluster's view only asks: who leads is never remembered on the topology (which leader a
fault struck is a fact of the history, see test_struck_node.py)."""

from __future__ import annotations

from typing import Any

from drillkit.spec.postgres import PatroniTopology
from drillkit.topology.patroni import PatroniCluster


class _Member:
    def __init__(self, name: str) -> None:
        self.name, self.role = name, "member"


def _cluster(state: dict[str, Any]) -> PatroniCluster:
    cluster = PatroniCluster.__new__(PatroniCluster)
    cluster.spec = PatroniTopology(kind="patroni")
    cluster.init_state()
    cluster.nodes = [_Member("pg0"), _Member("pg1")]  # type: ignore[list-item]
    cluster.cluster_state = lambda exclude=(): state  # type: ignore[method-assign]
    return cluster


STATE = {
    "members": [
        {"name": "pg0", "role": "replica", "state": "running", "timeline": 2},
        {"name": "pg1", "role": "leader", "state": "running", "timeline": 2},
    ]
}


def test_leader_and_current_primary_only_ask() -> None:
    cluster = _cluster(STATE)
    leader = cluster.leader()
    assert leader is not None and leader.name == "pg1"
    assert cluster.leading() == (leader, 2)
    assert cluster.current_primary() is cluster.nodes[1]  # how a fault finds the primary
    before = dict(vars(cluster))
    cluster.cluster_state = lambda exclude=(): {"members": []}  # type: ignore[method-assign]
    assert cluster.current_primary() is None
    del before["cluster_state"]
    after = {k: v for k, v in vars(cluster).items() if k != "cluster_state"}
    assert after == before  # asking left no state behind
    assert not hasattr(cluster, "last_leader")
