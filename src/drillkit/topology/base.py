"""The topology contract: what the drill runner and the faults need from a provisioned system."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Protocol, Self, runtime_checkable

from drillkit.spec import SteadyState
from drillkit.topology.node import Node

__all__ = ["Health", "System"]


@dataclass(frozen=True)
class Health:
    """One steady-state check of a topology: what is wrong (None: healthy) and the roles it
    saw (``primary``, and e.g. Patroni's ``timeline``), which the gate records in the history
    so that steps can later ask it which node held a role (:func:`drillkit.history.struck_node`)."""

    problem: str | None
    roles: dict[str, Any] = field(default_factory=dict)


@runtime_checkable
class System(Protocol):
    """A replicated data store in containers: nodes, endpoints and admin operations.

    Rules: entering provisions and waits until the topology is usable (or raises
    ``InfrastructureError`` with the nodes' logs); leaving removes every resource unless ``keep``
    is set. ``resolve`` is evaluated at injection time so roles follow failovers. The topology
    knows nothing of the workload's data: it hands out ``endpoints()`` (a
    :mod:`drillkit.endpoints` object for its engine) and the workload's client owns the rest.
    It keeps no memory of past roles: what a step needs to know about the fault is in the
    history.
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

    def endpoints(self) -> object:
        """How a client reaches the deployment (``PgEndpoints``, ``RedisEndpoints``, ...)."""
        ...

    def prepare(self) -> None:
        """Start the topology's own background work once the workload's data exists (e.g.
        pgBackRest's backup schedule); nothing for most."""
        ...

    def health(self, spec: SteadyState) -> Health:
        """The topology's part of the steady-state gate (replicas streaming, lag, the
        Sentinels' view), and the roles it saw."""
        ...

    def versions(self) -> dict[str, str]: ...

    def keep_instructions(self, credentials_dir: Path) -> list[str]:
        """How to reach a kept topology; credentials go to a 0600 file, never to the output."""
        ...
