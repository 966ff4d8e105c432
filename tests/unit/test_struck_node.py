"""Which node a fault struck is a fact of the history (drillkit.history.struck_node), not state
kept on a topology: steps read it when they run, so they can be built before the fault."""

from __future__ import annotations

from typing import Any

import pytest

from drillkit.history import History, OpType
from drillkit.queries import healthy_roles, struck, struck_node
from drillkit.runbook.patroni_steps import Rejoin, WaitForLeader
from drillkit.runbook.redis_steps import WaitSentinelFailover
from drillkit.spec.redis import WaitSentinelFailoverStep
from drillkit.spec.steps import RejoinStep, WaitForLeaderStep


def _gate(h: History, roles: dict[str, Any]) -> None:
    check = h.invoke("steady-state", "check")
    h.complete(check, OpType.OK, value={"ok_writes": 10, "roles": roles})


def _fault(h: History, f: str, value: dict[str, Any], ok: bool = True, **extra: Any) -> None:
    request = h.invoke("fault", f, value)
    h.complete(request, OpType.OK if ok else OpType.FAIL, **extra)


def test_struck_lists_the_nodes_each_injection_resolved() -> None:
    h = History()
    _fault(h, "kill", {"target": "primary", "nodes": ["pg0"]})
    _fault(h, "heal-kill", {"target": "primary", "nodes": ["pg0"]})
    _fault(h, "drop-table", {"target": "primary", "node": "pg1", "table": "t"}, incident=True)
    _fault(h, "pause", {"target": "pg2", "nodes": ["pg2"]}, ok=False)
    found = struck(h.ops())
    assert [(s.kind, s.target, s.nodes, s.incident) for s in found] == [
        ("kill", "primary", ("pg0",), False),
        ("drop-table", "primary", ("pg1",), True),
    ]


def test_without_a_role_the_first_struck_node_is_the_one_to_rejoin() -> None:
    h = History()
    _gate(h, {"primary": "pg0"})
    assert struck_node(h.ops()) is None
    _fault(h, "partition", {"target": "etcd", "nodes": []})
    _fault(h, "kill", {"target": "pg1", "nodes": ["pg1", "pg2"]})
    _fault(h, "kill", {"target": "primary", "nodes": ["pg0"]})
    assert struck_node(h.ops()) == "pg1"


def test_a_role_follows_the_injections_aimed_at_it_up_to_the_incident() -> None:
    h = History()
    _gate(h, {"primary": "pg0", "timeline": 1})
    _fault(h, "kill", {"target": "pg2", "nodes": ["pg2"]})
    assert struck_node(h.ops(), role="primary") == "pg0"  # aimed at a name: the gate's primary
    _fault(h, "kill", {"target": "primary", "nodes": ["pg1"]}, incident=True)
    _fault(h, "kill", {"target": "primary", "nodes": ["pg3"]})  # after the incident
    assert struck_node(h.ops(), role="primary") == "pg1"


def test_without_a_marked_incident_the_first_injection_is_the_incident() -> None:
    h = History()
    _gate(h, {"primary": "pg0"})
    _fault(h, "kill", {"target": "primary", "nodes": ["pg0"]})
    _fault(h, "kill", {"target": "primary", "nodes": ["pg1"]})
    assert struck_node(h.ops(), role="primary") == "pg0"


def test_a_gate_that_did_not_pass_names_no_roles() -> None:
    h = History()
    check = h.invoke("steady-state", "check")
    h.complete(check, OpType.FAIL, error="no single primary")
    assert healthy_roles(h.ops()) == {}
    assert struck_node(h.ops(), role="primary") is None


class _Any:
    """A topology stand-in: these steps touch it only in run()."""

    spec: Any = None


def test_wait_for_leader_is_built_before_the_fault_and_reads_the_history_when_run() -> None:
    step = WaitForLeader(WaitForLeaderStep(step="wait-for-leader"), _Any())
    assert step.previous is None  # built before anything happened
    h = History()
    _gate(h, {"primary": "pg0", "timeline": 3})
    _fault(h, "kill", {"target": "primary", "nodes": ["pg0"]})
    step.observe(h)
    assert step.previous == ("pg0", 3)


def test_wait_for_leader_knows_no_timeline_for_a_leader_the_gate_did_not_see() -> None:
    step = WaitForLeader(WaitForLeaderStep(step="wait-for-leader"), _Any())
    h = History()
    _gate(h, {"primary": "pg0", "timeline": 3})
    _fault(h, "kill", {"target": "primary", "nodes": ["pg1"]})
    step.observe(h)
    assert step.previous == ("pg1", None)


def test_wait_sentinel_failover_reads_the_old_master_from_the_history() -> None:
    step = WaitSentinelFailover(
        WaitSentinelFailoverStep(step="wait-sentinel-failover"),
        _Any(),  # type: ignore[arg-type]
    )
    h = History()
    _gate(h, {"primary": "redis0"})
    _fault(h, "partition", {"target": "redis1", "nodes": ["redis1"]})
    step.observe(h)
    assert step.old == "redis0"


def test_rejoin_names_the_struck_node_or_says_which_to_give() -> None:
    step = Rejoin(RejoinStep(step="rejoin"), _Any())
    h = History()
    step.observe(h)
    with pytest.raises(RuntimeError, match="say which node to rejoin"):
        step._struck()
    _fault(h, "kill", {"target": "primary", "nodes": ["pg0"]})
    assert step._struck() == "pg0"
