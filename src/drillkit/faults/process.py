"""Process faults: the node's main process dies or stops."""

from __future__ import annotations

from typing import Any

import docker.errors

from drillkit.faults.base import TargetResolver
from drillkit.history import History, OpType
from drillkit.spec import KillFault
from drillkit.topology.node import Node

__all__ = ["Kill"]


class Kill:
    """SIGKILL the target container's main process.

    ``docker kill`` returns before the process is gone (acknowledgements can still arrive for tens
    of milliseconds), so the fault takes effect when Docker reports the container stopped.
    Healing a kill does not restart the node: a failover drill leaves the old primary down, as a
    real crash would until someone intervenes.
    """

    kind = "kill"

    def __init__(self, spec: KillFault) -> None:
        self.spec = spec
        self.node: Node | None = None

    def inject(self, topology: TargetResolver, history: History) -> None:
        node = topology.resolve(self.spec.target)
        self.node = node
        request = history.invoke("fault", "kill", {"node": node.name, "target": self.spec.target})
        try:
            node.container.kill(signal="SIGKILL")
            result: dict[str, Any] = node.container.wait(timeout=30)
        except docker.errors.APIError as e:
            history.complete(request, OpType.FAIL, error=f"docker kill failed: {e.explanation}")
            raise
        effective = history.now()
        history.complete(
            request,
            OpType.OK,
            time_ns=effective,
            requested_ns=request.time_ns,
            effective_ns=effective,
            evidence=f"container exited with status {result.get('StatusCode')}",
        )

    def heal(self, topology: TargetResolver, history: History) -> None:
        if self.node is None:
            return
        history.append(
            "fault", OpType.OK, "heal-kill", {"node": self.node.name}, note="nothing to undo"
        )
        self.node = None
