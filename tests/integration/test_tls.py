"""topology.tls on real containers: drills pass over TLS, clients without the run's CA are
refused, and replication is encrypted as the servers themselves report it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import psycopg
import pytest
import redis
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from drillkit.drill import run_drill
from drillkit.images import NodeImages
from drillkit.spec import DrillSpec, load_drill
from drillkit.tls import RunTls
from drillkit.topology.postgres import PostgresCluster

from .conftest import REPO, labelled, pg_cluster


def _with_tls(name: str) -> DrillSpec:
    spec = load_drill(REPO / "drills" / f"{name}.yaml")
    return spec.model_copy(update={"topology": spec.topology.model_copy(update={"tls": True})})


def _run(name: str, reports: Path) -> tuple[Any, dict[str, Any]]:
    result = run_drill(
        _with_tls(name), drill_file=f"drills/{name}.yaml", report_root=reports, progress=print
    )
    return result, json.loads((result.report_dir / "report.json").read_text())


@pytest.fixture(scope="module")
def tls_cluster(docker_client: Any, images: NodeImages) -> Any:
    with pg_cluster(docker_client, images, "tls", tls=True) as cluster:
        yield cluster


def test_failover_drill_passes_over_tls(
    tmp_path: Path, docker_client: Any, images: NodeImages
) -> None:
    result, report = _run("failover", tmp_path)
    assert result.error is None, result.error
    assert report["verdict"] == "pass", report["measured"]
    assert report["measured"]["acknowledged_writes"] > 100
    tls = report["configuration"]["tls"]
    assert tls["enabled"] and tls["client_sslmode"] == "verify-full"
    for server in tls["servers"].values():  # read back from the servers after the drill
        assert server["ssl"] == "on" and server["session_ssl"] is True
        assert server["version"].startswith("TLSv1.")
    at_ready = tls["replication_at_ready"]  # before the kill: the replica streamed over TLS
    assert [r["standby"] for r in at_ready] == ["pg1"] and at_ready[0]["ssl"] is True
    assert labelled(docker_client, result.run_id)["containers"] == []


def test_a_client_without_the_run_ca_is_refused(tls_cluster: PostgresCluster) -> None:
    node = tls_cluster.nodes[0]
    good = tls_cluster.conninfo([node], connect_timeout=2)
    assert conninfo_to_dict(good)["sslmode"] == "verify-full"
    with psycopg.connect(good) as conn:
        assert conn.execute("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()").fetchone()
    other = RunTls("another-run")  # a CA that did not sign this run's certificates
    try:
        wrong_ca = make_conninfo(good, sslrootcert=str(other.ca_file))
        with pytest.raises(psycopg.OperationalError, match="certificate verify failed"):
            psycopg.connect(wrong_ca).close()
    finally:
        other.close()
    # And no way around it: pg_hba.conf has only hostssl lines, so plain connections are refused.
    plain = make_conninfo(good, sslmode="disable")
    with pytest.raises(psycopg.OperationalError, match="no encryption"):
        psycopg.connect(plain).close()


def test_replication_is_encrypted_per_pg_stat_ssl(tls_cluster: PostgresCluster) -> None:
    rows = tls_cluster.query(
        tls_cluster.nodes[0],
        "SELECT r.application_name, s.ssl, s.version, s.cipher"
        " FROM pg_stat_replication r JOIN pg_stat_ssl s USING (pid)",
    )
    assert [r["application_name"] for r in rows] == ["pg1"]
    assert rows[0]["ssl"] is True and rows[0]["version"].startswith("TLSv1.")
    conninfo = tls_cluster.query(tls_cluster.nodes[1], "SHOW primary_conninfo")[0]
    assert "sslmode=verify-full" in conninfo["primary_conninfo"]


def test_redis_sentinel_failover_passes_over_tls(
    tmp_path: Path, docker_client: Any, images: NodeImages
) -> None:
    result, report = _run("redis-failover", tmp_path)
    assert result.error is None, result.error
    assert report["verdict"] == "pass", report["measured"]
    tls = report["configuration"]["tls"]
    assert tls["enabled"]
    data = {k: v for k, v in tls["servers"].items() if k.startswith("r")}
    sentinels = {k: v for k, v in tls["servers"].items() if k.startswith("s")}
    assert data and len(sentinels) == 3
    for server in data.values():
        assert server["port"] == "0" and server["tls-port"] == "6379"
        assert server["tls-replication"] == "yes"
    for server in tls["servers"].values():
        assert server["session"]["version"].startswith("TLSv1.")


def test_redis_refuses_a_client_without_tls(docker_client: Any, images: NodeImages) -> None:
    """A Redis node of a TLS topology answers no plain client (the plain port is off)."""
    import secrets

    from drillkit.resources import labels_for, sweep
    from drillkit.secrets import Secrets
    from drillkit.spec.redis import RedisTopology
    from drillkit.topology.redis import RedisCluster

    run_id = f"test-redis-tls-{secrets.token_hex(3)}"
    cluster = RedisCluster(
        docker_client,
        RedisTopology(kind="redis", replicas=1, sentinels=1, quorum=1, tls=True),
        run_id=run_id,
        labels=labels_for(run_id, "test-redis-tls"),
        image=images.redis,
        secrets=Secrets.generate(*RedisCluster.SECRET_NAMES),
        progress=lambda _m: None,
    )
    try:
        with cluster:
            node = cluster.data_nodes[0]
            with cluster.redis(node) as r:
                assert r.ping()
            plain = redis.Redis(
                host=node.host,
                port=node.port(6379),
                password=cluster.secrets["redis"],
                socket_timeout=2,
                socket_connect_timeout=2,
            )
            with pytest.raises(redis.exceptions.ConnectionError):
                plain.ping()
            other = RunTls("another-run")
            try:
                wrong = redis.Redis(
                    host=node.host,
                    port=node.port(6379),
                    password=cluster.secrets["redis"],
                    socket_timeout=2,
                    ssl=True,
                    ssl_ca_certs=str(other.ca_file),
                )
                with pytest.raises(redis.exceptions.ConnectionError, match="certificate verify"):
                    wrong.ping()
            finally:
                other.close()
            tls_dir = cluster.tls.directory if cluster.tls else None
    finally:
        sweep(docker_client, run_id)
    assert tls_dir is not None and not tls_dir.exists()  # client material went with the run


def test_patroni_failover_passes_over_tls(
    tmp_path: Path, docker_client: Any, images: NodeImages
) -> None:
    """PostgreSQL, Patroni's REST API and etcd all over TLS: the leader dies, a replica takes
    over, HAProxy (checking /primary over https) routes the writer to it."""
    result, report = _run("patroni-failover", tmp_path)
    assert result.error is None, result.error
    assert report["verdict"] == "pass", report["measured"]
    tls = report["configuration"]["tls"]
    assert tls["enabled"]
    assert tls["replication"] and all(r["ssl"] for r in tls["replication"])
    assert len(tls["replication_at_ready"]) == 2
    assert all(r["ssl"] for r in tls["replication_at_ready"])
    members = [n for n in tls["servers"] if n.startswith("pg")]
    assert members and all(tls["servers"][n]["session_ssl"] for n in members)


def test_rejoin_rewinds_over_tls(tmp_path: Path, docker_client: Any, images: NodeImages) -> None:
    """failover-sync ends with a rejoin: pg_rewind (a helper verifying the new primary with the
    run's CA) and a new primary_conninfo with verify-full; the old primary streams again."""
    result, report = _run("failover-sync", tmp_path)
    assert result.error is None, result.error
    assert report["verdict"] == "pass", report["measured"]
    assert any(e["event"] == "runbook:rejoin" for e in report["timeline"])
    replication = report["configuration"]["tls"]["replication"]
    assert replication and all(r["ssl"] for r in replication)


@pytest.mark.parametrize(
    ("drill", "engine"),
    [("failover", {"version": 17}), ("redis-failover", {"engine": "valkey", "version": 8})],
    ids=["postgres-17", "valkey-8"],
)
def test_tls_on_the_other_engine_versions(
    drill: str, engine: dict[str, Any], tmp_path: Path, docker_client: Any, images: NodeImages
) -> None:
    spec = _with_tls(drill)
    topology = type(spec.topology).model_validate(
        {**spec.topology.model_dump(exclude_unset=True), **engine, "tls": True}
    )
    result = run_drill(
        spec.model_copy(update={"topology": topology}),
        drill_file=f"drills/{drill}.yaml",
        report_root=tmp_path,
        progress=lambda _m: None,
    )
    assert result.error is None, result.error
    report = json.loads((result.report_dir / "report.json").read_text())
    assert report["verdict"] == "pass", report["measured"]
    assert report["configuration"]["tls"]["enabled"]
    version = report["versions"].get("postgresql") or report["versions"].get("valkey") or ""
    assert version.startswith(("17.", "8.")), report["versions"]
