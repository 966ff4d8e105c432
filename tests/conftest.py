"""Fixtures shared by the integration and calibration tests."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest


@pytest.fixture(scope="session")
def docker_client() -> Iterator[Any]:
    """The Docker engine, or a skip (a failure under CI=true) when none answers."""
    from drillkit.errors import InfrastructureError
    from drillkit.resources import connect_engine

    try:
        client = connect_engine()
    except InfrastructureError as e:
        if os.environ.get("CI"):
            pytest.fail(f"CI needs a Docker engine: {e}")
        pytest.skip(f"no Docker engine: {e}")
    yield client
    client.close()
