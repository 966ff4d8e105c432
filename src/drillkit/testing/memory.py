"""An in-memory target (Jepsen's atom-db idea): the real runner, faults, runbook and checkers
against a "database" that is a set of ids per node, so a whole drill runs in well under a second.

- :class:`MemoryCluster` is a :class:`~drillkit.topology.System`: one primary and
  ``topology.replicas`` replicas (:class:`~drillkit.testing.memory_node.MemoryNode`). A write
  goes to the primary and, synchronously, to every running replica (a paused or stopped replica
  misses it). A killed or stopped primary refuses connections; a paused one hangs them.
- It also answers the two queries of the built-in ``promote`` step (``pg_is_in_recovery`` with
  the ids received, ``pg_promote``), so that step runs unchanged against it; ``promote_delay_s``
  models a slow promotion and ``on_promote`` lets a test make the step fail or be interrupted.
- :class:`MemoryWriter` is a :class:`~drillkit.workload.deadline.DeadlineWriter`: the real
  loop, deadlines and read-back probe, with connecting meaning "find the running primary".
- :class:`MemoryPlatform` is the :class:`~drillkit.platform.Platform` that hands the runner a
  cluster (whatever the drill's topology kind) and records what it swept.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Self

import psycopg
from pydantic import BaseModel

from drillkit.history import History, OpType
from drillkit.platform import Progress
from drillkit.spec import SteadyState, WorkloadSpec
from drillkit.testing.memory_node import MemoryNode
from drillkit.workload.base import Workload
from drillkit.workload.deadline import DeadlineWriter

__all__ = ["MemoryCluster", "MemoryPlatform", "MemoryWriter", "ReadOnly"]

Hook = Callable[[], None]


class ReadOnly(Exception):
    """The server answered: it does not take writes (a replica). The write did not happen."""


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
        on_prepare: Hook = _nothing,
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
        self._on_prepare = on_prepare
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
        self._on_prepare()

    def make_workload(self, history: History, spec: WorkloadSpec) -> Workload:
        return MemoryWriter(self, history, spec)

    def read_ids(self) -> list[int]:
        primary = self.current_primary()
        if primary is None:
            raise RuntimeError("no single running primary to read from")
        with primary.lock:
            return sorted(primary.data)

    def steady_state_problem(self, workload: Workload, spec: SteadyState) -> str | None:
        primary = self.current_primary()
        if primary is None:
            return "no single primary"
        replicas = [n for n in self.nodes if n is not primary]
        streaming = [n for n in replicas if n.is_running() and n.role == "replica"]
        if len(streaming) < len(replicas):
            return f"{len(streaming)} of {len(replicas)} replica(s) streaming"
        if workload.ok_count < spec.min_ok_writes:
            return f"{workload.ok_count} of {spec.min_ok_writes} writes acknowledged"
        return None

    def versions(self) -> dict[str, str]:
        return {"server": "drillkit in-memory"}

    def keep_instructions(self, credentials_dir: Path) -> list[str]:
        return ["in-memory topology: it lives as long as this process"]

    def evidence(self, directory: Path) -> dict[str, Any]:
        directory.mkdir(parents=True, exist_ok=True)
        nodes: dict[str, Any] = {}
        for n in self.nodes:
            (directory / f"{n.name}.log").write_text(n.logs(), encoding="utf-8")
            nodes[n.name] = {"role": n.role, "status": n.status(), "image": self.IMAGE}
        return {"nodes": nodes}


class MemoryWriter(DeadlineWriter[MemoryNode]):
    """The deadline writer against a :class:`MemoryCluster`: a connection is a node."""

    def __init__(self, cluster: MemoryCluster, history: History, spec: WorkloadSpec) -> None:
        super().__init__(history, spec)
        self._cluster = cluster

    async def connect(self) -> MemoryNode:
        primary = self._cluster.current_primary()
        if primary is None:
            raise ConnectionRefusedError("no running primary accepts connections")
        return primary

    def usable(self, conn: MemoryNode) -> bool:
        return conn.status() in ("running", "paused")

    async def write(self, conn: MemoryNode, wid: int, process: str) -> None:
        await self._cluster.write(conn, wid)

    async def read(self, conn: MemoryNode, ids: list[int]) -> list[int]:
        return await self._cluster.read(conn, ids)

    def classify(self, error: BaseException, *, sent: bool) -> OpType:
        return OpType.FAIL if not sent or isinstance(error, ReadOnly) else OpType.INFO

    def classify_read(self, error: BaseException) -> OpType:
        return OpType.FAIL if isinstance(error, ReadOnly) else OpType.INFO

    async def close(self, conn: MemoryNode) -> None:
        return None


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
            on_prepare=self.on_prepare,
        )
        return self.cluster

    def sweep(self, run_id: str) -> None:
        self.swept.append(run_id)

    def engine_problem(self) -> str | None:
        return self.engine_lost
