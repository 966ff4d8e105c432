"""A drill's own settings (a mapping and the team's conf file) reach the servers and are read
back from them for the evidence: pg_settings, CONFIG GET * against the engine's defaults, and
Patroni's /config."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

import yaml

from drillkit.images import NodeImages
from drillkit.resources import labels_for
from drillkit.secrets import Secrets
from drillkit.spec import load_drill
from drillkit.spec.postgres import PatroniTopology
from drillkit.spec.redis import RedisTopology
from drillkit.topology.patroni import PatroniCluster
from drillkit.topology.redis import RedisCluster

from .conftest import labelled, pg_cluster

USER_FILE = "/run/drillkit/drillkit-user.conf"


def test_a_mapping_and_a_conf_file_are_applied_and_read_back(
    tmp_path: Path, docker_client: Any, images: NodeImages
) -> None:
    (tmp_path / "drills").mkdir()
    (tmp_path / "drills" / "prod.conf").write_text(
        "# production\nwork_mem = '12MB'\nlog_min_duration_statement = 250  # ms\n",
        encoding="utf-8",
    )
    drill = {
        "name": "settings",
        "topology": {
            "kind": "postgres",
            "replicas": 1,
            "postgresql_conf_file": "prod.conf",
            "postgresql": {"wal_sender_timeout": "7s", "work_mem": "16MB"},
        },
        "faults": [{"kind": "kill"}],
        "targets": {"rpo_seconds": 1},
    }
    path = tmp_path / "drills" / "settings.yaml"
    path.write_text(yaml.safe_dump(drill), encoding="utf-8")
    topology = load_drill(path).topology.model_dump(exclude_unset=True)
    topology.pop("kind")
    replicas = topology.pop("replicas")

    with pg_cluster(docker_client, images, "settings", replicas, **topology) as cluster:
        fingerprint = cluster.evidence(tmp_path / "nodes")

    for node in ("pg0", "pg1"):
        read = fingerprint["nodes"][node]["non_default"]
        assert read["work_mem"]["value"] == "16384"  # kB: the mapping beat the file's 12MB
        assert read["work_mem"]["file"] == USER_FILE
        assert read["log_min_duration_statement"]["value"] == "250"  # from prod.conf
        assert read["wal_sender_timeout"]["value"] == "7000"
        assert "wal_receiver_timeout" not in read  # not declared: PostgreSQL's 60 s default
        assert "port" not in read  # 5432 is the default: not listed


def test_redis_settings_are_read_back_against_the_engines_defaults(
    tmp_path: Path, docker_client: Any, images: NodeImages
) -> None:
    run_id = f"test-settings-redis-{secrets.token_hex(3)}"
    spec = RedisTopology(
        kind="redis",
        replicas=1,
        sentinels=1,
        quorum=1,
        redis={"maxmemory": "64mb", "maxmemory-policy": "allkeys-lru"},
        sentinel={"parallel-syncs": 2},
    )
    with RedisCluster(
        docker_client,
        spec,
        run_id=run_id,
        labels=labels_for(run_id, "test-settings"),
        image=images.redis,
        secrets=Secrets.generate(*RedisCluster.SECRET_NAMES),
        progress=lambda _m: None,
    ) as cluster:
        fingerprint = cluster.evidence(tmp_path / "nodes")
    assert labelled(docker_client, run_id) == {"containers": [], "networks": [], "volumes": []}

    defaults = fingerprint["redis_defaults"]
    assert defaults["maxmemory"] == "0" and defaults["appendonly"] == "no"
    read = fingerprint["nodes"]["r0"]["non_default"]
    assert read["maxmemory"] == {"value": "67108864", "default": "0"}
    assert read["maxmemory-policy"]["value"] == "allkeys-lru"
    assert read["requirepass"]["value"] == "***"  # never the password
    assert "tcp-backlog" not in read  # left at the engine's default
    sentinel = fingerprint["nodes"]["s1"]["non_default"]
    assert sentinel["parallel-syncs"] == {"value": 2, "default": 1}


def test_patroni_dynamic_configuration_is_read_back(
    tmp_path: Path, docker_client: Any, images: NodeImages
) -> None:
    run_id = f"test-settings-patroni-{secrets.token_hex(3)}"
    spec = PatroniTopology.model_validate(
        {
            "kind": "patroni",
            "replicas": 1,
            "haproxy": False,
            "patroni": {
                "ttl": 24,
                "loop_wait": 2,
                "retry_timeout": 5,
                "postgresql": {"parameters": {"wal_sender_timeout": "6s"}},
            },
        }
    )
    with PatroniCluster(
        docker_client,
        spec,
        run_id=run_id,
        labels=labels_for(run_id, "test-settings"),
        image=images.postgres,
        secrets=Secrets.generate(*PatroniCluster.SECRET_NAMES),
        progress=lambda _m: None,
    ) as cluster:
        fingerprint = cluster.evidence(tmp_path / "nodes")
    assert labelled(docker_client, run_id) == {"containers": [], "networks": [], "volumes": []}

    assert fingerprint["patroni_config"]["ttl"] == 24
    assert fingerprint["patroni_non_default"]["ttl"] == {"value": 24, "default": 30}
    assert fingerprint["patroni_config"]["postgresql"]["parameters"]["wal_sender_timeout"] == "6s"
    assert fingerprint["nodes"]["pg0"]["non_default"]["wal_sender_timeout"]["value"] == "6000"
