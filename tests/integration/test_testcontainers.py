"""testcontainers interop (issue 14): a container that testcontainers-python started (from an
image available locally; no registry, so without its Ryuk reaper) is the target of a drillkit
fault and measured by drillkit's workload, through the ``containers`` topology kind. drillkit
removes nothing it did not create: the container is still there, and testcontainers stops it."""

from __future__ import annotations

import os
import secrets
import textwrap
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest

from drillkit.backend.docker import free_port
from drillkit.drill import run_drill
from drillkit.images import NodeImages
from drillkit.spec import load_drill
from drillkit.topology.rewind import pg_secret_files

from .test_external import _image_user

PASSWORD_ENV = "DK_TEST_TC_PASSWORD"


def test_a_testcontainers_postgres_is_drilled_in_place(
    docker_client: Any, images: NodeImages, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TESTCONTAINERS_RYUK_DISABLED", "true")  # its image needs a registry
    from testcontainers.core.container import DockerContainer

    pw = {"postgres": secrets.token_urlsafe(18), "replicator": secrets.token_urlsafe(18)}
    uid, gid = _image_user(docker_client, images.postgres)
    secret_dir = tmp_path / "secrets"
    secret_dir.mkdir(mode=0o700)
    for name, text in pg_secret_files(pw).items():
        (secret_dir / name).write_text(text)
        (secret_dir / name).chmod(0o600)
        os.chown(secret_dir / name, uid, gid)
    os.chown(secret_dir, uid, gid)
    name, port = f"tc-pg-{secrets.token_hex(3)}", free_port()
    container = (
        DockerContainer(images.postgres)
        .with_name(name)
        .with_env("DK_ROLE", "primary")
        .with_env("DK_NODE_NAME", name)
        .with_env("DK_PRIMARY_HOST", name)
        .with_volume_mapping(str(secret_dir), "/run/drillkit", "ro")
    )
    # published on 127.0.0.1 only (with_bind_ports would bind every interface)
    container.ports["5432/tcp"] = ("127.0.0.1", port)  # type: ignore[assignment]
    conninfo = (
        f"host=127.0.0.1 port={port} user=postgres dbname=postgres "
        f"password={pw['postgres']} connect_timeout=2"
    )
    with container:
        deadline = time.monotonic() + 60
        while True:
            try:
                with psycopg.connect(conninfo) as conn:
                    conn.execute("SELECT 1")
                break
            except psycopg.Error:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        monkeypatch.setenv(PASSWORD_ENV, pw["postgres"])
        drill = tmp_path / "tc.yaml"
        drill.write_text(
            textwrap.dedent(
                f"""\
                name: testcontainers-pause
                topology:
                  kind: containers
                  names: [{name}]
                  credentials: {{password_env: {PASSWORD_ENV}}}
                external: {{confirm: testcontainers}}
                workload: {{rate: 200, warmup_seconds: 1, observe_seconds: 2}}
                faults:
                  - kind: pause
                    target: primary
                    duration: 1
                targets: {{rpo_seconds: 0, rto_seconds: 5, max_lost_writes: 0}}
                """
            )
        )
        result = run_drill(
            load_drill(drill),
            drill_file=str(drill),
            report_root=tmp_path / "reports",
            progress=lambda _m: None,
            target="testcontainers",  # a stack drillkit did not create: confirmed by name
        )
        measured = result.report["measured"]
        assert result.verdict.value == "pass", result.report["notes"]
        assert measured["lost_writes"] == 0
        assert 0.9 < measured["rto_seconds"] < 2.0
        docker_client.containers.get(name).reload()  # still there: drillkit removed nothing
        assert docker_client.containers.get(name).status == "running"
