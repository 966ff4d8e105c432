"""Restores from the pgBackRest repository on real containers.

pitr-restore: a dropped table comes back on a fresh node restored to just before the DROP was
requested; no row acknowledged before that target is missing, and what is lost was acknowledged
after it (discarded by design). site-loss: every node killed, a primary rebuilt from the archive
alone; what is lost is bounded by archive_timeout.
"""

from __future__ import annotations

import secrets
from typing import Any

import pytest

from drillkit.checkers import fault_effective_ns, final_read, write_outcomes
from drillkit.faults.disk import WipeData
from drillkit.history import History, OpType
from drillkit.images import NodeImages
from drillkit.resources import labels_for
from drillkit.runbook import make_step, run_runbook
from drillkit.secrets import Secrets
from drillkit.spec import load_drill
from drillkit.spec.faults import WipeDataFault
from drillkit.spec.postgres import PgBackRestOptions, PostgresTopology
from drillkit.spec.steps import RestoreStep
from drillkit.topology.postgres import PostgresCluster
from drillkit.workload.pg_writer import PgClient

from .conftest import REPO, Run, assert_agrees_with_history, labelled, run_shipped, runbook_event

NS = 1_000_000_000


# -- pitr-restore -------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def pitr(tmp_path_factory: pytest.TempPathFactory, docker_client: Any, images: NodeImages) -> Run:
    return run_shipped("pitr-restore", tmp_path_factory.mktemp("reports"))


def test_pitr_drill_passes_and_agrees_with_its_history(pitr: Run, docker_client: Any) -> None:
    result, report, _ = pitr
    assert result.error is None, result.error
    assert report["verdict"] == "pass", report["checks"]
    assert report["context"]["runbook"]["failed_step"] is None
    assert_agrees_with_history("pitr-restore", pitr, docker_client)


def test_the_dropped_table_is_back_and_recovery_stopped_before_the_drop(pitr: Run) -> None:
    _, report, _ = pitr
    restore = runbook_event(report, "restore")["value"]
    verify = runbook_event(report, "verify-restore")["value"]
    assert restore["type"] == "time" and restore["node"] == "pgr1"
    assert restore["timeline"] >= 2  # promoted at the target: a new timeline
    assert restore["backup_set"].endswith("I")  # it started from the incremental backup
    assert verify["table_exists"] is True
    assert verify["log"].startswith("recovery stopping before commit of transaction")
    assert verify["expected_rows"] > 100
    assert verify["expected_present"] == verify["expected_rows"]
    assert verify["checksum_restored"] == verify["checksum_expected"]


def test_no_row_acknowledged_before_the_target_is_missing(pitr: Run) -> None:
    _, report, ops = pitr
    target_ns = runbook_event(report, "restore")["value"]["target_monotonic_ns"]
    drop = next(op for op in ops if op.f == "drop-table" and op.type is OpType.INVOKE)
    assert target_ns == drop.time_ns  # the target is when the DROP was requested
    outcomes = write_outcomes(ops)
    survivors = set(final_read(ops) or [])
    before = {
        i
        for i, t in outcomes.completed_ns.items()
        if outcomes.outcome[i] is OpType.OK and t <= target_ns
    }
    assert len(before) > 100
    assert before <= survivors
    # Every lost write was acknowledged after the target: discarded by design, and few.
    lost = outcomes.acknowledged - survivors
    assert all(outcomes.completed_ns[i] > target_ns for i in lost)
    assert len(lost) == report["measured"]["lost_writes"]
    assert runbook_event(report, "verify-restore")["value"]["discarded_after_target"] == len(lost)


def test_the_final_read_is_from_the_restored_node(pitr: Run) -> None:
    _, report, ops = pitr
    assert runbook_event(report, "repoint")["value"]["client_path"] == ["pgr1"]
    fence = runbook_event(report, "fence-damaged-primary")["value"]
    assert fence["on"] == "pg0" and fence["exit_status"] == 0
    # Writes after the repoint landed on the restored node and are in the final read.
    repointed = next(op for op in ops if op.f == "repoint" and op.type is OpType.OK)
    outcomes = write_outcomes(ops)
    after = {
        i
        for i, t in outcomes.invoked_ns.items()
        if t > repointed.time_ns and outcomes.outcome[i] is OpType.OK
    }
    assert after and after <= set(final_read(ops) or [])


# -- site-loss ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def site_loss(
    tmp_path_factory: pytest.TempPathFactory, docker_client: Any, images: NodeImages
) -> Run:
    return run_shipped("site-loss", tmp_path_factory.mktemp("reports"))


def test_site_loss_rebuilds_a_primary_from_the_archive(site_loss: Run, docker_client: Any) -> None:
    result, report, _ = site_loss
    assert result.error is None, result.error
    assert report["context"]["runbook"]["failed_step"] is None
    kill = next(e for e in report["timeline"] if e["event"] == "fault:kill")
    assert set(kill["value"]["nodes"]) == {"pg0", "pg1"}
    restore = runbook_event(report, "restore")["value"]
    assert restore["type"] == "latest" and restore["node"] == "pgr1"
    assert restore["wal_flush"].startswith("no running primary")
    assert runbook_event(report, "verify-restore")["value"]["log"] == "archive recovery complete"
    assert report["measured"]["rto_seconds"] is not None
    assert_agrees_with_history("site-loss", site_loss, docker_client)


def test_site_loss_rpo_is_bounded_by_the_archive_timeout(site_loss: Run) -> None:
    _, report, ops = site_loss
    archive_timeout = load_drill(REPO / "drills" / "site-loss.yaml").topology.pgbackrest
    assert archive_timeout is not None
    bound = archive_timeout.archive_timeout_seconds + 3.0  # archive-push and scheduling slack
    assert report["measured"]["rpo_seconds"] <= bound
    # What survived is a prefix in time: every write lost was acknowledged within that bound
    # before the kill (or after it, never), and everything older came back.
    fault_ns = fault_effective_ns(ops)
    assert fault_ns is not None
    outcomes = write_outcomes(ops)
    survivors = set(final_read(ops) or [])
    old = {
        i
        for i, t in outcomes.completed_ns.items()
        if outcomes.outcome[i] is OpType.OK and t < fault_ns - int(bound * NS)
    }
    assert old and old <= survivors


# -- restore onto the wiped node ----------------------------------------------------------------
def test_restore_rebuilds_a_wiped_node_on_its_own_volume(
    docker_client: Any, images: NodeImages
) -> None:
    """wipe-data empties the primary's volume; restore (latest) rebuilds that same node from
    the repository, and every row committed before an archived WAL switch is back."""
    run_id = f"test-wiped-{secrets.token_hex(6)}"
    topology = PostgresTopology(replicas=1, pgbackrest=PgBackRestOptions(archive_timeout_seconds=2))
    history = History()
    with PostgresCluster(
        docker_client,
        topology,
        run_id=run_id,
        labels=labels_for(run_id, "test-wiped"),
        image=images.postgres,
        secrets=Secrets.generate(*PostgresCluster.SECRET_NAMES),
        progress=lambda _m: None,
    ) as cluster:
        PgClient(cluster.endpoints()).prepare()  # the workload's table
        cluster.prepare()
        pg0 = cluster.node("pg0")
        cluster.query(
            pg0, "INSERT INTO drillkit_writes SELECT g, 'w' FROM generate_series(1, 1000) g"
        )
        assert cluster.repo is not None
        cluster.repo.flush(pg0)  # the segment holding the rows is archived
        WipeData(WipeDataFault(kind="wipe-data", target="pg0")).inject(cluster, history)
        assert pg0.status() == "exited"
        step = make_step(RestoreStep(step="restore", type="latest", onto="pg0"), cluster)
        result = run_runbook([step], history)
        assert result.ok, result.error
        value = history.ops()[-1].value
        rebuilt = cluster.node("pg0")
        assert value["node"] == "pg0" and rebuilt.container.id != pg0.container.id
        assert value["timeline"] >= 2
        assert cluster.query(rebuilt, "SELECT count(*) AS n FROM drillkit_writes")[0]["n"] == 1000
        assert cluster.query(rebuilt, "SELECT pg_is_in_recovery() AS r")[0]["r"] is False
    assert labelled(docker_client, run_id) == {"containers": [], "networks": [], "volumes": []}
