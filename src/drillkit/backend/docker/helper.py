"""One-shot helper containers: run a script next to a node, collect its output, always remove it.

Faults and restore steps act on a node from a short-lived container (joining its network
namespace, or mounting its data volume) rather than from inside the node, so node images need no
extra privileges and a stopped node can still be worked on. Each helper carries the run's labels,
so a sweep finds it even if the harness dies while it runs.
"""

from __future__ import annotations

import contextlib
from typing import Any

import docker.errors
import requests.exceptions

from drillkit.backend.docker.hardening import HELPER_LIMITS, Limits, confinement, put_secrets
from drillkit.backend.node import HELPER_LABEL, HelperRefused, HelperResult

__all__ = ["HELPER_LABEL", "run_helper_container"]


def run_helper_container(
    client: Any,
    image: str,
    *,
    timeout: float,
    cap_add: list[str] | None = None,
    secrets: dict[str, str] | None = None,
    limits: Limits = HELPER_LIMITS,
    **create: Any,
) -> HelperResult:
    """Create, start and wait for a container (``create``: docker SDK create() arguments),
    confined like every container (no capability but ``cap_add``; see
    :mod:`~drillkit.backend.docker.hardening`) with ``secrets`` as files in its secrets
    directory; raises HelperRefused if Docker refuses to create or start it."""
    try:
        container = client.containers.create(
            image, detach=True, **confinement(limits, cap_add), **create
        )
    except docker.errors.APIError as e:
        raise HelperRefused(str(e)) from e
    try:
        try:
            put_secrets(container, secrets or {})
            container.start()
        except docker.errors.APIError as e:
            raise HelperRefused(str(e)) from e
        try:
            status: int | None = int(container.wait(timeout=timeout)["StatusCode"])
        except (requests.exceptions.ConnectionError, requests.exceptions.ReadTimeout):
            status = None
        out = bytes(container.logs(stdout=True, stderr=False)).decode("utf-8", "replace")
        err = bytes(container.logs(stdout=False, stderr=True)).decode("utf-8", "replace")
        return HelperResult(status, out, err)
    finally:
        with contextlib.suppress(docker.errors.NotFound):
            container.remove(force=True)
