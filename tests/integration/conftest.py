"""Integration fixtures: a real Docker engine and drillkit's real images.

Without an engine these tests skip locally, but fail under CI (CI=true): a CI run that silently
skipped every integration test would prove nothing.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from drillkit.errors import InfrastructureError
from drillkit.images import NodeImages, ensure_images
from drillkit.resources import RUN_LABEL, connect_engine

REPO = Path(__file__).resolve().parents[2]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "integration" in item.nodeid:
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def docker_client() -> Iterator[Any]:
    try:
        client = connect_engine()
    except InfrastructureError as e:
        if os.environ.get("CI"):
            pytest.fail(f"CI needs a Docker engine: {e}")
        pytest.skip(f"no Docker engine: {e}")
    yield client
    client.close()


@pytest.fixture(scope="session")
def images(docker_client: Any) -> NodeImages:
    return ensure_images(docker_client, allow_pull=False, progress=lambda _m: None)


def labelled(client: Any, run_id: str) -> dict[str, list[str]]:
    """Every container, network and volume still carrying this run's label."""
    flt = {"label": [f"{RUN_LABEL}={run_id}"]}
    return {
        "containers": [c.name for c in client.containers.list(all=True, filters=flt)],
        "networks": [n.name for n in client.networks.list(filters=flt)],
        "volumes": [v.name for v in client.volumes.list(filters=flt)],
    }


def drillkit_cli(*args: str, **kwargs: Any) -> subprocess.Popen[str]:
    """Start the real CLI (as a user would run it) from the repository root."""
    return subprocess.Popen(
        [sys.executable, "-m", "drillkit", *args],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kwargs,
    )
