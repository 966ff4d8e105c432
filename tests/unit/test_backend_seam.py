"""The backend seam: only the Docker backend (plus image building and the resource sweep) uses
the Docker SDK, and faults work on any :class:`drillkit.backend.Node`, here an in-memory one."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import pytest

from drillkit.backend import HelperResult, Moment, NetnsNode, Node, VolumeNode
from drillkit.backend.node import ExecResult
from drillkit.faults.base import FaultFailed
from drillkit.faults.netns import run_in_netns
from drillkit.faults.process import Kill, Pause, Stop
from drillkit.history import History, OpType
from drillkit.spec.faults import KillFault, PauseFault, StopFault
from drillkit.topology.pg_storage import run_helper

SRC = Path(__file__).resolve().parents[2] / "src" / "drillkit"
# The places allowed to speak Docker's SDK: the backend package, images/ and resources.py.
ALLOWED = ("backend/docker/", "images/", "resources.py")
_SDK = re.compile(r"^\s*(import docker\b|from docker\b)|\bdocker\.errors\b", re.MULTILINE)


def _modules(pattern: re.Pattern[str]) -> set[str]:
    return {
        p.relative_to(SRC).as_posix()
        for p in SRC.rglob("*.py")
        if pattern.search(p.read_text(encoding="utf-8"))
    }


def _place(module: str) -> str:
    return next((a for a in ALLOWED if module.startswith(a)), module)


def test_only_the_docker_backend_images_and_resources_import_the_docker_sdk() -> None:
    users = _modules(_SDK)
    assert users, "the pattern should find the backend itself"
    outside = sorted(m for m in users if _place(m) not in ALLOWED)
    assert outside == [], f"Docker SDK used outside the backend: {outside}"
    assert len({_place(m) for m in users}) <= 3


def test_no_module_outside_the_backend_reaches_into_a_container() -> None:
    reach = re.compile(r"\.container\.\w+\(")
    outside = sorted(m for m in _modules(reach) if not m.startswith("backend/docker/"))
    assert outside == [], f"SDK container calls outside the backend: {outside}"


class MemoryNode:
    """A node that lives in memory: it records what was asked and keeps Docker's rules (a
    second pause fails; kill is dated by the node's own exit record)."""

    def __init__(self, name: str = "pg0", role: str = "primary") -> None:
        self.name, self.role = name, role
        self.state = "running"
        self.calls: list[str] = []
        self._exited_ns: int | None = None
        self._started = 0

    @property
    def host(self) -> str:
        return "127.0.0.1"

    def port(self, container_port: int) -> int:
        return 40000 + container_port

    def status(self) -> str:
        return self.state

    def wait_status(self, wanted: str, timeout: float = 30.0, poll: float = 0.01) -> str:
        return self.state

    def is_running(self) -> bool:
        return self.state == "running"

    def exited_at(self) -> Moment:
        if self._exited_ns is None:
            return Moment(None, "no exit recorded")
        return Moment(self._exited_ns, "memory exit record")

    def exit_code(self) -> int:
        return 137

    def started_at(self) -> str:
        return str(self._started)

    def logs(self, tail: int | str = "all") -> str:
        return ""

    def env(self, name: str) -> str | None:
        return None

    def image_id(self) -> str:
        return "sha256:memory"

    def network_info(self, network: str) -> dict[str, Any]:
        return {"IPAddress": "10.0.0.2", "Gateway": "10.0.0.1"}

    def ip(self, network: str) -> str:
        return "10.0.0.2"

    def kill(self, signal: str = "SIGKILL") -> None:
        self.calls.append(f"kill {signal}")
        self._exited_ns = time.time_ns()
        self.state = "exited"

    def wait_exit(self, timeout: float = 30.0) -> int | None:
        return 137 if self.state == "exited" else None

    def stop(self, timeout: float) -> None:
        self.calls.append(f"stop {timeout:g}")
        self._exited_ns = time.time_ns()
        self.state = "exited"

    def start(self) -> None:
        self.calls.append("start")
        self._started += 1
        self.state = "running"

    def restart(self, timeout: float) -> None:
        self.stop(timeout)
        self.start()

    def pause(self) -> None:
        if self.state == "paused":
            raise RuntimeError(f"{self.name} is already paused")
        self.calls.append("pause")
        self.state = "paused"

    def unpause(self) -> None:
        self.calls.append("unpause")
        self.state = "running"

    def remove(self) -> None:
        self.state = "removed"

    def exec(
        self, cmd: list[str], *, user: str | None = None, environment: dict[str, str] | None = None
    ) -> ExecResult:
        return ExecResult(0, b"")

    def get_archive(self, path: str) -> bytes:
        return b""

    def put_archive(self, path: str, data: bytes) -> bool:
        return True


class MemoryTopology:
    def __init__(self, *nodes: MemoryNode) -> None:
        self.nodes: list[Node] = list(nodes)

    @property
    def network_name(self) -> str:
        return "memory"

    def resolve(self, target: str) -> list[Node]:
        return [n for n in self.nodes if target in ("all", n.name, n.role)]


def test_the_memory_node_is_a_node_without_the_optional_abilities() -> None:
    node = MemoryNode()
    assert isinstance(node, Node)
    assert not isinstance(node, NetnsNode) and not isinstance(node, VolumeNode)


def test_kill_is_dated_by_the_node_own_exit_record() -> None:
    node = MemoryNode()
    history = History()
    Kill(KillFault(kind="kill", target="pg0")).inject(MemoryTopology(node), history)
    invoke, done = history.ops()
    assert (invoke.type, done.type) == (OpType.INVOKE, OpType.OK)
    extra = done.extra
    assert extra["effective_by"] == "memory exit record"
    assert extra["requested_ns"] <= extra["effective_ns"] <= extra["returned_ns"]
    assert done.time_ns == extra["effective_ns"]
    assert extra["evidence"] == "pg0: container exited with status 137"
    assert node.calls == ["kill SIGKILL"]


def test_stop_without_an_exit_record_falls_back_to_when_it_returned() -> None:
    node = MemoryNode()
    node.stop = lambda timeout: setattr(node, "state", "exited")  # type: ignore[method-assign]
    history = History()
    Stop(StopFault(kind="stop", target="pg0")).inject(MemoryTopology(node), history)
    done = history.ops()[-1].extra
    assert done["effective_by"].startswith("when the action returned")
    assert done["effective_ns"] == done["returned_ns"]


def test_pause_heals_only_what_it_injected() -> None:
    pg0, pg1 = MemoryNode("pg0"), MemoryNode("pg1", "replica")
    topology, history = MemoryTopology(pg0, pg1), History()
    first = Pause(PauseFault(kind="pause", target="pg0", duration=3))
    second = Pause(PauseFault(kind="pause", target="pg0", at=1, duration=1))
    first.inject(topology, history)
    with pytest.raises(FaultFailed, match="already paused"):
        second.inject(topology, history)
    second.heal(topology, history)  # its injection failed: nothing to heal
    assert pg0.status() == "paused" and pg0.calls == ["pause"]
    first.heal(topology, history)
    assert pg0.calls == ["pause", "unpause"] and pg1.calls == []
    ops = [(op.f, op.type) for op in history.ops()]
    assert ops == [
        ("pause", OpType.INVOKE),
        ("pause", OpType.OK),
        ("pause", OpType.INVOKE),
        ("pause", OpType.FAIL),
        ("heal-pause", OpType.INVOKE),
        ("heal-pause", OpType.OK),
    ]
    healed = history.ops()[-1].extra
    assert healed["effective_by"] == "when unpause() returned"
    assert healed["requested_ns"] <= healed["effective_ns"] <= healed["returned_ns"]


def test_helpers_are_refused_on_a_node_that_cannot_run_them() -> None:
    with pytest.raises(TypeError, match="cannot run a helper in its namespace"):
        run_in_netns(MemoryNode(), "iptables -S")
    with pytest.raises(TypeError, match="cannot mount its data volume"):
        run_helper(MemoryNode(), "true")


def test_a_helper_result_reports_its_tail() -> None:
    result = HelperResult(3, "", "x" * 600 + "boom\n")
    assert not result.ok and result.tail(4) == "boom"
