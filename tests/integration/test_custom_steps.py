"""Custom runbook steps against a real primary and replica: a team's script reaches the database
from the host and from inside a node with only what the environment and the password file give
it, and no password shows up in what is recorded."""

from __future__ import annotations

import secrets
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from drillkit.history import History, OpType
from drillkit.images import NodeImages
from drillkit.resources import labels_for, sweep
from drillkit.runbook import make_step, run_runbook
from drillkit.secrets import Secrets
from drillkit.spec.steps import ShellStep
from drillkit.topology.postgres import PostgresCluster

from .conftest import labelled, pg_cluster


@pytest.fixture(scope="module")
def cluster(docker_client: Any, images: NodeImages) -> Iterator[PostgresCluster]:
    with pg_cluster(docker_client, images, "custom") as c:
        yield c


def step(cluster: PostgresCluster, run: str, **fields: Any) -> Any:
    return make_step(ShellStep(step="shell", run=run, **fields), cluster)


HOST_SCRIPT = f"""{sys.executable} - <<'PY'
import os, psycopg
with psycopg.connect(host=os.environ["DK_PRIMARY_HOST"], port=os.environ["DK_PRIMARY_PORT"]) as c:
    print("replicas", c.execute("SELECT count(*) FROM pg_stat_replication").fetchone()[0])
PY
env"""


def test_a_host_script_reaches_the_primary_with_the_password_file(cluster: Any) -> None:
    history = History()

    result = run_runbook([step(cluster, HOST_SCRIPT, name="count-replicas")], history)

    assert result.ok, result.error
    done = history.ops()[-1]
    assert done.type is OpType.OK
    assert "replicas 1" in done.value["output"]
    assert "DK_PG1_PORT=" in done.value["output"]  # the environment dump was recorded...
    for password in cluster.secrets.values.values():  # ...and holds no password
        assert password not in str(done.value)


def test_a_script_inside_a_node_uses_network_names(cluster: Any) -> None:
    history = History()
    script = 'psql -h "$DK_PRIMARY_HOST" -p "$DK_PRIMARY_PORT" -Atc "SELECT pg_is_in_recovery()"'

    result = run_runbook([step(cluster, script, target="replica", name="ask-primary")], history)

    assert result.ok, result.error
    value = history.ops()[-1].value
    assert value["on"] == "pg1"
    assert value["output"].strip() == "f"  # it reached the primary over the run's network
    left = cluster.node("pg1").exec(["sh", "-c", "ls -d /tmp/drillkit-step-* 2>/dev/null; true"])
    assert b"drillkit-step" not in left.output  # the password file went with the step


def test_a_failing_script_in_a_node_ends_the_runbook(cluster: Any) -> None:
    history = History()
    steps = [
        step(cluster, "psql -Atc 'SELECT 1/0'", target="primary", name="bad-sql"),
        step(cluster, "true", name="after"),
    ]

    result = run_runbook(steps, history)

    assert result.failed_step == "bad-sql"
    assert "division by zero" in (result.error or "")


def test_redis_topology_describes_itself_to_custom_steps(
    docker_client: Any, images: NodeImages
) -> None:
    """The same DK_* contract for Redis: every node and Sentinel, the master, by published port
    from the host and by container name inside the network; the password only in a file."""
    from drillkit.spec.redis import RedisTopology
    from drillkit.topology.redis import REDIS_PORT, SENTINEL_PORT, RedisCluster

    run_id = f"test-redis-env-{secrets.token_hex(3)}"
    run_secrets = Secrets.generate("redis")
    try:
        with RedisCluster(
            docker_client,
            RedisTopology(kind="redis", replicas=1),
            run_id=run_id,
            labels=labels_for(run_id, "test-redis-env"),
            image=images.redis,
            secrets=run_secrets,
            progress=lambda _m: None,
        ) as cluster:
            outside = cluster.shell_environment(inside=False)
            inside = cluster.shell_environment(inside=True)
            master, sentinel = cluster.node("r0"), cluster.node("s1")
            assert outside["DK_NODES"] == "r0 r1 s1 s2 s3"
            assert outside["DK_SENTINELS"] == "s1 s2 s3"
            assert outside["DK_PRIMARY"] == "r0"
            assert outside["DK_PRIMARY_PORT"] == str(master.port(REDIS_PORT))
            assert outside["DK_S1_PORT"] == str(sentinel.port(SENTINEL_PORT))
            assert inside["DK_PRIMARY_HOST"] == cluster.container_name("r0")
            assert inside["DK_S1_PORT"] == str(SENTINEL_PORT)
            assert run_secrets["redis"] not in " ".join(outside.values())
            assert cluster.secret_files(inside=False) == {"redis-auth": run_secrets["redis"] + "\n"}
    finally:
        sweep(docker_client, run_id)
    assert labelled(docker_client, run_id)["containers"] == []
