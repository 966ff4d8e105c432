"""The workload's side of the in-memory target: a client that owns the "data" (the ids the
nodes hold) and reaches the cluster only through what it hands out as endpoints."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from drillkit.history import History, OpType
from drillkit.spec import SteadyState, WorkloadSpec
from drillkit.testing.memory_node import MemoryNode, ReadOnly
from drillkit.workload.base import Workload, writes_problem
from drillkit.workload.deadline import DeadlineWriter

if TYPE_CHECKING:
    from drillkit.testing.memory import MemoryCluster

__all__ = ["MemoryClient", "MemoryWriter"]


def _nothing() -> None:
    return None


class MemoryClient:
    """A :class:`~drillkit.workload.base.Client` of a :class:`MemoryCluster`; ``on_prepare``
    runs when it creates its data (a test makes it fail there)."""

    def __init__(
        self, cluster: MemoryCluster, *, on_prepare: Callable[[], None] = _nothing
    ) -> None:
        self.cluster = cluster
        self._on_prepare = on_prepare

    def prepare(self) -> None:
        self._on_prepare()

    def make_workload(self, history: History, spec: WorkloadSpec) -> MemoryWriter:
        return MemoryWriter(self.cluster, history, spec)

    def read_ids(self) -> list[int]:
        primary = self.cluster.current_primary()
        if primary is None:
            raise RuntimeError("no single running primary to read from")
        with primary.lock:
            return sorted(primary.data)

    def steady_state_problem(self, workload: Workload, spec: SteadyState) -> str | None:
        return writes_problem(workload, spec)


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
