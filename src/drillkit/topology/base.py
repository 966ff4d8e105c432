"""The topology contract: what the drill runner and the faults need from a provisioned system."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar, Protocol, Self, runtime_checkable

from drillkit.history import History
from drillkit.spec import SteadyState, WorkloadSpec
from drillkit.topology.node import Node
from drillkit.workload.base import Workload

__all__ = ["System"]


@runtime_checkable
class System(Protocol):
    """A replicated data store in containers, and the client a drill drives against it.

    Rules: entering provisions and waits until the topology is usable (or raises
    ``InfrastructureError`` with the nodes' logs); leaving removes every resource unless ``keep``
    is set. ``resolve`` is evaluated at injection time so roles follow failovers. ``read_ids``
    returns every id the workload wrote that survives, from whichever node serves writes now.
    """

    SECRET_NAMES: ClassVar[tuple[str, ...]]
    client: Any
    nodes: list[Node]
    labels: dict[str, str]
    keep: bool
    ready_seconds: float | None

    def __enter__(self) -> Self: ...

    def __exit__(self, *exc: object) -> None: ...

    @property
    def network_name(self) -> str: ...

    @property
    def helper_image(self) -> str: ...

    def resolve(self, target: str) -> list[Node]: ...

    def prepare(self) -> None:
        """Create whatever the workload writes into (table, keyspace)."""
        ...

    def make_workload(self, history: History, spec: WorkloadSpec) -> Workload: ...

    def read_ids(self) -> list[int]: ...

    def steady_state_problem(self, workload: Workload, spec: SteadyState) -> str | None:
        """None when healthy, else what is wrong (replicas not streaming, lag, no writes)."""
        ...

    def versions(self) -> dict[str, str]: ...

    def keep_instructions(self, credentials_dir: Path) -> list[str]:
        """How to reach a kept topology; credentials go to a 0600 file, never to the output."""
        ...
