"""Docker resources owned by a run: labels on everything, and sweeps that remove them.

Every container, network and volume drillkit creates carries ``drillkit.run=<run id>`` plus the
owning host and process id, so a crash (even SIGKILL of the harness) leaves nothing that the next
run or ``drillkit cleanup`` cannot find and remove.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import docker
import docker.errors

from drillkit.errors import InfrastructureError
from drillkit.hostlock import docker_host_key

__all__ = [
    "RUN_LABEL",
    "SweepResult",
    "connect_engine",
    "daemon_key",
    "engine_problem",
    "labels_for",
    "sweep",
    "sweep_dead_runs",
]

RUN_LABEL = "drillkit.run"
HOST_LABEL = "drillkit.owner_host"
PID_LABEL = "drillkit.owner_pid"
KEEP_LABEL = "drillkit.keep"


def connect_engine(timeout: int = 120) -> Any:
    """A docker SDK client, or :class:`InfrastructureError` saying how to get an engine."""
    try:
        client = docker.from_env(timeout=timeout)
        client.ping()
    except (docker.errors.DockerException, OSError) as e:
        raise InfrastructureError(
            f"no Docker engine answers ({e}). Start one, or run scripts/ensure-docker.sh "
            "(installs and starts docker.io on Debian/Ubuntu)."
        ) from None
    return client


def engine_problem(client: Any, timeout: int = 10) -> str | None:
    """None if the engine still answers a ping (within ``timeout`` s), else what went wrong."""
    api = client.api
    saved, api.timeout = api.timeout, timeout  # a hung engine must not hang the report
    try:
        client.ping()
    except Exception as e:  # docker.errors.*, requests' ConnectionError, OSError
        return f"{type(e).__name__}: {e}"
    finally:
        api.timeout = saved
    return None


def daemon_key(connect: Callable[[], Any] | None = None) -> str:
    """What names this Docker daemon for the host lock: its ID (``docker info``), the same for
    every spelling of its address; ``DOCKER_HOST`` if it does not answer."""
    try:
        client = connect() if connect is not None else docker.from_env(timeout=10)
        daemon_id = str(client.info().get("ID") or "")
    except (docker.errors.DockerException, OSError):
        daemon_id = ""
    return f"docker:{daemon_id}" if daemon_id else docker_host_key()


def labels_for(run_id: str, drill: str, *, keep: bool = False) -> dict[str, str]:
    labels = {
        RUN_LABEL: run_id,
        "drillkit.drill": drill,
        HOST_LABEL: socket.gethostname(),
        PID_LABEL: str(os.getpid()),
    }
    if keep:
        labels[KEEP_LABEL] = "1"
    return labels


@dataclass
class SweepResult:
    containers: list[str] = field(default_factory=list)
    networks: list[str] = field(default_factory=list)
    volumes: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.containers or self.networks or self.volumes)

    def summary(self) -> str:
        return (
            f"{len(self.containers)} container(s), {len(self.networks)} network(s), "
            f"{len(self.volumes)} volume(s)"
        )


def _filters(run_id: str | None) -> dict[str, list[str]]:
    return {"label": [f"{RUN_LABEL}={run_id}" if run_id else RUN_LABEL]}


def sweep(
    client: Any, run_id: str | None = None, *, runs: Iterable[str] | None = None
) -> SweepResult:
    """Remove drillkit's containers, then networks, then volumes (of one run, some runs, or all).

    Containers go first because a network or volume in use cannot be removed.
    """
    wanted = set(runs) if runs is not None else None
    result = SweepResult()

    def selected(labels: dict[str, str] | None) -> bool:
        return wanted is None or (labels or {}).get(RUN_LABEL) in wanted

    for c in client.containers.list(all=True, filters=_filters(run_id), ignore_removed=True):
        if selected(c.labels):
            try:
                c.remove(force=True, v=True)
                result.containers.append(c.name)
            except docker.errors.NotFound:
                pass
    for n in client.networks.list(filters=_filters(run_id)):
        if selected(n.attrs.get("Labels")):
            try:
                n.remove()
                result.networks.append(n.name)
            except docker.errors.NotFound:
                pass
    for v in client.volumes.list(filters=_filters(run_id)):
        if selected(v.attrs.get("Labels")):
            try:
                v.remove(force=True)
                result.volumes.append(v.name)
            except docker.errors.NotFound:
                pass
    return result


def _owner_alive(labels: dict[str, str]) -> bool:
    """Whether the harness process that owns a resource still runs (unknown hosts: assume so)."""
    if labels.get(HOST_LABEL) != socket.gethostname():
        return True
    try:
        pid = int(labels.get(PID_LABEL, ""))
    except ValueError:
        return False
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def sweep_dead_runs(client: Any) -> SweepResult:
    """Remove resources of runs whose harness died on this host (not ``--keep`` ones)."""
    dead: set[str] = set()
    labelled: list[dict[str, str]] = [
        c.labels
        for c in client.containers.list(all=True, filters=_filters(None), ignore_removed=True)
    ]
    labelled += [n.attrs.get("Labels") or {} for n in client.networks.list(filters=_filters(None))]
    labelled += [v.attrs.get("Labels") or {} for v in client.volumes.list(filters=_filters(None))]
    for labels in labelled:
        if labels.get(KEEP_LABEL) == "1":
            continue
        if not _owner_alive(labels):
            dead.add(labels[RUN_LABEL])
    if not dead:
        return SweepResult()
    return sweep(client, runs=dead)
