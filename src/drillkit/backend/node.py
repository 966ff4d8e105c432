"""The node seam: what faults, runbook steps and topologies may do to one node.

A node is one database (or Sentinel, etcd, ...) process group that a backend runs: a Docker
container today, a Kubernetes pod later (docs/backends.md). Faults and steps see only these
protocols, never the backend's SDK objects, so a new backend is one package under
``drillkit.backend``.

Rules every implementation keeps:

- Actions (``kill``, ``stop``, ``start``, ``restart``, ``pause``, ``unpause``) return when the
  backend has *accepted* the action; ``pause``/``unpause`` return once the freeze or thaw is
  complete, ``kill`` possibly before the process is gone (``wait_exit`` waits for that).
- Times a node reports (``exited_at``) are the backend's own record of the event, as wall-clock
  nanoseconds since the epoch, with a ``how`` naming where the time came from.
- ``status`` never raises: a node that no longer exists is ``"removed"``.
- Helpers (``run_in_netns``, ``run_helper_on_volume``) run in a short-lived sibling carrying
  the run's labels, are removed once their output is read, and raise :class:`HelperRefused`
  when the backend would not start one (the script never ran).
- Optional abilities are separate protocols (:class:`NetnsNode`, :class:`VolumeNode`), checked
  with ``isinstance``; a fault needing one refuses a node without it before recording anything.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol, runtime_checkable

__all__ = [
    "HELPER_LABEL",
    "ExecResult",
    "HelperRefused",
    "HelperResult",
    "Moment",
    "NetnsNode",
    "Node",
    "NodeError",
    "VolumeNode",
]


HELPER_LABEL = "drillkit.helper"  # on every helper: the name of the node it works on


class NodeError(RuntimeError):
    """The backend refused an operation on a node (the message carries the backend's words)."""


class HelperRefused(NodeError):
    """The backend would not create or start a helper: its script never ran."""


class ExecResult(NamedTuple):
    """A command run inside a node: its exit code and its combined stdout and stderr."""

    exit_code: int
    output: bytes


@dataclass(frozen=True)
class HelperResult:
    """What a helper printed, and how it ended."""

    status: int | None  # None: it did not finish within the timeout (it was removed)
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.status == 0

    def tail(self, chars: int = 500) -> str:
        return self.stderr.strip()[-chars:]


@dataclass(frozen=True)
class Moment:
    """A time the backend recorded (wall ns since the epoch; None: it has none) and where it
    came from (e.g. ``docker State.FinishedAt``), or why there is none."""

    wall_ns: int | None
    how: str


@runtime_checkable
class Node(Protocol):
    """One node of a topology, reached on ``host`` at the ports it publishes.

    Every method acts on the node as it is now (a restart keeps the same node and ports).
    """

    name: str
    role: str

    @property
    def host(self) -> str:
        """Where the harness reaches the node's published ports."""
        ...

    def port(self, container_port: int) -> int:
        """The harness-side port for ``container_port``; the same across pause and restart."""
        ...

    def status(self) -> str:
        """running, paused, exited, created, ... or 'removed'; never raises."""
        ...

    def wait_status(self, wanted: str, timeout: float = 30.0, poll: float = 0.01) -> str:
        """Poll until the node is ``wanted`` or ``timeout`` passes; the last status seen."""
        ...

    def is_running(self) -> bool: ...

    def exited_at(self) -> Moment:
        """When the node's main process last exited, by the backend's own record."""
        ...

    def exit_code(self) -> int:
        """The main process's last exit code, as of the last ``status()``."""
        ...

    def started_at(self) -> str:
        """An opaque stamp of the node's last start: it changes whenever the node restarts."""
        ...

    def logs(self, tail: int | str = "all") -> str:
        """The node's output ('' once it is removed)."""
        ...

    def env(self, name: str) -> str | None:
        """The node's configured environment variable ``name``, if set."""
        ...

    def image_id(self) -> str: ...

    def network_info(self, network: str) -> dict[str, Any]:
        """The node's settings on ``network`` (IPAddress, Gateway, ...)."""
        ...

    def ip(self, network: str) -> str: ...

    def kill(self, signal: str = "SIGKILL") -> None:
        """Send ``signal`` to the main process; may return before the process is gone."""
        ...

    def wait_exit(self, timeout: float = 30.0) -> int | None:
        """Wait for the main process to exit; its exit status."""
        ...

    def stop(self, timeout: float) -> None:
        """Graceful stop: SIGTERM, SIGKILL after ``timeout`` seconds; returns once stopped."""
        ...

    def start(self) -> None: ...

    def restart(self, timeout: float) -> None:
        """Stop as :meth:`stop` does, then start on the same data."""
        ...

    def pause(self) -> None:
        """Freeze every process; returns once frozen. Pausing a paused node raises."""
        ...

    def unpause(self) -> None:
        """Thaw; returns once thawed."""
        ...

    def remove(self) -> None:
        """Delete the node (not its volumes); a no-op if it is already gone."""
        ...

    def exec(
        self, cmd: list[str], *, user: str | None = None, environment: dict[str, str] | None = None
    ) -> ExecResult:
        """Run ``cmd`` inside the running node; its exit code and output."""
        ...

    def get_archive(self, path: str) -> bytes:
        """``path`` in the node (file or directory) as a tar; works on a stopped node.
        Raises :class:`NodeError` if it cannot be read."""
        ...

    def put_archive(self, path: str, data: bytes) -> bool:
        """Unpack the tar ``data`` into the directory ``path``; False if the backend refused."""
        ...


@runtime_checkable
class NetnsNode(Node, Protocol):
    """A node whose network namespace a helper can join (with NET_ADMIN, as root)."""

    def run_in_netns(self, script: str, *, timeout: float) -> HelperResult:
        """Run ``script`` with bash in the node's network namespace; raises HelperRefused."""
        ...


@runtime_checkable
class VolumeNode(Node, Protocol):
    """A node whose data lives on a named volume that a helper can mount, also while the node
    is stopped."""

    def volume_at(self, path: str) -> str | None:
        """The name of the volume mounted at ``path`` in the node, if one is."""
        ...

    def volume_size_limit(self, path: str) -> str | None:
        """The size limit of the volume at ``path`` (e.g. '128m'), None if it has none."""
        ...

    def run_helper_on_volume(
        self,
        path: str,
        argv: list[str],
        *,
        timeout: float,
        user: str | None = None,
        environment: dict[str, str] | None = None,
        join_network: bool = False,
        secrets: dict[str, str] | None = None,
    ) -> HelperResult:
        """Run ``argv`` in a helper that mounts the volume at ``path`` at the same path, as
        ``user`` (default: the node's own user), without a network unless ``join_network``
        (then on the run's network), with ``secrets`` as 0600 files in its secrets directory
        (never in ``environment``); raises HelperRefused, RuntimeError if no volume is there."""
        ...
