"""Creating what a Docker topology is made of: nodes, networks, volumes, one-off containers.

Every object carries the run's labels, so :func:`drillkit.resources.sweep` finds whatever a
crash left behind.
"""

from __future__ import annotations

import contextlib
import socket
import time
from typing import Any

import docker.errors

from drillkit.backend.docker.hardening import (
    DEFAULT_LIMITS,
    HELPER_LIMITS,
    Limits,
    confinement,
    put_secrets,
)
from drillkit.backend.docker.node import LOOPBACK, DockerNode

__all__ = [
    "create_network",
    "create_volume",
    "free_port",
    "run_once",
    "start_detached",
    "start_node",
]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((LOOPBACK, 0))
        return int(s.getsockname()[1])


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
    helper_image: str | None = None,
    secrets: dict[str, str] | None = None,
    limits: Limits = DEFAULT_LIMITS,
) -> DockerNode:
    """Create and start a container; publish each port on a fixed 127.0.0.1 port. Helpers next
    to it run ``helper_image`` (default: the node's image) with the run's ``labels``.

    The container is confined (:func:`~drillkit.backend.docker.hardening.confinement`: no
    capabilities, no new privileges, ``limits``); ``secrets`` (file name -> text) are written
    into its secrets directory before it starts, never into its environment."""
    last_error: Exception | None = None
    for _ in range(5):  # a chosen port can be taken between choosing and binding: try again
        ports = {p: free_port() for p in container_ports}
        container = None
        try:
            container = client.containers.create(
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
                **confinement(limits),
            )
            put_secrets(container, secrets or {})
            container.start()
        except docker.errors.APIError as e:
            if "port is already allocated" in str(e) or "address already in use" in str(e):
                last_error = e
                if container is not None:
                    with contextlib.suppress(docker.errors.NotFound):
                        container.remove(force=True)
                elif container_name:
                    _remove_quietly(client, container_name)
                time.sleep(0.05)
                continue
            if container is not None:
                with contextlib.suppress(docker.errors.NotFound):
                    container.remove(force=True)
            raise
        return DockerNode(
            name=name,
            role=role,
            container=container,
            ports=ports,
            client=client,
            network=network,
            labels=dict(labels),
            helper_image=helper_image or image,
        )
    raise RuntimeError(f"could not bind host ports for {name}: {last_error}")


def _remove_quietly(client: Any, name: str) -> None:
    with contextlib.suppress(docker.errors.NotFound):
        client.containers.get(name).remove(force=True)


def create_network(client: Any, name: str, labels: dict[str, str]) -> Any:
    """A labelled bridge network for the run."""
    return client.networks.create(name, driver="bridge", labels=labels, check_duplicate=True)


def create_volume(
    client: Any, name: str, labels: dict[str, str], *, tmpfs_options: str | None = None
) -> str:
    """A labelled named volume (a size-limited tmpfs with ``tmpfs_options``); its name."""
    if tmpfs_options is None:
        return str(client.volumes.create(name, labels=labels).name)
    volume = client.volumes.create(
        name,
        driver="local",
        driver_opts={"type": "tmpfs", "device": "tmpfs", "o": tmpfs_options},
        labels=labels,
    )
    return str(volume.name)


def start_detached(client: Any, image: str, **run: Any) -> None:
    """Start a long-lived, confined container (``run``: docker SDK run() arguments), e.g. a
    keeper."""
    client.containers.run(image, detach=True, **confinement(HELPER_LIMITS), **run)


def run_once(client: Any, image: str, **run: Any) -> str:
    """Run a confined container to completion and remove it; its output."""
    return bytes(
        client.containers.run(image, remove=True, **confinement(HELPER_LIMITS), **run)
    ).decode()
