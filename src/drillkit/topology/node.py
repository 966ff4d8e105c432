"""A node: one labelled container on the run's private network, reachable on 127.0.0.1 only.

Host ports are chosen before the container starts and bound explicitly, so they stay the same
across a pause or a restart (a random port would change on restart and cannot be read while the
container is paused).
"""

from __future__ import annotations

import contextlib
import socket
import time
from dataclasses import dataclass, field
from typing import Any

import docker.errors

__all__ = ["Node", "free_port", "start_node"]

LOOPBACK = "127.0.0.1"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((LOOPBACK, 0))
        return int(s.getsockname()[1])


@dataclass
class Node:
    """A container plus what the harness needs to reach it."""

    name: str
    role: str
    container: Any
    ports: dict[int, int] = field(default_factory=dict)  # container port -> host port

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
        """Poll Docker until the container is ``wanted`` or ``timeout`` passes; the last status."""
        deadline = time.monotonic() + timeout
        status = self.status()
        while status != wanted and time.monotonic() < deadline:
            time.sleep(poll)
            status = self.status()
        return status

    def is_running(self) -> bool:
        return self.status() == "running"

    def logs(self, tail: int | str = "all") -> str:
        try:
            return bytes(self.container.logs(tail=tail)).decode("utf-8", "replace")
        except docker.errors.NotFound:
            return ""

    def network_info(self, network: str) -> dict[str, Any]:
        """Docker's settings for this node on ``network`` (IPAddress, Gateway, ...)."""
        self.container.reload()
        return dict(self.container.attrs["NetworkSettings"]["Networks"][network])

    def ip(self, network: str) -> str:
        return str(self.network_info(network)["IPAddress"])

    def image_id(self) -> str:
        return str(self.container.image.id)


def start_node(
    client: Any,
    *,
    name: str,
    role: str,
    image: str,
    network: str,
    labels: dict[str, str],
    container_ports: list[int],
    environment: dict[str, str],
    volumes: dict[str, dict[str, str]] | None = None,
    container_name: str | None = None,
    command: list[str] | None = None,
) -> Node:
    """Create and start a container; publish each port on a fixed 127.0.0.1 port."""
    last_error: Exception | None = None
    for _ in range(5):  # a chosen port can be taken between choosing and binding: try again
        ports = {p: free_port() for p in container_ports}
        try:
            container = client.containers.run(
                image,
                name=container_name,
                hostname=name,
                detach=True,
                network=network,
                labels={**labels, "drillkit.node": name, "drillkit.role": role},
                environment=environment,
                ports={f"{p}/tcp": (LOOPBACK, hp) for p, hp in ports.items()},
                volumes=volumes or {},
                command=command,
            )
        except docker.errors.APIError as e:
            if "port is already allocated" in str(e) or "address already in use" in str(e):
                last_error = e
                if container_name:
                    _remove_quietly(client, container_name)
                time.sleep(0.05)
                continue
            raise
        return Node(name=name, role=role, container=container, ports=ports)
    raise RuntimeError(f"could not bind host ports for {name}: {last_error}")


def _remove_quietly(client: Any, name: str) -> None:
    with contextlib.suppress(docker.errors.NotFound):
        client.containers.get(name).remove(force=True)
