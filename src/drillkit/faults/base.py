"""The fault contract (Jepsen's nemesis): inject, heal, and record both in the history."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

from drillkit.history import History, OpType
from drillkit.topology.node import Node

__all__ = ["Fault", "FaultTopology", "NodeFault", "record"]


class FaultTopology(Protocol):
    """What a fault may use of a topology: its nodes, its network and Docker."""

    client: Any
    nodes: list[Node]
    labels: dict[str, str]  # every helper container a fault starts carries the run's labels

    @property
    def network_name(self) -> str: ...

    @property
    def helper_image(self) -> str:
        """An image with iptables/iproute2 for helper containers that join a node's namespace."""
        ...

    def resolve(self, target: str) -> list[Node]:
        """The nodes a role or name designates right now (roles follow failovers)."""
        ...


@runtime_checkable
class Fault(Protocol):
    """One failure, injected and later healed.

    Rules: ``inject`` records an invocation when the fault is *requested* and a completion when it
    *took effect* (with ``requested_ns``, ``effective_ns`` and the ``evidence`` in ``extra``); a
    fault that could not be injected completes as ``fail`` and raises. ``heal`` undoes exactly what
    ``inject`` did, records ``heal-<kind>``, and is a no-op when nothing is injected, so calling
    it twice or after a failed injection is safe.
    """

    kind: str

    def inject(self, topology: FaultTopology, history: History) -> None: ...

    def heal(self, topology: FaultTopology, history: History) -> None: ...


def record(history: History, f: str, value: Any, action: Callable[[], str]) -> str:
    """Run ``action`` as one recorded fault operation; its return value is the evidence.

    The completion's time is when the action returned, i.e. when the effect was observed.
    """
    request = history.invoke("fault", f, value)
    try:
        evidence = action()
    except Exception as e:
        history.complete(request, OpType.FAIL, error=f"{type(e).__name__}: {e}".strip()[:500])
        raise
    effective = history.now()
    history.complete(
        request,
        OpType.OK,
        time_ns=effective,
        requested_ns=request.time_ns,
        effective_ns=effective,
        evidence=evidence,
    )
    return evidence


class NodeFault:
    """A fault acting on each node its ``target`` resolves to when it is injected.

    Subclasses implement ``_inject`` (and ``_heal`` when there is something to undo) for one node,
    returning the evidence; ``check`` may refuse a topology or nodes before anything is recorded.
    """

    kind = ""
    heal_note = "nothing to undo"

    def __init__(self, spec: Any) -> None:
        self.spec = spec
        self.nodes: list[Node] = []

    def _value(self) -> dict[str, Any]:
        return {"target": self.spec.target, "nodes": [n.name for n in self.nodes]}

    def check(self, topology: FaultTopology, nodes: list[Node]) -> None:
        """Raise if this fault cannot act on these nodes (default: it can)."""

    def inject(self, topology: FaultTopology, history: History) -> None:
        nodes = topology.resolve(self.spec.target)
        self.check(topology, nodes)
        self.nodes = nodes
        record(
            history,
            self.kind,
            self._value(),
            lambda: "; ".join(self._inject(topology, n) for n in nodes),
        )

    def _inject(self, topology: FaultTopology, node: Node) -> str:
        raise NotImplementedError

    def heal(self, topology: FaultTopology, history: History) -> None:
        if not self.nodes:
            return
        nodes, value = self.nodes, self._value()
        self.nodes = []
        record(
            history,
            f"heal-{self.kind}",
            value,
            lambda: "; ".join(self._heal(topology, n) for n in nodes),
        )

    def _heal(self, topology: FaultTopology, node: Node) -> str:
        return f"{node.name}: {self.heal_note}"
