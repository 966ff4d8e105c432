"""A Redis + Sentinel stack drillkit did not create: the TEST starts what ``docker compose up``
would leave (a master, a replica and three Sentinels of drillkit's redis image with a small
hand-written configuration, carrying only Compose's labels, on a network the test creates, ports
on 127.0.0.1), then a drill of kind compose, engine redis, kills the master and Sentinel's own
failover restores service. drillkit must measure RPO/RTO through Sentinel discovery, delete its
probe key, and remove or alter nothing of the stack but the container it killed."""

from __future__ import annotations

import contextlib
import secrets
import textwrap
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis

from drillkit.backend.docker import free_port
from drillkit.backend.docker.attach import COMPOSE_PROJECT, COMPOSE_SERVICE
from drillkit.backend.docker.hardening import put_secrets
from drillkit.drill import run_drill
from drillkit.images import NodeImages
from drillkit.spec import load_drill
from drillkit.topology.redis_config import CONF_DIR

from .conftest import labelled

PASSWORD_ENV = "DK_TEST_EXTERNAL_REDIS_PASSWORD"
MASTER_NAME = "shop"
DATA = ("cache-a", "cache-b")
SENTINELS = ("sentinel-1", "sentinel-2", "sentinel-3")


@dataclass
class Stack:
    project: str
    network: Any
    containers: dict[str, Any]
    ports: dict[str, int]
    password: str

    def redis(self, service: str) -> redis.Redis:
        return redis.Redis(
            host="127.0.0.1",
            port=self.ports[service],
            password=self.password,
            socket_timeout=2,
            decode_responses=True,
        )


def _start(client: Any, image: str, stack: Stack, service: str, conf: str, port: int) -> Any:
    host_port = free_port()
    sentinel = service.startswith("sentinel")
    container = client.containers.create(
        image,
        command=(
            ["redis-sentinel", f"{CONF_DIR}/sentinel.conf"]
            if sentinel
            else ["redis-server", f"{CONF_DIR}/redis.conf"]
        ),
        name=f"{stack.project}-{service}-1",
        hostname=service,
        detach=True,
        network=stack.network.name,
        labels={
            COMPOSE_PROJECT: stack.project,
            COMPOSE_SERVICE: service,
            "com.docker.compose.container-number": "1",
        },
        ports={f"{port}/tcp": ("127.0.0.1", host_port)},
    )
    put_secrets(container, {"sentinel.conf" if sentinel else "redis.conf": conf})
    container.start()
    container.reload()
    stack.containers[service], stack.ports[service] = container, host_port
    return container


def _redis_conf(password: str, master_ip: str | None) -> str:
    lines = [
        "port 6379",
        "protected-mode no",
        "dir /data",
        f'requirepass "{password}"',
        f'masterauth "{password}"',
        "repl-diskless-sync-delay 0",
    ]
    if master_ip:
        lines.append(f"replicaof {master_ip} 6379")
    return "\n".join(lines) + "\n"


def _sentinel_conf(password: str, master_ip: str) -> str:
    return textwrap.dedent(
        f"""\
        port 26379
        protected-mode no
        dir /data
        requirepass "{password}"
        sentinel sentinel-pass "{password}"
        sentinel monitor {MASTER_NAME} {master_ip} 6379 2
        sentinel auth-pass {MASTER_NAME} "{password}"
        sentinel down-after-milliseconds {MASTER_NAME} 1000
        sentinel failover-timeout {MASTER_NAME} 10000
        """
    )


@contextlib.contextmanager
def redis_stack(client: Any, image: str) -> Iterator[Stack]:
    project = f"dkextr{secrets.token_hex(3)}"
    password = secrets.token_urlsafe(18)
    network = client.networks.create(
        f"{project}_default", driver="bridge", labels={COMPOSE_PROJECT: project}
    )
    stack = Stack(project, network, {}, {}, password)
    try:
        master = _start(client, image, stack, "cache-a", _redis_conf(password, None), 6379)
        ip = master.attrs["NetworkSettings"]["Networks"][network.name]["IPAddress"]
        _start(client, image, stack, "cache-b", _redis_conf(password, ip), 6379)
        for s in SENTINELS:
            _start(client, image, stack, s, _sentinel_conf(password, ip), 26379)
        _wait_ready(stack)
        yield stack
    finally:
        for container in stack.containers.values():
            with contextlib.suppress(Exception):
                container.remove(force=True)
        network.remove()


def _wait_ready(stack: Stack, timeout: float = 30.0) -> None:
    """The replica online and every Sentinel knowing the replica and the other Sentinels."""
    deadline = time.monotonic() + timeout
    last: object = "not checked"
    while time.monotonic() < deadline:
        try:
            with stack.redis("cache-a") as r:
                online = r.info("replication").get("slave0", {}).get("state") == "online"
            views = []
            for s in SENTINELS:
                with stack.redis(s) as r:
                    state = r.sentinel_master(MASTER_NAME)
                views.append(
                    int(state["num-slaves"]) >= 1 and int(state["num-other-sentinels"]) >= 2
                )
            if online and all(views):
                return
            last = f"replica online {online}, sentinels {views}"
        except (redis.RedisError, OSError) as e:
            last = e
        time.sleep(0.2)
    raise AssertionError(f"the test's Redis stack did not come up: {last}")


@pytest.fixture
def stack(
    docker_client: Any, images: NodeImages, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Stack]:
    with redis_stack(docker_client, images.redis) as s:
        monkeypatch.setenv(PASSWORD_ENV, s.password)
        yield s


def _snapshot(stack: Stack) -> dict[str, Any]:
    out = {}
    for service, container in stack.containers.items():
        container.reload()
        out[service] = (
            container.id,
            container.attrs["State"]["StartedAt"],
            container.attrs["RestartCount"],
            dict(container.labels),
            container.attrs["Config"]["Image"],
        )
    return out


def test_a_sentinel_failover_drill_on_a_redis_stack_measures_and_leaves_no_trace(
    stack: Stack, docker_client: Any, tmp_path: Path
) -> None:
    path = tmp_path / "external-redis.yaml"
    path.write_text(
        textwrap.dedent(
            f"""\
            name: external-redis-failover
            topology:
              kind: compose
              project: {stack.project}
              engine: redis
              services: [{", ".join(DATA)}]
              sentinel: {{nodes: [{", ".join(SENTINELS)}], master_name: {MASTER_NAME}}}
              credentials: {{password_env: {PASSWORD_ENV}}}
            workload: {{rate: 300, op_timeout_seconds: 0.5, warmup_seconds: 1,
                        observe_seconds: 6, stable_window_seconds: 1}}
            faults: [{{kind: kill, target: primary}}]
            targets: {{rto_seconds: 15, rpo_seconds: 2}}
            external: {{confirm: {stack.project}}}
            """
        )
    )
    before = _snapshot(stack)
    with stack.redis("cache-a") as r:
        r.set("app:order:1", "kept")  # the application's data: drillkit must not touch it

    result = run_drill(
        load_drill(path),
        drill_file=str(path),
        report_root=tmp_path,
        progress=lambda _m: None,
        target=stack.project,
    )

    assert result.error is None, result.error
    # Sentinel cannot fail over before down-after-milliseconds (1 s): a lower bound the
    # measured RTO must respect, independent of drillkit's history
    assert result.rto_seconds is not None and 1.0 <= result.rto_seconds < 15
    assert result.rpo_seconds is not None
    print(
        f"external redis, kill master + Sentinel failover: RPO {result.rpo_seconds} s, "
        f"RTO {result.rto_seconds} s, lost {result.lost_writes}"
    )
    # Sentinel promoted cache-b; drillkit's probe key is gone, the application's key is not
    with stack.redis("cache-b") as r:
        assert r.execute_command("ROLE")[0] == "master"
        assert list(r.scan_iter(match="drillkit_probe_*")) == []
        assert r.get("app:order:1") == "kept"
    for s in SENTINELS:  # the Sentinels' own view agrees with the failover drillkit measured
        with stack.redis(s) as r:
            host, _ = r.sentinel_get_master_addr_by_name(MASTER_NAME)
        ip = stack.containers["cache-b"].attrs["NetworkSettings"]["Networks"]
        assert host == ip[stack.network.name]["IPAddress"]
    # nothing of drillkit's is left; only the killed container changed
    assert labelled(docker_client, result.run_id) == {
        "containers": [],
        "networks": [],
        "volumes": [],
    }
    after = _snapshot(stack)
    assert {s: v for s, v in after.items() if s != "cache-a"} == {
        s: v for s, v in before.items() if s != "cache-a"
    }
    assert after["cache-a"][0] == before["cache-a"][0]  # killed, not removed
    assert stack.containers["cache-a"].status == "exited"
    assert all(stack.containers[s].status == "running" for s in (*SENTINELS, "cache-b"))
    report = result.report
    assert report["configuration"]["nodes"]["sentinel-1"]["role"] == "sentinel"
    for file in result.report_dir.rglob("*"):
        if file.is_file():
            assert stack.password not in file.read_text(errors="replace"), file
