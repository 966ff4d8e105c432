"""PatroniCluster.leader() only asks; last_leader changes only through note_leader()."""

from __future__ import annotations

from typing import Any

from drillkit.topology.patroni import PatroniCluster


class _Member:
    def __init__(self, name: str) -> None:
        self.name, self.role = name, "member"


def _cluster(state: dict[str, Any]) -> PatroniCluster:
    cluster = PatroniCluster.__new__(PatroniCluster)
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


def test_leader_has_no_side_effect() -> None:
    cluster = _cluster(STATE)
    leader = cluster.leader()
    assert leader is not None and leader.name == "pg1"
    assert cluster.leading() == (leader, 2)
    assert cluster.last_leader is None


def test_note_leader_and_current_primary_record_the_leader_with_its_timeline() -> None:
    cluster = _cluster(STATE)
    assert cluster.note_leader() is cluster.nodes[1]
    assert cluster.last_leader == ("pg1", 2)
    cluster.last_leader = None
    assert cluster.current_primary() is cluster.nodes[1]  # how a fault finds the primary
    assert cluster.last_leader == ("pg1", 2)


def test_no_running_leader_keeps_the_last_one_noted() -> None:
    cluster = _cluster(STATE)
    cluster.note_leader()
    cluster.cluster_state = lambda exclude=(): {"members": []}  # type: ignore[method-assign]
    assert cluster.note_leader() is None
    assert cluster.last_leader == ("pg1", 2)
