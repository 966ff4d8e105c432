"""An in-memory target (Jepsen's atom-db idea): the real runner, faults, runbook and checkers
against a "database" that is a set of ids per node, so a whole drill runs in well under a second.

- :class:`MemoryCluster` is a :class:`~drillkit.topology.System`: one primary and
  ``topology.replicas`` replicas (:class:`~drillkit.testing.memory_node.MemoryNode`). A write
  goes to the primary and, synchronously, to every running replica (a paused or stopped replica
  misses it). A killed or stopped primary refuses connections; a paused one hangs them.
- It also answers the two queries of the built-in ``promote`` step (``pg_is_in_recovery`` with
  the ids received, ``pg_promote``), so that step runs unchanged against it; ``promote_delay_s``
  models a slow promotion and ``on_promote`` lets a test make the step fail or be interrupted.
- :class:`~drillkit.testing.memory_client.MemoryClient` is the workload's side (a
  :class:`~drillkit.workload.base.Client`); its writer is the real deadline loop.
- :class:`MemoryPlatform` is the :class:`~drillkit.platform.Platform` that hands the runner a
  cluster and its client (whatever the drill's topology kind) and records what it swept.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Self

import psycopg
from pydantic import BaseModel

from drillkit.platform import Progress
from drillkit.spec import SteadyState
from drillkit.testing.memory_client import MemoryClient
from drillkit.testing.memory_node import MemoryNode, ReadOnly
from drillkit.topology.base import Health

__all__ = ["MemoryCluster", "MemoryPlatform", "ReadOnly"]

Hook = Callable[[], None]


def _nothing() -> None:
    return None


class MemoryCluster:
    """A primary and its replicas in memory; see the module docstring for the rules."""

    SECRET_NAMES: tuple[str, ...] = ()
    IMAGE = "memory"

    def __init__(
        self,
        spec: BaseModel,
        *,
        labels: dict[str, str] | None = None,
        promote_delay_s: float = 0.0,
        on_promote: Hook = _nothing,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.spec = spec
        replicas = int(getattr(spec, "replicas", 1))
        self.nodes: list[Any] = [MemoryNode("pg0", "primary")]
        self.nodes += [MemoryNode(f"pg{i}", "replica", i) for i in range(1, replicas + 1)]
        self.client: Any = None
        self.labels = dict(labels or {})
        self.keep = False
        self.ready_seconds: float | None = None
        self.promote_delay_s = promote_delay_s
        self._on_promote = on_promote
        self._sleep = sleep

    def __enter__(self) -> Self:
        self.ready_seconds = 0.0
        return self

    def __exit__(self, *exc: object) -> None:
        if not self.keep:
            for node in self.nodes:
                node.remove()

    @property
    def network_name(self) -> str:
        return "memory"

    @property
    def helper_image(self) -> str:
        return self.IMAGE

    def running(self) -> list[Any]:
        return [n for n in self.nodes if n.is_running()]

    def node(self, name: str) -> MemoryNode:
        for n in self.nodes:
            if n.name == name:
                return n  # type: ignore[no-any-return]
        raise KeyError(name)

    def current_primary(self) -> MemoryNode | None:
        """The one running node that takes writes (None if none or several do)."""
        primaries = [n for n in self.running() if n.role == "primary"]
        return primaries[0] if len(primaries) == 1 else None

    def resolve(self, target: str) -> list[Any]:
        if target == "all":
            return list(self.nodes)
        primary = self.current_primary()
        if target == "primary":
            if primary is None:
                raise RuntimeError("no single running primary to target")
            return [primary]
        if target in ("replica", "replicas", "random"):
            replicas = [n for n in self.running() if n is not primary]
            if not replicas:
                raise RuntimeError("no running replica to target")
            return replicas if target == "replicas" else replicas[:1]
        return [self.node(target)]

    async def _reach(self, node: MemoryNode) -> None:
        while node.status() == "paused":  # frozen: the request hangs until the deadline
            await asyncio.sleep(0.002)
        if not node.is_running():
            raise ConnectionResetError(f"{node.name} closed the connection ({node.status()})")

    async def write(self, node: MemoryNode, wid: int) -> None:
        await self._reach(node)
        if node.role != "primary":
            raise ReadOnly(f"{node.name} is a {node.role}: read-only")
        for n in self.nodes:
            with n.lock:
                if n is node or (n.role == "replica" and n.status() == "running"):
                    n.data.add(wid)

    async def read(self, node: MemoryNode, ids: list[int]) -> list[int]:
        await self._reach(node)
        with node.lock:
            return [i for i in ids if i in node.data]

    def query(self, node: MemoryNode, sql: str, params: Any = None) -> list[dict[str, Any]]:
        if not node.is_running():
            raise psycopg.OperationalError(f"{node.name} is {node.status()}")
        if "pg_promote" in sql:
            self._on_promote()
            self._sleep(self.promote_delay_s)
            node.role = "primary"
            return [{"promoted": True}]
        if "pg_is_in_recovery" in sql:
            with node.lock:
                return [{"standby": node.role != "primary", "received": len(node.data)}]
        raise NotImplementedError(f"the memory cluster does not answer {sql!r}")

    def prepare(self) -> None:
        """Nothing runs in the background."""

    def endpoints(self) -> MemoryCluster:
        """The in-memory "endpoint" is the cluster itself (its ``write``, ``read`` and
        ``current_primary``), which only :class:`~drillkit.testing.memory_client.MemoryClient`
        speaks."""
        return self

    def health(self, spec: SteadyState) -> Health:
        primary = self.current_primary()
        if primary is None:
            return Health("no single primary")
        replicas = [n for n in self.nodes if n is not primary]
        streaming = [n for n in replicas if n.is_running() and n.role == "replica"]
        roles = {"primary": primary.name}
        if len(streaming) < len(replicas):
            return Health(f"{len(streaming)} of {len(replicas)} replica(s) streaming", roles)
        return Health(None, roles)

    def versions(self) -> dict[str, str]:
        return {"server": "drillkit in-memory"}

    def keep_instructions(self, credentials_dir: Path) -> list[str]:
        return ["in-memory topology: it lives as long as this process"]

    def evidence(self, directory: Path) -> dict[str, Any]:
        directory.mkdir(parents=True, exist_ok=True)
        nodes: dict[str, Any] = {}
        # A running node "reads back" the drill's settings, as pg_settings would show them.
        settings = dict(getattr(self.spec, "postgresql", {}) or {})
        for n in self.nodes:
            (directory / f"{n.name}.log").write_text(n.logs(), encoding="utf-8")
            nodes[n.name] = {"role": n.role, "status": n.status(), "image": self.IMAGE}
            if n.is_running():
                nodes[n.name]["in_recovery"] = n.role != "primary"
                nodes[n.name]["non_default"] = {
                    k: {"value": v, "default": None, "source": "configuration file"}
                    for k, v in settings.items()
                }
        return {"kind": "postgres", "nodes": nodes}


class MemoryPlatform:
    """A :class:`~drillkit.platform.Platform` whose topology is always a :class:`MemoryCluster`.

    ``cluster`` is the last one handed out (for assertions); ``swept`` the run ids swept. A test
    sets ``engine_lost`` to what a dead engine would answer (an
    :class:`~drillkit.platform.EngineProbe` reports it at the end of the run).
    """

    def __init__(
        self,
        *,
        promote_delay_s: float = 0.0,
        on_promote: Hook = _nothing,
        on_prepare: Hook = _nothing,
    ) -> None:
        self.promote_delay_s = promote_delay_s
        self.on_promote = on_promote
        self.on_prepare = on_prepare
        self.cluster: MemoryCluster | None = None
        self.swept: list[str] = []
        self.engine_lost: str | None = None

    def secret_names(self, topology: BaseModel) -> tuple[str, ...]:
        return MemoryCluster.SECRET_NAMES

    def sweep_dead_runs(self) -> str | None:
        return None

    def prepare(self, topology: BaseModel, progress: Progress) -> dict[str, str]:
        return {"image": MemoryCluster.IMAGE}

    def topology(
        self,
        topology: BaseModel,
        *,
        run_id: str,
        labels: dict[str, str],
        secrets: Any,
        progress: Progress,
    ) -> MemoryCluster:
        self.cluster = MemoryCluster(
            topology,
            labels=labels,
            promote_delay_s=self.promote_delay_s,
            on_promote=self.on_promote,
        )
        return self.cluster

    def workload_client(self, system: Any, topology: BaseModel) -> MemoryClient:
        """Whatever the drill's topology kind: the in-memory client (``on_prepare`` runs when
        it creates its data)."""
        return MemoryClient(system.endpoints(), on_prepare=self.on_prepare)

    def sweep(self, run_id: str) -> None:
        self.swept.append(run_id)

    def engine_problem(self) -> str | None:
        return self.engine_lost
