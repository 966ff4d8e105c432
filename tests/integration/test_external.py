"""A stack drillkit did not create: the TEST starts a "Compose project" (a primary and a streaming
replica of drillkit's postgres image, carrying only Compose's labels, on a network the test
creates, published on 127.0.0.1), then a drill of kind compose kills the primary and the team's
own promotion script (a shell step) restores service. drillkit must measure RPO/RTO through the
stack's published ports, drop its probe table, and remove nothing of the stack."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest

from drillkit.backend.docker import free_port
from drillkit.backend.docker.attach import COMPOSE_PROJECT, COMPOSE_SERVICE, DEFAULT_ENGINE
from drillkit.backend.docker.hardening import put_secrets
from drillkit.drill import run_drill
from drillkit.images import NodeImages
from drillkit.spec import load_drill
from drillkit.topology.rewind import pg_secret_files

from .conftest import REPO, labelled

PASSWORD_ENV = "DK_TEST_EXTERNAL_PASSWORD"


@dataclass
class Stack:
    project: str
    network: Any
    containers: dict[str, Any]  # service -> container
    ports: dict[str, int]
    password: str

    def conninfo(self, service: str) -> str:
        return (
            f"host=127.0.0.1 port={self.ports[service]} user=postgres dbname=postgres "
            f"password={self.password} connect_timeout=2"
        )


@contextlib.contextmanager
def compose_stack(client: Any, image: str) -> Iterator[Stack]:
    """What `docker compose up` would leave: containers labelled with the project and service
    (and nothing of drillkit's), on the project's network, ports on 127.0.0.1."""
    project = f"dkext{secrets.token_hex(3)}"
    pw = {"postgres": secrets.token_urlsafe(18), "replicator": secrets.token_urlsafe(18)}
    network = client.networks.create(
        f"{project}_default", driver="bridge", labels={COMPOSE_PROJECT: project}
    )
    stack = Stack(project, network, {}, {}, pw["postgres"])
    try:
        for service, role in (("pga", "primary"), ("pgb", "replica")):
            port = free_port()
            container = client.containers.create(
                image,
                name=f"{project}-{service}-1",
                hostname=service,
                detach=True,
                network=network.name,
                labels={
                    COMPOSE_PROJECT: project,
                    COMPOSE_SERVICE: service,
                    "com.docker.compose.container-number": "1",
                },
                environment={
                    "DK_ROLE": role,
                    "DK_NODE_NAME": service,
                    "DK_PRIMARY_HOST": f"{project}-pga-1",
                },
                ports={"5432/tcp": ("127.0.0.1", port)},
            )
            put_secrets(container, pg_secret_files(pw))
            container.start()
            stack.containers[service], stack.ports[service] = container, port
        _wait_streaming(stack)
        yield stack
    finally:
        for container in stack.containers.values():
            with contextlib.suppress(Exception):
                container.remove(force=True)
        network.remove()


def _wait_streaming(stack: Stack, timeout: float = 60.0) -> None:
    import time

    deadline = time.monotonic() + timeout
    last: Exception | str = "not checked"
    while time.monotonic() < deadline:
        try:  # the replica's own walreceiver (a base backup's stream has another name)
            with psycopg.connect(stack.conninfo("pga")) as conn:
                row = conn.execute(
                    "SELECT count(*) FROM pg_stat_replication"
                    " WHERE state = 'streaming' AND application_name = 'pgb'"
                ).fetchone()
            with psycopg.connect(stack.conninfo("pgb")) as conn:
                conn.execute("SELECT 1")
            if row and row[0] >= 1:
                return
            last = "replica not streaming"
        except psycopg.Error as e:
            last = e
        time.sleep(0.2)
    raise AssertionError(f"the test's stack did not come up: {last}")


COMPOSE_FILE = """\
services:
  pga:
    image: {image}
    environment: {{DK_ROLE: primary, DK_NODE_NAME: pga, DK_PRIMARY_HOST: pga}}
    ports: ["127.0.0.1:{pga}:5432"]
    volumes: ["{secrets}:/run/drillkit:ro"]
  pgb:
    image: {image}
    environment: {{DK_ROLE: replica, DK_NODE_NAME: pgb, DK_PRIMARY_HOST: pga}}
    ports: ["127.0.0.1:{pgb}:5432"]
    volumes: ["{secrets}:/run/drillkit:ro"]
    depends_on: [pga]
"""


@contextlib.contextmanager
def docker_compose_stack(client: Any, image: str, tmp_path: Path) -> Iterator[Stack]:
    """The same stack from a real Compose file, started and removed with ``docker-compose``
    (Debian bookworm's v1.29; scripts/setup.sh --dev installs it)."""
    project = f"dkext{secrets.token_hex(3)}"
    pw = {"postgres": secrets.token_urlsafe(18), "replicator": secrets.token_urlsafe(18)}
    uid, gid = _image_user(client, image)
    secret_dir = tmp_path / "secrets"
    secret_dir.mkdir(mode=0o700)
    for name, text in pg_secret_files(pw).items():
        (secret_dir / name).write_text(text)
        (secret_dir / name).chmod(0o600)
        os.chown(secret_dir / name, uid, gid)
    os.chown(secret_dir, uid, gid)
    ports = {"pga": free_port(), "pgb": free_port()}
    file = tmp_path / "compose.yaml"
    file.write_text(COMPOSE_FILE.format(image=image, secrets=secret_dir, **ports))
    compose = ["docker-compose", "-p", project, "-f", str(file)]
    try:
        subprocess.run([*compose, "up", "-d"], check=True, capture_output=True, timeout=120)
        found = client.containers.list(all=True, filters={"label": f"{COMPOSE_PROJECT}={project}"})
        containers = {c.labels[COMPOSE_SERVICE]: c for c in found}
        network = client.networks.get(f"{project}_default")
        stack = Stack(project, network, containers, ports, pw["postgres"])
        _wait_streaming(stack)
        yield stack
    finally:
        subprocess.run([*compose, "down", "-v"], capture_output=True, timeout=120)


def _image_user(client: Any, image: str) -> tuple[int, int]:
    user = client.images.get(image).attrs["Config"].get("User") or "root"
    out = client.containers.run(
        image, entrypoint=["sh", "-c", f"id -u {user}; id -g {user}"], remove=True
    )
    uid, gid = bytes(out).decode().split()
    return int(uid), int(gid)


@pytest.fixture(params=["sdk", "docker-compose"])
def stack(
    request: pytest.FixtureRequest,
    docker_client: Any,
    images: NodeImages,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> Iterator[Stack]:
    """The stack, made with Compose's labels by the SDK, or by docker-compose from a file."""
    if request.param == "docker-compose":
        if shutil.which("docker-compose") is None:
            pytest.skip("docker-compose is not installed (scripts/setup.sh --dev installs it)")
        (tmp_path / "stack").mkdir()
        made = docker_compose_stack(docker_client, images.postgres, tmp_path / "stack")
    else:
        made = compose_stack(docker_client, images.postgres)
    with made as s:
        monkeypatch.setenv(PASSWORD_ENV, s.password)
        yield s


# The team's own promotion script: promote whichever node is in recovery (psycopg reads
# PGPASSFILE, PGUSER and PGDATABASE from the environment the step gets).
PROMOTE = textwrap.dedent(
    f"""\
    {sys.executable} - <<'PY'
    import os, psycopg
    for name in os.environ["DK_NODES"].split():
        key = "DK_" + name.upper().replace("-", "_")
        try:
            with psycopg.connect(host=os.environ[key + "_HOST"], port=os.environ[key + "_PORT"],
                                 connect_timeout=2, autocommit=True) as c:
                if c.execute("SELECT pg_is_in_recovery()").fetchone()[0]:
                    c.execute("SELECT pg_promote(wait => true)")
                    print("promoted", name)
        except psycopg.OperationalError as e:
            print(name, "unreachable")
    PY"""
)


def _drill(tmp_path: Path, project: str) -> Path:
    path = tmp_path / "external.yaml"
    path.write_text(
        textwrap.dedent(
            f"""\
            name: external-failover
            topology:
              kind: compose
              project: {project}
              services: [pga, pgb]
              credentials: {{password_env: {PASSWORD_ENV}}}
            workload: {{rate: 200, warmup_seconds: 1, observe_seconds: 3}}
            faults:
              - kind: kill
                target: primary
            runbook:
              - step: shell
                name: team-promote
                run: |
            """
        )
        + textwrap.indent(PROMOTE, " " * 6)
        + f"\ntargets: {{rpo_seconds: 5, rto_seconds: 30}}\nexternal: {{confirm: {project}}}\n"
    )
    return path


def _probe_tables(conninfo: str) -> list[str]:
    with psycopg.connect(conninfo) as conn:
        rows = conn.execute(
            "SELECT tablename FROM pg_tables WHERE tablename LIKE 'drillkit_probe_%'"
        ).fetchall()
    return [r[0] for r in rows]


def test_a_compose_failover_drill_measures_and_leaves_no_trace(
    stack: Stack, docker_client: Any, tmp_path: Path
) -> None:
    path = _drill(tmp_path, stack.project)
    ids_before = {s: c.id for s, c in stack.containers.items()}
    labels_before = {s: dict(c.labels) for s, c in stack.containers.items()}

    result = run_drill(
        load_drill(path),
        drill_file=str(path),
        report_root=tmp_path,
        progress=lambda _m: None,
        target=stack.project,
    )

    assert result.error is None, result.error
    assert result.rto_seconds is not None and result.rto_seconds < 30
    assert result.rpo_seconds is not None
    print(f"kill primary + team promote: RPO {result.rpo_seconds} s, RTO {result.rto_seconds} s")
    report = result.report
    assert report["measured"]["rto_seconds"] == result.rto_seconds
    # the probe table is gone from the new primary; nothing of drillkit's is left on the engine
    assert _probe_tables(stack.conninfo("pgb")) == []
    assert labelled(docker_client, result.run_id) == {
        "containers": [],
        "networks": [],
        "volumes": [],
    }
    # nothing of the stack was removed or relabelled; only the declared kill changed it
    for service, container in stack.containers.items():
        container.reload()
        assert container.id == ids_before[service]
        assert container.labels == labels_before[service]  # drillkit labels nothing it does not own
    assert stack.containers["pga"].status == "exited"  # the kill, not healed by drillkit
    assert stack.containers["pgb"].status == "running"
    stack.network.reload()
    assert stack.network.name == f"{stack.project}_default"
    # the evidence names the target precisely
    config = json.loads((result.report_dir / "configuration.json").read_text())
    assert config["kind"] == "compose" and config["project"] == stack.project
    assert {n: v["container_id"] for n, v in config["nodes"].items()} == ids_before
    assert config["nodes"]["pga"]["status"] == "exited"
    assert config["docker"]["daemon_id"] and config["docker"]["daemon_version"]
    assert config["docker"]["endpoint"] == os.environ.get("DOCKER_HOST", DEFAULT_ENGINE)
    for service, node in config["nodes"].items():
        assert node["image_id"].startswith("sha256:") and node["created"] and node["started_at"]
        compose_hash = labels_before[service].get("com.docker.compose.config-hash")
        assert node.get("config_hash") == compose_hash  # set by docker-compose, not by the SDK
    assert report["configuration"] == config  # report.json carries the same
    assert report["spec"]["external"] == {"confirm": stack.project}
    # the password never reached the evidence
    for file in result.report_dir.rglob("*"):
        if file.is_file():
            assert stack.password not in file.read_text(errors="replace"), file


def test_cleanup_external_drops_only_probe_tables(stack: Stack, tmp_path: Path) -> None:
    path = _drill(tmp_path, stack.project)
    with psycopg.connect(stack.conninfo("pga"), autocommit=True) as conn:
        conn.execute("CREATE TABLE drillkit_probe_leftover (id bigint)")
        conn.execute("CREATE TABLE app_orders (id bigint)")

    done = subprocess.run(
        [sys.executable, "-m", "drillkit", "cleanup", "--external", str(path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        env={**_env(), PASSWORD_ENV: stack.password},
        timeout=60,
    )

    assert done.returncode == 0, done.stderr
    assert "drillkit_probe_leftover" in done.stdout
    assert stack.password not in done.stdout + done.stderr
    assert _probe_tables(stack.conninfo("pga")) == []
    with psycopg.connect(stack.conninfo("pga")) as conn:
        assert conn.execute("SELECT to_regclass('app_orders') IS NOT NULL").fetchone() == (True,)


def _env() -> dict[str, str]:
    return {
        k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "PYTHONPATH", "DOCKER_HOST")
    }


def test_pause_and_isolate_are_healed_exactly(
    stack: Stack, docker_client: Any, tmp_path: Path
) -> None:
    """Faults with a heal leave the stack as it was: unpaused, its network rules gone (the
    helpers that set them are drillkit's and removed), the replica streaming again."""
    path = tmp_path / "heal.yaml"
    path.write_text(
        textwrap.dedent(
            f"""\
            name: external-heal
            topology:
              kind: compose
              project: {stack.project}
              credentials: {{password_env: {PASSWORD_ENV}}}
            workload: {{rate: 200, warmup_seconds: 1, observe_seconds: 3}}
            faults:
              - {{kind: pause, target: primary, duration: 1.5, incident: true}}
              - {{kind: isolate, target: replica, duration: 1.5}}
            targets: {{rto_seconds: 10, max_lost_writes: 0}}
            external: {{confirm: {stack.project}}}
            """
        )
    )

    result = run_drill(
        load_drill(path),
        drill_file=str(path),
        report_root=tmp_path,
        progress=lambda _m: None,
        target=stack.project,
    )

    assert result.error is None, result.error
    assert result.passed, result.report["verdict"]
    print(f"pause primary 1.5 s: RTO {result.rto_seconds} s, lost {result.lost_writes}")
    for container in stack.containers.values():
        container.reload()
        assert container.status == "running"
    _wait_streaming(stack, timeout=20)
    assert _probe_tables(stack.conninfo("pga")) == []
    assert labelled(docker_client, result.run_id) == {
        "containers": [],
        "networks": [],
        "volumes": [],
    }


def test_the_promote_step_when_the_drill_allows_it(stack: Stack, tmp_path: Path) -> None:
    path = tmp_path / "promote.yaml"
    path.write_text(
        textwrap.dedent(
            f"""\
            name: external-promote
            topology:
              kind: compose
              project: {stack.project}
              allow_promote: true
              credentials: {{password_env: {PASSWORD_ENV}}}
            workload: {{rate: 200, warmup_seconds: 1, observe_seconds: 3}}
            faults: [{{kind: kill, target: primary}}]
            runbook: [{{step: promote}}]
            targets: {{rto_seconds: 30}}
            external: {{confirm: {stack.project}}}
            """
        )
    )

    result = run_drill(
        load_drill(path),
        drill_file=str(path),
        report_root=tmp_path,
        progress=lambda _m: None,
        target=stack.project,
    )

    assert result.error is None, result.error
    assert result.passed
    print(f"kill primary + promote step: RPO {result.rpo_seconds} s, RTO {result.rto_seconds} s")
    with psycopg.connect(stack.conninfo("pgb")) as conn:
        assert conn.execute("SELECT pg_is_in_recovery()").fetchone() == (False,)
    assert _probe_tables(stack.conninfo("pgb")) == []


def _snapshot(client: Any, stack: Stack) -> dict[str, Any]:
    """What a read-only command must leave exactly as it was."""
    out: dict[str, Any] = {}
    for service, container in stack.containers.items():
        container.reload()
        state = container.attrs["State"]
        out[service] = (
            container.id,
            container.status,
            state["StartedAt"],
            container.attrs["RestartCount"],
            dict(container.labels),
        )
    # This drill's resources, not every drillkit run's: other test workers run drills meanwhile.
    mine = {"label": "drillkit.drill=external-failover"}
    out["drillkit"] = [c.id for c in client.containers.list(all=True, filters=mine)]
    out["networks"] = sorted(n.name for n in client.networks.list(filters=mine))
    out["project_networks"] = sorted(
        n.name for n in client.networks.list() if n.name.startswith(stack.project)
    )
    return out


@pytest.mark.parametrize("stack", ["sdk"], indirect=True)
def test_plan_and_an_unconfirmed_run_touch_nothing(
    stack: Stack, docker_client: Any, tmp_path: Path
) -> None:
    """``drillkit plan`` names the containers struck from read-only discovery; ``drillkit run``
    without ``--target`` exits 2. Neither changes a container, starts one or writes a table."""
    path = _drill(tmp_path, stack.project)
    before = _snapshot(docker_client, stack)
    env = {**_env(), PASSWORD_ENV: stack.password}

    def drillkit(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "drillkit", *args],
            cwd=REPO,
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
        )

    planned = drillkit("plan", str(path), "--json")
    refused = drillkit("run", str(path), "--report-dir", str(tmp_path / "reports"))

    assert planned.returncode == 0, planned.stderr
    plan = json.loads(planned.stdout)
    nodes = {n["name"]: n for n in plan["nodes"]}
    assert {n: (v["role"], v["container_id"]) for n, v in nodes.items()} == {
        "pga": ("primary", stack.containers["pga"].id),
        "pgb": ("replica", stack.containers["pgb"].id),
    }
    [kill] = plan["injections"]
    assert (kill["kind"], kill["nodes"], kill["containers"]) == (
        "kill",
        ["pga"],
        [stack.containers["pga"].name],
    )
    assert plan["engine"]["daemon_id"]
    assert refused.returncode == 2, refused.stderr
    assert "--target " + stack.project in " ".join(refused.stderr.split())
    assert not (tmp_path / "reports").exists()
    assert stack.password not in planned.stdout + planned.stderr + refused.stderr
    assert _snapshot(docker_client, stack) == before
    assert _probe_tables(stack.conninfo("pga")) == []


# The application's path: HAProxy in front of the pair, as many teams run it without Patroni.
# pgsql-check passes on the server's authentication request; pgb is the backup server, used
# once pga is down; the team's script promotes it. Writes go through HAProxy only.
HAPROXY_CFG = """\
defaults
  mode tcp
  timeout connect 1s
  timeout client 60s
  timeout server 60s
listen pg
  bind *:6432
  option pgsql-check user postgres
  default-server inter 200ms fall 2 rise 1 on-marked-down shutdown-sessions
  server pga {project}-pga-1:5432 check
  server pgb {project}-pgb-1:5432 check backup
"""


HAPROXY_RUN = 'printf "%s" "$CFG" > /tmp/h.cfg && exec haproxy -db -f /tmp/h.cfg'


def test_rpo_and_rto_are_measured_through_the_apps_haproxy(
    docker_client: Any, images: NodeImages, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    with compose_stack(docker_client, images.postgres) as stack:
        monkeypatch.setenv(PASSWORD_ENV, stack.password)
        port = free_port()
        cfg = HAPROXY_CFG.format(project=stack.project)
        proxy = docker_client.containers.run(
            images.postgres,
            entrypoint=[
                "bash",
                "-c",
                'printf "%s" "$CFG" > /tmp/h.cfg && exec haproxy -db -f /tmp/h.cfg',
            ],
            environment={"CFG": cfg},
            name=f"{stack.project}-haproxy-1",
            detach=True,
            network=stack.network.name,
            labels={COMPOSE_PROJECT: stack.project, COMPOSE_SERVICE: "haproxy"},
            ports={"6432/tcp": ("127.0.0.1", port)},
        )
        try:
            stack.ports["haproxy"] = port
            _wait_for(lambda: psycopg.connect(stack.conninfo("haproxy")).close())
            path = _drill(tmp_path, stack.project)
            text = path.read_text().replace(
                "  services: [pga, pgb]\n",
                f"  services: [pga, pgb]\n  client: {{host: 127.0.0.1, port: {port}}}\n",
            )
            path.write_text(text)
            proxy_id = proxy.id

            result = run_drill(
                load_drill(path),
                drill_file=str(path),
                report_root=tmp_path,
                progress=lambda _m: None,
                target=stack.project,
            )

            assert result.error is None, result.error
            m = result.report["measured"]
            print(f"through HAProxy: RPO {m['rpo_seconds']} s, RTO {m['rto_seconds']} s")
            assert result.rto_seconds is not None and result.rto_seconds < 30
            assert m["acknowledged_writes"] > 0
            # the promoted node took the writes after the failover, through the proxy
            with psycopg.connect(stack.conninfo("pgb")) as conn:
                assert conn.execute("SELECT pg_is_in_recovery()").fetchone() == (False,)
            assert _probe_tables(stack.conninfo("pgb")) == []
            proxy.reload()
            assert proxy.id == proxy_id and proxy.status == "running"  # never touched
        finally:
            with contextlib.suppress(Exception):
                proxy.remove(force=True)


def _wait_for(attempt: Any, timeout: float = 30.0) -> None:
    import time

    deadline = time.monotonic() + timeout
    while True:
        try:
            attempt()
            return
        except psycopg.Error:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
