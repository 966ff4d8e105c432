"""Every container drillkit creates is confined, and no password leaks out of the secrets files.

On real PostgreSQL, Patroni and Redis topologies: ``docker inspect`` shows no password in any
container's environment, every capability dropped (helpers in a node's network namespace get
NET_ADMIN back, nothing else), no-new-privileges, a pids and a memory limit; Patroni refuses an
unauthenticated switchover; and no data volume holds a password, also after a replica was set
up with a base backup and a former primary was rejoined with pg_rewind.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from drillkit.backend.docker import SECRETS_DIR
from drillkit.backend.docker.node import DockerNode
from drillkit.images import NodeImages
from drillkit.resources import labels_for
from drillkit.secrets import Secrets
from drillkit.spec.postgres import PatroniTopology
from drillkit.spec.redis import RedisTopology
from drillkit.topology.containers import ContainerTopology
from drillkit.topology.patroni import PatroniCluster
from drillkit.topology.patroni_view import REST_PORT
from drillkit.topology.pg_admin import PGDATA
from drillkit.topology.postgres import PostgresCluster
from drillkit.topology.redis import RedisCluster
from drillkit.topology.redis_config import DATA_DIR

from .conftest import labelled, pg_cluster

NET_ADMIN = 1 << 12  # bit of CAP_NET_ADMIN in /proc/<pid>/status capability masks


def _inspect(node: Any) -> dict[str, Any]:
    node.container.reload()
    return dict(node.container.attrs)


def _assert_confined(topology: ContainerTopology, secret_values: list[str]) -> None:
    assert topology.nodes
    for node in topology.nodes:
        attrs = _inspect(node)
        env = "\n".join(attrs["Config"].get("Env") or [])
        for value in secret_values:
            assert value not in env, f"{node.name}: a password in its environment"
        host = attrs["HostConfig"]
        assert host["CapDrop"] == ["ALL"], node.name
        assert not host["CapAdd"], node.name
        assert "no-new-privileges" in (host["SecurityOpt"] or []), node.name
        assert host["PidsLimit"] and host["PidsLimit"] > 0, node.name
        assert host["Memory"] and host["Memory"] > 0, node.name
        assert not host["Privileged"], node.name


def _status(text: str) -> dict[str, str]:
    return dict(line.split(":\t", 1) for line in text.splitlines() if ":\t" in line)


def _grep_volume(node: DockerNode, path: str, needles: list[str]) -> str:
    """Files under ``path`` on the node's volume that contain one of ``needles`` (passed to the
    helper as a secrets file, never on its command line)."""
    result = node.run_helper_on_volume(
        path,
        ["sh", "-c", f'grep -rlF -f {SECRETS_DIR}/needles "$1" || [ $? -eq 1 ]', "grep", path],
        timeout=60.0,
        secrets={"needles": "\n".join(needles) + "\n"},
    )
    assert result.ok, result.stderr
    return result.stdout.strip()


# -- plain PostgreSQL: primary + a base-backup replica, then failover and pg_rewind ------------
@pytest.fixture(scope="module")
def pg(docker_client: Any, images: NodeImages) -> Iterator[PostgresCluster]:
    with pg_cluster(docker_client, images, "hardening", replicas=1) as cluster:
        yield cluster


def _pg_passwords(cluster: PostgresCluster) -> list[str]:
    return [cluster.secrets["postgres"], cluster.secrets["replicator"]]


def test_postgres_containers_are_confined(pg: PostgresCluster) -> None:
    _assert_confined(pg, _pg_passwords(pg))


def test_postgres_secrets_are_0600_files_of_the_node_user(pg: PostgresCluster) -> None:
    out = pg.node("pg1").exec(["stat", "-c", "%a %U %n", SECRETS_DIR, f"{SECRETS_DIR}/pgpass"])
    assert out.exit_code == 0
    lines = out.output.decode().splitlines()
    assert lines == [f"700 postgres {SECRETS_DIR}", f"600 postgres {SECRETS_DIR}/pgpass"]


def test_network_helper_has_net_admin_only_and_no_new_privileges(pg: PostgresCluster) -> None:
    node = pg.node("pg0")
    assert isinstance(node, DockerNode)
    result = node.run_in_netns("cat /proc/self/status; iptables -S INPUT", timeout=30)
    assert result.ok, result.stderr
    status = _status(result.stdout)
    assert int(status["CapEff"], 16) == NET_ADMIN
    assert int(status["CapBnd"], 16) == NET_ADMIN
    assert status["NoNewPrivs"].strip() == "1"
    assert "-P INPUT ACCEPT" in result.stdout  # iptables works with NET_ADMIN alone


def test_volume_helper_has_no_capability(pg: PostgresCluster) -> None:
    node = pg.node("pg1")
    assert isinstance(node, DockerNode)
    result = node.run_helper_on_volume(PGDATA, ["cat", "/proc/self/status"], timeout=30)
    assert result.ok, result.stderr
    status = _status(result.stdout)
    assert int(status["CapBnd"], 16) == 0
    assert status["NoNewPrivs"].strip() == "1"


def test_no_password_on_any_volume_after_base_backup_and_rewind(pg: PostgresCluster) -> None:
    old, new = pg.node("pg0"), pg.node("pg1")
    assert isinstance(old, DockerNode) and isinstance(new, DockerNode)
    assert _grep_volume(new, PGDATA, _pg_passwords(pg)) == ""  # the base-backup replica
    old.kill("SIGKILL")
    old.wait_status("exited")
    pg.query(new, "SELECT pg_promote(true, 30)")
    pg.rejoin("pg0", timeout=90)
    assert pg.streaming_standbys(new) == ["pg0"]
    for node in (old, new):
        assert _grep_volume(node, PGDATA, _pg_passwords(pg)) == "", node.name
    auto = old.exec(["cat", f"{PGDATA}/postgresql.auto.conf"]).output.decode()
    assert f"passfile={SECRETS_DIR}/pgpass" in auto
    assert "password=" not in auto


# -- Patroni: etcd, members, HAProxy ------------------------------------------------------------
@pytest.fixture(scope="module")
def patroni(docker_client: Any, images: NodeImages) -> Iterator[PatroniCluster]:
    run_id = f"test-hardening-patroni-{secrets.token_hex(3)}"
    with PatroniCluster(
        docker_client,
        PatroniTopology(kind="patroni", replicas=1, ttl=20, loop_wait=2, retry_timeout=5),
        run_id=run_id,
        labels=labels_for(run_id, "test-hardening"),
        image=images.postgres,
        secrets=Secrets.generate(*PatroniCluster.SECRET_NAMES),
        progress=lambda _m: None,
    ) as cluster:
        yield cluster
    assert labelled(docker_client, run_id) == {"containers": [], "networks": [], "volumes": []}


def test_patroni_containers_are_confined(patroni: PatroniCluster) -> None:
    assert {n.role for n in patroni.nodes} >= {"etcd", "member", "haproxy"}
    _assert_confined(patroni, list(patroni.secrets.values.values()))


def test_patroni_refuses_an_unauthenticated_switchover(patroni: PatroniCluster) -> None:
    leader = patroni.leader()
    assert leader is not None
    other = next(m.name for m in patroni.members() if m.name != leader.name)
    url = f"http://{leader.host}:{leader.port(REST_PORT)}/switchover"
    body = {"leader": leader.name, "candidate": other}
    assert requests.post(url, json=body, timeout=10).status_code == 401
    wrong = ("drillkit", "not-the-password")
    assert requests.post(url, json=body, auth=wrong, timeout=10).status_code == 401
    assert patroni.leader() is leader
    # with the credentials a custom step gets (a curl config), the request gets past the check
    config = patroni.secret_files(inside=False)["patroni-rest"]
    user, password = config.split('"')[1].split(":", 1)
    harmless = {"leader": "not-a-member"}
    refused = requests.post(url, json=harmless, auth=(user, password), timeout=10)
    assert refused.status_code not in (401, 403), refused.text
    assert patroni.leader() is leader
    # reads stay open: HAProxy's health check asks GET /primary without credentials
    assert requests.get(f"http://{leader.host}:{leader.port(REST_PORT)}/primary").ok


def test_no_password_on_patroni_volumes(patroni: PatroniCluster) -> None:
    passwords = [patroni.secrets["postgres"], patroni.secrets["replicator"]]
    for member in patroni.members():
        assert isinstance(member, DockerNode)
        assert _grep_volume(member, PGDATA, passwords) == "", member.name


# -- Redis + Sentinel ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def redis_cluster(docker_client: Any, images: NodeImages) -> Iterator[RedisCluster]:
    run_id = f"test-hardening-redis-{secrets.token_hex(3)}"
    with RedisCluster(
        docker_client,
        RedisTopology(kind="redis", replicas=1),
        run_id=run_id,
        labels=labels_for(run_id, "test-hardening"),
        image=images.redis,
        secrets=Secrets.generate(*RedisCluster.SECRET_NAMES),
        progress=lambda _m: None,
    ) as cluster:
        yield cluster
    assert labelled(docker_client, run_id) == {"containers": [], "networks": [], "volumes": []}


def test_redis_containers_are_confined(redis_cluster: RedisCluster) -> None:
    assert {n.role for n in redis_cluster.nodes} >= {"primary", "replica", "sentinel"}
    _assert_confined(redis_cluster, [redis_cluster.secrets["redis"]])


def test_no_password_on_redis_volumes_after_config_rewrite(redis_cluster: RedisCluster) -> None:
    for node in redis_cluster.data_nodes:
        assert isinstance(node, DockerNode)
        assert redis_cluster.redis(node).config_rewrite()
        assert _grep_volume(node, DATA_DIR, [redis_cluster.secrets["redis"]]) == "", node.name
