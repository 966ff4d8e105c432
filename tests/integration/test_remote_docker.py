"""A remote Docker host: drillkit talks to the engine at ``DOCKER_HOST=tcp://...`` and reaches
the published ports through that host's address (127.0.0.1 here: a second dockerd on this
machine, ``scripts/second-dockerd.sh start``, stands in for the remote host).

Skipped unless ``DRILLKIT_REMOTE_DOCKER_HOST`` names that engine, e.g.::

    scripts/second-dockerd.sh start drillkit/debian-base:bookworm drillkit/postgres:pg15-...
    DRILLKIT_REMOTE_DOCKER_HOST=tcp://127.0.0.1:23750 pytest tests/integration/test_remote_docker.py
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import pytest

from drillkit.drill import run_drill
from drillkit.history import read_history
from drillkit.images import NodeImages
from drillkit.plan import docker_survey, plan_drill
from drillkit.spec import load_drill

from .conftest import REPO, labelled
from .test_external import PASSWORD_ENV, _drill, _probe_tables, compose_stack

REMOTE = os.environ.get("DRILLKIT_REMOTE_DOCKER_HOST", "")
pytestmark = pytest.mark.skipif(
    not REMOTE, reason="DRILLKIT_REMOTE_DOCKER_HOST is not set (scripts/second-dockerd.sh)"
)


def _has(client: Any, image: str) -> bool:
    try:
        client.images.get(image)
    except docker.errors.ImageNotFound:
        return False
    return True


@pytest.fixture
def remote(images: NodeImages, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The remote engine's client; drillkit's own engine connections go there too."""
    if not REMOTE.startswith("tcp://127.0.0.1:"):
        pytest.skip("this test reaches published ports on 127.0.0.1: a tcp://127.0.0.1 engine")
    client = docker.DockerClient(base_url=REMOTE, timeout=120)
    missing = [t for t in (images.postgres, images.base_id) if not _has(client, t)]
    if missing:
        pytest.skip(
            f"the remote engine lacks {missing}: scripts/second-dockerd.sh load {' '.join(missing)}"
        )
    monkeypatch.setenv("DOCKER_HOST", REMOTE)
    yield client
    client.close()


def test_an_external_drill_on_a_remote_docker_host(
    remote: Any,
    docker_client: Any,
    images: NodeImages,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # two daemons, not one socket twice (Engine 20.10 derives the ID from /etc/docker/key.json,
    # which two daemons on one machine share: the data root tells them apart)
    local_root = docker_client.info()["DockerRootDir"]
    remote_id, remote_root = remote.info()["ID"], remote.info()["DockerRootDir"]
    assert remote_root != local_root
    with compose_stack(remote, images.postgres) as stack:
        monkeypatch.setenv(PASSWORD_ENV, stack.password)
        path = _drill(tmp_path, stack.project)
        spec = load_drill(path)
        plan = plan_drill(spec, file=str(path), survey=docker_survey(remote))
        assert {n.name: n.role for n in plan.nodes} == {"pga": "primary", "pgb": "replica"}

        result = run_drill(
            spec,
            drill_file=str(path),
            report_root=tmp_path,
            progress=lambda _m: None,
            target=stack.project,
        )

        assert result.error is None, result.error
        assert result.rto_seconds is not None and result.rpo_seconds is not None
        print(f"remote engine: RPO {result.rpo_seconds} s, RTO {result.rto_seconds} s")
        assert _probe_tables(stack.conninfo("pgb")) == []
        config = json.loads((result.report_dir / "configuration.json").read_text())
        assert config["docker"]["endpoint"] == REMOTE
        assert config["docker"]["daemon_id"] == remote_id
        assert config["docker"]["root_dir"] == remote_root
        assert labelled(remote, result.run_id) == {"containers": [], "networks": [], "volumes": []}


def test_drillkits_own_topology_on_a_remote_docker_host(
    remote: Any, docker_client: Any, tmp_path: Path
) -> None:
    result = run_drill(
        load_drill(REPO / "drills" / "failover.yaml"),
        drill_file="drills/failover.yaml",
        report_root=tmp_path,
        progress=lambda _m: None,
    )

    assert result.error is None, result.error
    # created, struck, promoted and removed on the remote engine. Not judged against the
    # drill's 10 s RTO: on the stand-in daemon (no iptables, so no outbound NAT) the replica's
    # lookup of the dead primary's name waits ~20 s for the host's DNS, and PostgreSQL's
    # promotion waits for that walreceiver (measured: promote 9.7 s, RTO 10.7 s; docs/external.md)
    assert result.rto_seconds is not None and result.rpo_seconds is not None
    assert [c.verdict for c in result.model.checks if c.name != "rto_seconds"] == ["pass", "pass"]
    print(f"own topology, remote engine: RPO {result.rpo_seconds} s, RTO {result.rto_seconds} s")
    ops = read_history(result.report_dir / "history.jsonl")
    assert [o.value for o in ops if o.f == "kill" and o.type.value == "ok"] == [
        {"target": "primary", "nodes": ["pg0"]}
    ]
    assert labelled(remote, result.run_id) == {"containers": [], "networks": [], "volumes": []}
    # nothing of the run ever reached the local engine
    assert labelled(docker_client, result.run_id) == {
        "containers": [],
        "networks": [],
        "volumes": [],
    }
