"""Process faults: the node's processes die, stop, restart or freeze."""

from __future__ import annotations

from drillkit.faults.base import FaultTopology, NodeFault
from drillkit.topology.node import Node

__all__ = ["CrashRestart", "Kill", "Pause", "Restart", "Stop"]


def _wait_status(node: Node, wanted: str, timeout: float = 30.0) -> str:
    status = node.wait_status(wanted, timeout)
    if status != wanted:
        raise RuntimeError(f"{node.name} is {status}, expected {wanted} after {timeout:g}s")
    return status


class Kill(NodeFault):
    """SIGKILL the target container's main process; it stays down.

    ``docker kill`` returns before the process is gone (acknowledgements can still arrive for tens
    of milliseconds), so the effect is recorded when Docker reports the container exited.
    """

    kind = "kill"

    def _inject(self, topology: FaultTopology, node: Node) -> str:
        node.container.kill(signal="SIGKILL")
        result = node.container.wait(timeout=30)
        return f"{node.name}: container exited with status {result.get('StatusCode')}"


class Stop(NodeFault):
    """Graceful stop (SIGTERM, SIGKILL after the timeout); healing starts the node again."""

    kind = "stop"

    def _inject(self, topology: FaultTopology, node: Node) -> str:
        node.container.stop(timeout=self.spec.timeout_seconds)
        return f"{node.name}: {_wait_status(node, 'exited')}"

    def _heal(self, topology: FaultTopology, node: Node) -> str:
        node.container.start()
        return f"{node.name}: {_wait_status(node, 'running')}"


class Restart(NodeFault):
    """docker restart: graceful stop, then start on the same data."""

    kind = "restart"

    def _inject(self, topology: FaultTopology, node: Node) -> str:
        node.container.restart(timeout=self.spec.timeout_seconds)
        return f"{node.name}: restarted, {_wait_status(node, 'running')}"


class Pause(NodeFault):
    """Freeze the node (cgroup freezer): TCP still accepts, nothing answers. Heal: unpause."""

    kind = "pause"

    def _inject(self, topology: FaultTopology, node: Node) -> str:
        node.container.pause()
        return f"{node.name}: {_wait_status(node, 'paused')}"

    def _heal(self, topology: FaultTopology, node: Node) -> str:
        if node.status() == "paused":
            node.container.unpause()
        return f"{node.name}: {_wait_status(node, 'running')}"


class CrashRestart(NodeFault):
    """SIGKILL, then start the same container on the same data: PostgreSQL crash recovery."""

    kind = "crash-restart"

    def _inject(self, topology: FaultTopology, node: Node) -> str:
        node.container.kill(signal="SIGKILL")
        status = node.container.wait(timeout=30).get("StatusCode")
        node.container.start()
        return f"{node.name}: killed (status {status}), started again"
