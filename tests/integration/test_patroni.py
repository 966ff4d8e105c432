"""Patroni on real containers (3 etcd members, Patroni members, HAProxy).

patroni-failover: the leader's node is killed; a new leader appears on a new timeline only once
the old leader key expired (about ttl), clients reach it through HAProxy, and the old leader
rejoins as a replica. primary-partition: the isolated leader keeps acknowledging writes that are
later thrown away, but Patroni demotes it before a new leader is elected, so the two never
acknowledged at the same time.
"""

from __future__ import annotations

import secrets
from typing import Any

import psycopg
import pytest

from drillkit.checkers import fault_effective_ns, final_read, write_outcomes
from drillkit.history import History, OpType
from drillkit.images import NodeImages
from drillkit.resources import labels_for
from drillkit.runbook import make_step, run_runbook
from drillkit.secrets import Secrets
from drillkit.spec import load_drill
from drillkit.spec.postgres import PatroniTopology
from drillkit.spec.steps import SwitchoverStep
from drillkit.topology.patroni import PatroniCluster

from .conftest import REPO, Run, assert_agrees_with_history, labelled, run_shipped, runbook_event

NS = 1_000_000_000


def _topology(name: str) -> Any:
    return load_drill(REPO / "drills" / f"{name}.yaml").topology


# -- patroni-failover ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def failover(
    tmp_path_factory: pytest.TempPathFactory, docker_client: Any, images: NodeImages
) -> Run:
    return run_shipped("patroni-failover", tmp_path_factory.mktemp("reports"))


def test_patroni_failover_passes_and_agrees_with_its_history(
    failover: Run, docker_client: Any
) -> None:
    result, report, _ = failover
    assert result.error is None, result.error
    assert report["verdict"] == "pass", report["checks"]
    assert report["versions"]["patroni"] == "3.0.2"
    assert_agrees_with_history("patroni-failover", failover, docker_client)


def test_a_new_leader_on_a_new_timeline(failover: Run) -> None:
    _, report, _ = failover
    killed = next(e for e in report["timeline"] if e["event"] == "fault:kill")["value"]["nodes"]
    elected = runbook_event(report, "wait-for-leader")["value"]
    assert elected["previous_leader"] == killed[0]
    assert elected["leader"] != killed[0]
    assert elected["timeline"] == elected["previous_timeline"] + 1


def test_failover_waits_for_the_leader_key_to_expire(failover: Run) -> None:
    """Ground truth the drill controls: nobody may lead before the dead leader's key expires.
    Its last renewal was at most loop_wait before the kill, so RTO >= ttl - loop_wait."""
    _, report, _ = failover
    topology = _topology("patroni-failover")
    rto = report["measured"]["rto_seconds"]
    assert rto >= topology.ttl - topology.loop_wait - 0.5
    assert rto <= topology.ttl + topology.loop_wait + 8  # election, promotion, HAProxy check


def test_the_old_leader_rejoins_as_a_replica(failover: Run) -> None:
    _, report, _ = failover
    elected = runbook_event(report, "wait-for-leader")["value"]
    rejoin = runbook_event(report, "rejoin")
    assert rejoin["status"] == "ok", rejoin.get("error")
    assert rejoin["value"]["node"] == elected["previous_leader"]
    assert rejoin["value"]["role"] == "replica"
    assert rejoin["value"]["timeline"] == elected["timeline"]


# -- primary-partition --------------------------------------------------------------------------
@pytest.fixture(scope="module")
def partition(
    tmp_path_factory: pytest.TempPathFactory, docker_client: Any, images: NodeImages
) -> Run:
    return run_shipped("primary-partition", tmp_path_factory.mktemp("reports"))


def test_primary_partition_agrees_with_its_history(partition: Run, docker_client: Any) -> None:
    result, report, _ = partition
    assert result.error is None, result.error
    assert report["verdict"] == "pass", report["checks"]
    assert_agrees_with_history("primary-partition", partition, docker_client)


def test_the_isolated_leader_acknowledged_writes_that_were_thrown_away(partition: Run) -> None:
    _, report, ops = partition
    measured = report["measured"]
    assert measured["lost_writes"] > 50  # it kept acknowledging for seconds
    assert measured["lost_after_fault"] > 0.9 * measured["lost_writes"]
    fault_ns = fault_effective_ns(ops)
    assert fault_ns is not None
    outcomes = write_outcomes(ops)
    lost = outcomes.acknowledged - set(final_read(ops) or [])
    assert len(lost) == measured["lost_writes"]


def test_patroni_demotes_it_before_anyone_else_leads(partition: Run) -> None:
    """The bound: the old leader stops acknowledging within about loop_wait + retry_timeout
    (it cannot renew its key), well before the key expires (ttl) and a new leader is elected;
    no write it acknowledged is later than any write the new leader acknowledged."""
    _, report, ops = partition
    topology = _topology("primary-partition")
    end = report["measured"]["lost_window_seconds"][1]
    assert end <= topology.loop_wait + topology.retry_timeout + 3.0
    assert end < topology.ttl - topology.loop_wait
    fault_ns = fault_effective_ns(ops)
    assert fault_ns is not None
    outcomes = write_outcomes(ops)
    survivors = set(final_read(ops) or [])
    lost_acks = [outcomes.completed_ns[i] for i in outcomes.acknowledged - survivors]
    # The new leader's acknowledgements come after the outage began (the old leader's last
    # acknowledged writes may have replicated just before the cut, and survive: those are not
    # the new leader's).
    outage_ns = min(
        t
        for i, t in outcomes.completed_ns.items()
        if t > fault_ns and outcomes.outcome[i] is not OpType.OK
    )
    new_acks = [
        t
        for i, t in outcomes.completed_ns.items()
        if i in survivors and outcomes.outcome[i] is OpType.OK and t > outage_ns
    ]
    assert new_acks and max(lost_acks) < min(new_acks)
    elected = runbook_event(report, "wait-for-leader")["value"]
    assert elected["leader"] != elected["previous_leader"]
    assert elected["timeline"] == elected["previous_timeline"] + 1
    assert elected["previous_leader_role"] == "replica"  # demoted, though still reachable
    assert min(new_acks) - fault_ns >= (topology.ttl - topology.loop_wait - 0.5) * NS


# -- switchover ---------------------------------------------------------------------------------
def test_a_planned_switchover_moves_the_leader_and_haproxy_follows(
    docker_client: Any, images: NodeImages
) -> None:
    run_id = f"test-switchover-{secrets.token_hex(6)}"
    with PatroniCluster(
        docker_client,
        PatroniTopology(kind="patroni", replicas=1, ttl=20, loop_wait=2, retry_timeout=5),
        run_id=run_id,
        labels=labels_for(run_id, "test-switchover"),
        image=images.postgres,
        secrets=Secrets.generate(*PatroniCluster.SECRET_NAMES),
        progress=lambda _m: None,
    ) as cluster:
        before = cluster.leader()
        assert before is not None
        other = next(m.name for m in cluster.members() if m.name != before.name)
        history = History()
        step = make_step(SwitchoverStep(step="switchover", candidate=other), cluster)
        result = run_runbook([step], history)
        assert result.ok, result.error
        value = history.ops()[-1].value
        assert (value["previous_leader"], value["leader"]) == (before.name, other)
        assert value["timeline"] == value["previous_timeline"] + 1
        with psycopg.connect(cluster.client_conninfo(), autocommit=True) as conn:
            row = conn.execute("SELECT inet_server_port(), pg_is_in_recovery()").fetchone()
        assert row is not None and row[1] is False  # HAProxy now routes to the new leader
    assert labelled(docker_client, run_id) == {"containers": [], "networks": [], "volumes": []}
