"""DockerNode: a node that is one labelled container on the run's private network.

Host ports are chosen before the container starts and bound explicitly (see
:func:`drillkit.backend.docker.start_node`), so they stay the same across a pause or a restart.
Every method makes the same Docker calls the faults made before the seam existed, in the same
order: fault timing was calibrated against them.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Any

import docker.errors

from drillkit.backend.clock import rfc3339_ns
from drillkit.backend.docker.hardening import HELPER_LIMITS, size_bytes
from drillkit.backend.docker.helper import HELPER_LABEL, run_helper_container
from drillkit.backend.node import ExecResult, HelperResult, Moment, NodeError
from drillkit.wait import WaitTimeout, wait_until

__all__ = ["LOOPBACK", "DockerNode"]

LOOPBACK = "127.0.0.1"


@dataclass
class DockerNode:
    """A container plus what the harness needs to reach it and to start helpers next to it
    (``client``, ``helper_image`` and the run's ``labels``; ``network`` is the run's)."""

    name: str
    role: str
    container: Any
    ports: dict[int, int] = field(default_factory=dict)  # container port -> host port
    client: Any = None
    network: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    helper_image: str = ""

    @property
    def host(self) -> str:
        return LOOPBACK

    def port(self, container_port: int) -> int:
        return self.ports[container_port]

    def status(self) -> str:
        """Docker's view of the container: running, paused, exited, ... or 'removed'."""
        try:
            self.container.reload()
        except docker.errors.NotFound:
            return "removed"
        return str(self.container.status)

    def wait_status(self, wanted: str, timeout: float = 30.0, poll: float = 0.01) -> str:
        try:
            return wait_until(
                self.status, until=lambda s: s == wanted, timeout=timeout, interval=poll
            )
        except WaitTimeout as e:
            return str(e.last_value)

    def is_running(self) -> bool:
        return self.status() == "running"

    def _state(self) -> dict[str, Any]:
        self.container.reload()
        return dict(self.container.attrs.get("State", {}))

    def exited_at(self) -> Moment:
        stamp = str(self._state().get("FinishedAt") or "")
        epoch = rfc3339_ns(stamp)
        if epoch is None:
            return Moment(None, f"no FinishedAt: {stamp!r}")
        return Moment(epoch, "docker State.FinishedAt")

    def exit_code(self) -> int:
        return int(self.container.attrs["State"]["ExitCode"])

    def started_at(self) -> str:
        return str(self._state().get("StartedAt") or "")

    def logs(self, tail: int | str = "all") -> str:
        try:
            return bytes(self.container.logs(tail=tail)).decode("utf-8", "replace")
        except docker.errors.NotFound:
            return ""

    def env(self, name: str) -> str | None:
        for entry in self.container.attrs["Config"].get("Env") or []:
            if entry.startswith(f"{name}="):
                return str(entry.split("=", 1)[1])
        return None

    def image_id(self) -> str:
        return str(self.container.image.id)

    def network_info(self, network: str) -> dict[str, Any]:
        self.container.reload()
        return dict(self.container.attrs["NetworkSettings"]["Networks"][network])

    def ip(self, network: str) -> str:
        return str(self.network_info(network)["IPAddress"])

    def kill(self, signal: str = "SIGKILL") -> None:
        self.container.kill(signal=signal)

    def wait_exit(self, timeout: float = 30.0) -> int | None:
        status = self.container.wait(timeout=timeout).get("StatusCode")
        return None if status is None else int(status)

    def stop(self, timeout: float) -> None:
        self.container.stop(timeout=timeout)

    def start(self) -> None:
        self.container.start()

    def restart(self, timeout: float) -> None:
        self.container.restart(timeout=timeout)

    def pause(self) -> None:
        self.container.pause()

    def unpause(self) -> None:
        self.container.unpause()

    def remove(self) -> None:
        with contextlib.suppress(docker.errors.NotFound):
            self.container.remove(force=True)

    def exec(
        self, cmd: list[str], *, user: str | None = None, environment: dict[str, str] | None = None
    ) -> ExecResult:
        kwargs: dict[str, Any] = {"stdout": True, "stderr": True}
        if user is not None:
            kwargs["user"] = user
        if environment is not None:
            kwargs["environment"] = environment
        result = self.container.exec_run(cmd, **kwargs)
        code = -1 if result.exit_code is None else int(result.exit_code)
        return ExecResult(code, bytes(result.output or b""))

    def get_archive(self, path: str) -> bytes:
        try:
            stream, _ = self.container.get_archive(path)
            return b"".join(stream)
        except docker.errors.APIError as e:
            raise NodeError(f"{self.name}: cannot read {path}: {e}") from e

    def put_archive(self, path: str, data: bytes) -> bool:
        return bool(self.container.put_archive(path, data))

    def run_in_netns(self, script: str, *, timeout: float) -> HelperResult:
        """A helper joining the container's namespace (``network_mode=container:<id>``) with
        ``NET_ADMIN`` only (every other capability dropped), never ``privileged``: it works
        whatever the node image contains."""
        return run_helper_container(
            self.client,
            self.helper_image,
            timeout=timeout,
            entrypoint=["/bin/bash", "-c", script],
            user="root",
            network_mode=f"container:{self.container.id}",
            cap_add=["NET_ADMIN"],
            labels={**self.labels, HELPER_LABEL: self.name},
        )

    def volume_at(self, path: str) -> str | None:
        self.container.reload()
        for mount in self.container.attrs.get("Mounts") or []:
            if mount.get("Destination") == path and mount.get("Type") == "volume":
                return str(mount["Name"])
        return None

    def volume_size_limit(self, path: str) -> str | None:
        volume = self.volume_at(path)
        if volume is None:
            return None
        options = self.client.volumes.get(volume).attrs.get("Options") or {}
        for part in str(options.get("o", "")).split(","):
            if part.startswith("size="):
                return part.removeprefix("size=")
        return None

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
        volume = self.volume_at(path)
        if volume is None:
            raise RuntimeError(
                f"{self.name} keeps {path} on no Docker volume; no helper can reach it"
            )
        network: dict[str, Any] = (
            {"network": self.network} if join_network else {"network_mode": "none"}
        )
        size = self.volume_size_limit(path)  # tmpfs pages a helper writes count as its memory
        return run_helper_container(
            self.client,
            self.helper_image,
            timeout=timeout,
            entrypoint=argv,
            user=str(self.container.attrs["Config"].get("User") or "") if user is None else user,
            labels={**self.labels, HELPER_LABEL: self.name},
            environment=environment or {},
            secrets=secrets,
            limits=HELPER_LIMITS.plus_memory(size_bytes(size) if size else 0),
            volumes={volume: {"bind": path, "mode": "rw"}},
            **network,
        )
