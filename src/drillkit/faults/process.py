"""Process faults: the node's processes die, stop, restart or freeze.

Effective times: ``kill``, ``stop`` and ``crash-restart`` take Docker's own record of the exit
(``State.FinishedAt``): ``stop()`` returns ~0.1 s after the process exited (Docker's teardown),
measured by bench/bench_fault_timing.py. ``pause``/``unpause`` take the moment the API call
returned (Docker answers after the cgroup freezer reached FROZEN / THAWED); ``start`` and
``restart`` likewise; the status check that follows is evidence only.

Overlaps: ``pause`` and ``stop`` are exclusive per node (a second pause of a paused node fails
with 409), so the drill file validator rejects two such entries on one target whose windows
overlap. A failed injection heals nothing.
"""

from __future__ import annotations

from drillkit.backend.node import Node
from drillkit.faults.base import Effect, FaultTopology, NodeFault, wall_to_monotonic_ns

__all__ = ["CrashRestart", "Kill", "Pause", "Restart", "Stop", "exit_effect"]


def _wait_status(node: Node, wanted: str, timeout: float = 30.0) -> str:
    status = node.wait_status(wanted, timeout)
    if status != wanted:
        raise RuntimeError(f"{node.name} is {status}, expected {wanted} after {timeout:g}s")
    return status


def exit_effect(node: Node, evidence: str) -> Effect:
    """``evidence`` dated at the backend's record of ``node``'s exit (Docker's
    ``State.FinishedAt``), wall -> monotonic."""
    exited = node.exited_at()
    if exited.wall_ns is None:
        return Effect(evidence, None, f"when the action returned ({exited.how})")
    return Effect(evidence, wall_to_monotonic_ns(exited.wall_ns), exited.how)


def _returned(node: Node, now: int, evidence: str, call: str) -> Effect:
    return Effect(f"{node.name}: {evidence}", now, f"when {call} returned")


class Kill(NodeFault):
    """SIGKILL the target container's main process; it stays down.

    ``docker kill`` returns before the process is gone (acknowledgements can still arrive for tens
    of milliseconds), so the effect is dated by Docker's record of the exit (``FinishedAt``).
    """

    kind = "kill"
    expected_latency_s = 0.05  # measured 30-53 ms to FinishedAt, plus resolving the target

    def _inject(self, topology: FaultTopology, node: Node) -> Effect:
        node.kill("SIGKILL")
        status = node.wait_exit(timeout=30)
        return exit_effect(node, f"{node.name}: container exited with status {status}")


class Stop(NodeFault):
    """Graceful stop (SIGTERM, SIGKILL after the timeout); healing starts the node again."""

    kind = "stop"
    expected_latency_s = 0.05  # measured 37-43 ms on an idle replica; longer with clients

    def _inject(self, topology: FaultTopology, node: Node) -> Effect:
        node.stop(timeout=self.spec.timeout_seconds)
        return exit_effect(node, f"{node.name}: {_wait_status(node, 'exited')}")

    def _heal(self, topology: FaultTopology, node: Node) -> Effect:
        node.start()
        returned = self.now()
        return _returned(node, returned, _wait_status(node, "running"), "start()")


class Restart(NodeFault):
    """docker restart: graceful stop, then start on the same data."""

    kind = "restart"
    expected_latency_s = 0.5

    def _inject(self, topology: FaultTopology, node: Node) -> Effect:
        node.restart(timeout=self.spec.timeout_seconds)
        returned = self.now()
        status = _wait_status(node, "running")
        return _returned(node, returned, f"restarted, {status}", "restart()")


class Pause(NodeFault):
    """Freeze the node (cgroup freezer): TCP still accepts, nothing answers. Heal: unpause."""

    kind = "pause"
    expected_latency_s = 0.035  # measured 13-33 ms, plus resolving the target

    def _inject(self, topology: FaultTopology, node: Node) -> Effect:
        node.pause()
        returned = self.now()
        return _returned(node, returned, _wait_status(node, "paused"), "pause()")

    def _heal(self, topology: FaultTopology, node: Node) -> Effect | str:
        if node.status() != "paused":
            return f"{node.name}: {node.status()}, not paused any more (nothing to unpause)"
        node.unpause()
        returned = self.now()
        return _returned(node, returned, _wait_status(node, "running"), "unpause()")


class CrashRestart(NodeFault):
    """SIGKILL, then start the same container on the same data: PostgreSQL crash recovery.

    Effective = the crash (Docker's ``FinishedAt`` of the killed process)."""

    kind = "crash-restart"
    expected_latency_s = 0.05

    def _inject(self, topology: FaultTopology, node: Node) -> Effect:
        node.kill("SIGKILL")
        status = node.wait_exit(timeout=30)
        crashed = exit_effect(node, "")
        node.start()
        evidence = f"{node.name}: killed (status {status}), started again"
        return Effect(evidence, crashed.effective_ns, crashed.how)
