"""A node that lives in the harness's process: its state is a word, its data a set of ids.

It keeps the :class:`~drillkit.backend.Node` rules: actions are complete when they return
(``kill`` included, so ``exited_at`` is the moment ``kill`` ran), ``status`` never raises,
and refusing an action (pausing a paused node) raises :class:`~drillkit.backend.NodeError`.
The data survives kill, stop and restart, as it would on a volume.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from drillkit.backend.node import ExecResult, Moment, NodeError

__all__ = ["MemoryNode", "ReadOnly"]

_ALIVE = ("running", "paused")


class ReadOnly(Exception):
    """The server answered: it does not take writes (a replica). The write did not happen."""


class MemoryNode:
    """One in-memory database node (``role``: primary or replica)."""

    def __init__(self, name: str, role: str, index: int = 0) -> None:
        self.name = name
        self.role = role
        self.data: set[int] = set()
        self.lock = threading.Lock()  # guards data and state
        self._index = index
        self._status = "running"
        self._exit_code = 0
        self._exited_ns: int | None = None
        self._starts = 1
        self._log: list[str] = [f"{name}: started as {role}"]

    def _set(self, status: str, line: str) -> None:
        with self.lock:
            self._status = status
            self._log.append(f"{self.name}: {line}")

    @property
    def host(self) -> str:
        return "127.0.0.1"

    def port(self, container_port: int) -> int:
        return container_port

    def status(self) -> str:
        return self._status

    def wait_status(self, wanted: str, timeout: float = 30.0, poll: float = 0.01) -> str:
        deadline = time.monotonic() + timeout
        while self._status != wanted and time.monotonic() < deadline:
            time.sleep(poll)
        return self._status

    def is_running(self) -> bool:
        return self._status == "running"

    def exited_at(self) -> Moment:
        return Moment(self._exited_ns, "memory node: when the process was ended")

    def exit_code(self) -> int:
        return self._exit_code

    def started_at(self) -> str:
        return str(self._starts)

    def logs(self, tail: int | str = "all") -> str:
        lines = list(self._log)
        if tail != "all":
            lines = lines[-int(tail) :]
        return "\n".join(lines) + "\n"

    def env(self, name: str) -> str | None:
        return None

    def image_id(self) -> str:
        return "memory"

    def network_info(self, network: str) -> dict[str, Any]:
        return {"IPAddress": self.ip(network), "Gateway": "10.0.0.1"}

    def ip(self, network: str) -> str:
        return f"10.0.0.{self._index + 2}"

    def _end(self, code: int, how: str) -> None:
        if self._status not in _ALIVE:
            raise NodeError(f"{self.name} is {self._status}: nothing to {how}")
        self._exit_code, self._exited_ns = code, time.time_ns()
        self._set("exited", f"{how} (exit {code})")

    def kill(self, signal: str = "SIGKILL") -> None:
        self._end(137 if signal == "SIGKILL" else 143, f"kill {signal}")

    def wait_exit(self, timeout: float = 30.0) -> int | None:
        return self._exit_code if self._status == "exited" else None

    def stop(self, timeout: float) -> None:
        self._end(0, "stop")

    def start(self) -> None:
        if self._status == "removed":
            raise NodeError(f"{self.name} is removed")
        self._starts += 1
        self._set("running", "started")

    def restart(self, timeout: float) -> None:
        if self._status in _ALIVE:
            self.stop(timeout)
        self.start()

    def pause(self) -> None:
        if self._status != "running":
            raise NodeError(f"{self.name} is {self._status}, cannot pause it")
        self._set("paused", "paused")

    def unpause(self) -> None:
        if self._status != "paused":
            raise NodeError(f"{self.name} is {self._status}, not paused")
        self._set("running", "unpaused")

    def remove(self) -> None:
        self._set("removed", "removed")

    def exec(
        self, cmd: list[str], *, user: str | None = None, environment: dict[str, str] | None = None
    ) -> ExecResult:
        return ExecResult(127, b"memory node: there are no processes to exec")

    def get_archive(self, path: str) -> bytes:
        raise NodeError(f"memory node {self.name} has no files ({path})")

    def put_archive(self, path: str, data: bytes) -> bool:
        return False
