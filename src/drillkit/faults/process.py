"""Process faults: the node's processes die, stop, restart or freeze."""

from __future__ import annotations

import time
from typing import Any

from drillkit.faults.base import FaultTopology, record
from drillkit.history import History
from drillkit.topology.node import Node

__all__ = ["CrashRestart", "Kill", "Pause", "Restart", "Stop"]


def _wait_status(node: Node, wanted: str, timeout: float = 30.0) -> str:
    deadline = time.monotonic() + timeout
    status = node.status()
    while status != wanted and time.monotonic() < deadline:
        time.sleep(0.01)
        status = node.status()
    if status != wanted:
        raise RuntimeError(f"{node.name} is {status}, expected {wanted} after {timeout:g}s")
    return status


class _NodeFault:
    """A fault on the nodes its target resolves to at injection time."""

    kind = ""

    def __init__(self, spec: Any) -> None:
        self.spec = spec
        self.nodes: list[Node] = []

    def _value(self) -> dict[str, Any]:
        return {"target": self.spec.target, "nodes": [n.name for n in self.nodes]}

    def inject(self, topology: FaultTopology, history: History) -> None:
        self.nodes = topology.resolve(self.spec.target)
        record(history, self.kind, self._value(), self._inject_all)

    def _inject_all(self) -> str:
        return "; ".join(self._inject(n) for n in self.nodes)

    def _inject(self, node: Node) -> str:
        raise NotImplementedError

    def heal(self, topology: FaultTopology, history: History) -> None:
        if not self.nodes:
            return
        nodes, value = self.nodes, self._value()
        self.nodes = []
        record(history, f"heal-{self.kind}", value, lambda: "; ".join(self._heal(n) for n in nodes))

    def _heal(self, node: Node) -> str:
        return f"{node.name}: nothing to undo"


class Kill(_NodeFault):
    """SIGKILL the target container's main process; it stays down.

    ``docker kill`` returns before the process is gone (acknowledgements can still arrive for tens
    of milliseconds), so the effect is recorded when Docker reports the container exited.
    """

    kind = "kill"

    def _inject(self, node: Node) -> str:
        node.container.kill(signal="SIGKILL")
        result = node.container.wait(timeout=30)
        return f"{node.name}: container exited with status {result.get('StatusCode')}"


class Stop(_NodeFault):
    """Graceful stop (SIGTERM, SIGKILL after the timeout); healing starts the node again."""

    kind = "stop"

    def _inject(self, node: Node) -> str:
        node.container.stop(timeout=self.spec.timeout_seconds)
        return f"{node.name}: {_wait_status(node, 'exited')}"

    def _heal(self, node: Node) -> str:
        node.container.start()
        return f"{node.name}: {_wait_status(node, 'running')}"


class Restart(_NodeFault):
    """docker restart: graceful stop, then start on the same data."""

    kind = "restart"

    def _inject(self, node: Node) -> str:
        node.container.restart(timeout=self.spec.timeout_seconds)
        return f"{node.name}: restarted, {_wait_status(node, 'running')}"


class Pause(_NodeFault):
    """Freeze the node (cgroup freezer): TCP still accepts, nothing answers. Heal: unpause."""

    kind = "pause"

    def _inject(self, node: Node) -> str:
        node.container.pause()
        return f"{node.name}: {_wait_status(node, 'paused')}"

    def _heal(self, node: Node) -> str:
        if node.status() == "paused":
            node.container.unpause()
        return f"{node.name}: {_wait_status(node, 'running')}"


class CrashRestart(_NodeFault):
    """SIGKILL, then start the same container on the same data: PostgreSQL crash recovery."""

    kind = "crash-restart"

    def _inject(self, node: Node) -> str:
        node.container.kill(signal="SIGKILL")
        status = node.container.wait(timeout=30).get("StatusCode")
        node.container.start()
        return f"{node.name}: killed (status {status}), started again"
