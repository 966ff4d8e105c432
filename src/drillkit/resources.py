"""Docker resources owned by a run: labels on everything, and sweeps that remove them.

Every container, network and volume drillkit creates carries ``drillkit.run=<run id>`` plus the
run's owner token (:mod:`drillkit.ownership`), so a crash (even SIGKILL of the harness) leaves
nothing that the next run or ``drillkit cleanup`` cannot find; whether a run is dead is decided
by its heartbeat, never by guessing from a pid.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import docker
import docker.errors

from drillkit.errors import InfrastructureError
from drillkit.hostlock import docker_host_key
from drillkit.ownership import (
    KEEP_LABEL,
    PID_LABEL,
    STALE_SECONDS,
    Liveness,
    RunState,
    heartbeat_dir,
    liveness,
)

__all__ = [
    "PID_LABEL",
    "RUN_LABEL",
    "Decision",
    "Run",
    "SweepResult",
    "carry_out",
    "connect_engine",
    "daemon_key",
    "engine_problem",
    "forget",
    "labelled_runs",
    "labels_for",
    "plan_cleanup",
    "sweep",
    "sweep_dead_runs",
]

RUN_LABEL = "drillkit.run"


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


def labels_for(
    run_id: str, drill: str, *, keep: bool = False, owner: dict[str, str] | None = None
) -> dict[str, str]:
    """The labels of every resource of a run; ``owner``: :meth:`Heartbeat.labels`."""
    labels = {RUN_LABEL: run_id, "drillkit.drill": drill, **(owner or {})}
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
    """Remove drillkit's containers, then its networks and volumes (of one run, some runs, or all).

    Containers go first because a network or volume in use cannot be removed.
    """
    wanted = set(runs) if runs is not None else None
    result = SweepResult()

    def selected(labels: dict[str, str] | None) -> bool:
        return wanted is None or (labels or {}).get(RUN_LABEL) in wanted

    def remove(c: Any) -> str | None:
        try:
            c.remove(force=True, v=True)
        except docker.errors.NotFound:
            return None  # already gone (its run removed it, or --rm)
        return str(c.name)

    doomed = [
        c
        for c in client.containers.list(all=True, filters=_filters(run_id), ignore_removed=True)
        if selected(c.labels)
    ]
    # All at once: each removal is a kill plus the engine's clean-up (~0.3 s), which do not
    # depend on each other. The first error is raised after every removal has returned.
    if doomed:
        with ThreadPoolExecutor(max_workers=min(len(doomed), 8)) as pool:
            removed = list(pool.map(remove, doomed))
        result.containers.extend(name for name in removed if name is not None)

    def remove_network(n: Any) -> str | None:
        try:
            n.remove()
        except docker.errors.NotFound:
            return None
        return str(n.name)

    def remove_volume(v: Any) -> str | None:
        try:
            v.remove(force=True)
        except docker.errors.NotFound:
            return None
        return str(v.name)

    networks = [
        n for n in client.networks.list(filters=_filters(run_id)) if selected(n.attrs.get("Labels"))
    ]
    volumes = [
        v for v in client.volumes.list(filters=_filters(run_id)) if selected(v.attrs.get("Labels"))
    ]
    # Networks and volumes at once too, once no container uses them: a network's removal
    # (~0.15 s) and a volume's (the engine deleting a directory tree) do not depend on each other.
    if networks or volumes:
        with ThreadPoolExecutor(max_workers=min(len(networks) + len(volumes), 8)) as pool:
            gone_networks = [pool.submit(remove_network, n) for n in networks]
            gone_volumes = [pool.submit(remove_volume, v) for v in volumes]
        result.networks.extend(n for f in gone_networks if (n := f.result()) is not None)
        result.volumes.extend(v for f in gone_volumes if (v := f.result()) is not None)
    return result


@dataclass
class Run:
    """The resources labelled with one run id, and the labels of the first one seen."""

    run_id: str
    labels: dict[str, str] = field(default_factory=dict)
    resources: SweepResult = field(default_factory=SweepResult)


def labelled_runs(client: Any) -> dict[str, Run]:
    """Every run that has a labelled container, network or volume on this engine, by run id."""
    runs: dict[str, Run] = {}

    def run_of(labels: dict[str, str] | None) -> SweepResult:
        labels = labels or {}
        run = runs.setdefault(labels[RUN_LABEL], Run(labels[RUN_LABEL], dict(labels)))
        if KEEP_LABEL in labels:  # one kept resource makes the run kept
            run.labels[KEEP_LABEL] = labels[KEEP_LABEL]
        return run.resources

    for c in client.containers.list(all=True, filters=_filters(None), ignore_removed=True):
        run_of(c.labels).containers.append(c.name)
    for n in client.networks.list(filters=_filters(None)):
        run_of(n.attrs.get("Labels")).networks.append(n.name)
    for v in client.volumes.list(filters=_filters(None)):
        run_of(v.attrs.get("Labels")).volumes.append(v.name)
    return runs


def sweep_dead_runs(
    client: Any, heartbeats: Path | None = None, *, stale_after: float = STALE_SECONDS
) -> SweepResult:
    """Remove the resources of dead runs (stale heartbeat, or a reboot since); never of runs that
    are alive, kept (``--keep``) or of unknown owner. ``heartbeats``: the heartbeat directory
    (default: the current user's, see :func:`drillkit.ownership.heartbeat_dir`)."""
    directory = _heartbeats(heartbeats)
    dead = [
        run_id
        for run_id, run in labelled_runs(client).items()
        if liveness(run_id, run.labels, directory, stale_after=stale_after).state is RunState.DEAD
    ]
    if not dead:
        return SweepResult()
    swept = sweep(client, runs=dead)
    forget(dead, directory)
    return swept


def _heartbeats(directory: Path | None) -> Path | None:
    if directory is not None:
        return directory
    try:
        return heartbeat_dir()
    except InfrastructureError:
        return None  # no usable heartbeat directory: every run is unknown, nothing is dead


def forget(run_ids: Iterable[str], directory: Path | None) -> None:
    """Remove the heartbeat files of runs whose resources were removed."""
    if directory is None:
        return
    for run_id in run_ids:
        with contextlib.suppress(OSError):
            (directory / f"{run_id}.json").unlink()


@dataclass(frozen=True)
class Decision:
    """What ``drillkit cleanup`` does with one run: remove it or spare it, and why."""

    run: Run
    liveness: Liveness
    remove: bool
    why: str


def plan_cleanup(
    client: Any,
    *,
    run_ids: Iterable[str] = (),
    everything: bool = False,
    heartbeats: Path | None = None,
    stale_after: float = STALE_SECONDS,
) -> list[Decision]:
    """Decide, run by run: by default only dead runs go; ``run_ids`` names runs to remove
    whatever their state (kept, unknown owner), ``everything`` removes every run. A run whose
    heartbeat is fresh is never removed: stop it first. Raises ``KeyError`` for a named run
    that has no resources."""
    runs = labelled_runs(client)
    named = list(run_ids)
    missing = [r for r in named if r not in runs]
    if missing:
        raise KeyError(missing[0])
    directory = _heartbeats(heartbeats)
    decisions = []
    for run_id, run in sorted(runs.items()):
        life = liveness(run_id, run.labels, directory, stale_after=stale_after)
        if life.state is RunState.ALIVE:
            remove, why = False, "alive: stop that run first (Ctrl-C heals and removes it)"
        elif named:
            if run_id not in named:
                continue
            remove, why = True, "named"
        elif everything or life.state is RunState.DEAD:
            remove, why = True, "--all" if everything else "dead"
        elif life.state is RunState.KEPT:
            remove, why = False, f"remove with --run {run_id} or --all"
        else:
            remove, why = False, f"remove with --run {run_id} if it is yours"
        decisions.append(Decision(run, life, remove, why))
    return decisions


def carry_out(
    client: Any, decisions: Iterable[Decision], heartbeats: Path | None = None
) -> SweepResult:
    """Remove the runs the decisions say to remove, and their heartbeat files."""
    chosen = [d.run.run_id for d in decisions if d.remove]
    if not chosen:
        return SweepResult()
    result = sweep(client, runs=chosen)
    forget(chosen, _heartbeats(heartbeats))
    return result
