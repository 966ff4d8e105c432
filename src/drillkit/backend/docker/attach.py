"""Attaching to containers drillkit did not create: find them, wrap each in a :class:`DockerNode`.

Nothing here creates, labels, starts or removes a container. A node's host port is read from the
container's own port bindings when it is attached (a bound port stays the same across a restart;
one Docker chose at random may not, so a stack should publish fixed ports). Helpers next to an
attached node (network faults) carry the run's labels: they are drillkit's, the node is not.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import docker.errors

from drillkit.backend.docker.node import LOOPBACK, DockerNode

__all__ = [
    "COMPOSE_EVIDENCE",
    "COMPOSE_NUMBER",
    "COMPOSE_PROJECT",
    "COMPOSE_SERVICE",
    "DEFAULT_ENGINE",
    "Found",
    "attach_node",
    "compose_containers",
    "compose_labels",
    "engine_identity",
    "named_containers",
    "published_port",
]

COMPOSE_PROJECT = "com.docker.compose.project"
COMPOSE_SERVICE = "com.docker.compose.service"
COMPOSE_NUMBER = "com.docker.compose.container-number"
DEFAULT_ENGINE = "unix:///var/run/docker.sock"
# Compose's own labels that identify what it ran: evidence, never changed (drillkit labels nothing)
COMPOSE_EVIDENCE = {
    "config_hash": "com.docker.compose.config-hash",  # per service: its resolved configuration
    "config_files": "com.docker.compose.project.config_files",
    "working_dir": "com.docker.compose.project.working_dir",
    "compose_version": "com.docker.compose.version",
}
_ANY_ADDRESS = ("", "0.0.0.0", LOOPBACK)  # bindings the harness reaches on 127.0.0.1


@dataclass(frozen=True)
class Found:
    """A container found for a topology, and the node name it gets."""

    name: str
    container: Any
    group: str = ""  # the Compose service, for a Compose project


def compose_containers(client: Any, project: str, services: list[str]) -> list[Found]:
    """The containers of Compose project ``project`` (of ``services`` if given; every state),
    each named after its service (``service-N`` when a service has several)."""
    containers = client.containers.list(all=True, filters={"label": f"{COMPOSE_PROJECT}={project}"})
    by_service: dict[str, list[Any]] = {}
    for c in containers:
        labels = c.attrs["Config"].get("Labels") or {}
        service = str(labels.get(COMPOSE_SERVICE, ""))
        if services and service not in services:
            continue
        by_service.setdefault(service, []).append(c)
    found = []
    for service, group in sorted(by_service.items()):
        group.sort(
            key=lambda c: int((c.attrs["Config"].get("Labels") or {}).get(COMPOSE_NUMBER, 1))
        )
        for i, c in enumerate(group, start=1):
            found.append(Found(service if len(group) == 1 else f"{service}-{i}", c, service))
    return found


def named_containers(client: Any, names: list[str], label: str | None) -> list[Found]:
    """The containers named ``names`` (each must exist), or every container carrying ``label``
    (``key`` or ``key=value``), each named after its container."""
    if names:
        found = []
        for name in names:
            try:
                found.append(Found(name, client.containers.get(name)))
            except docker.errors.NotFound:
                raise LookupError(f"no container named {name!r}") from None
        return found
    containers = client.containers.list(all=True, filters={"label": label})
    return sorted((Found(str(c.name).lstrip("/"), c) for c in containers), key=lambda f: f.name)


def published_port(container: Any, container_port: int) -> int | None:
    """The 127.0.0.1-reachable host port ``container_port`` is published on, if it is: the
    configured binding (stable across restarts), else the one Docker chose."""
    key = f"{container_port}/tcp"
    sources = (
        (container.attrs.get("HostConfig") or {}).get("PortBindings") or {},
        (container.attrs.get("NetworkSettings") or {}).get("Ports") or {},
    )
    for bindings in sources:
        for binding in bindings.get(key) or []:
            host_port = str(binding.get("HostPort") or "")
            if binding.get("HostIp", "") in _ANY_ADDRESS and host_port.isdigit():
                return int(host_port)
    return None


def attach_node(
    client: Any,
    found: Found,
    *,
    role: str,
    container_ports: list[int],
    labels: dict[str, str],
    helper_image: str,
) -> DockerNode:
    """A :class:`DockerNode` for an existing container (labels: the run's, for its helpers
    only). Raises LookupError if a port is not published on 127.0.0.1 or all addresses."""
    ports = {}
    for p in container_ports:
        host_port = published_port(found.container, p)
        if host_port is None:
            raise LookupError(
                f"{found.name}: port {p} is not published on {LOOPBACK} (or 0.0.0.0); "
                f"publish it, e.g. ports: ['{LOOPBACK}:15432:{p}']"
            )
        ports[p] = host_port
    networks = sorted((found.container.attrs.get("NetworkSettings") or {}).get("Networks") or {})
    return DockerNode(
        name=found.name,
        role=role,
        container=found.container,
        ports=ports,
        client=client,
        network=networks[0] if networks else "",
        labels=dict(labels),
        helper_image=helper_image,
    )


def compose_labels(container: Any) -> dict[str, str]:
    """What Compose recorded on ``container`` about its project (:data:`COMPOSE_EVIDENCE`)."""
    labels = (container.attrs.get("Config") or {}).get("Labels") or {}
    return {k: str(labels[label]) for k, label in COMPOSE_EVIDENCE.items() if label in labels}


def engine_identity(client: Any, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """Which engine: the endpoint drillkit reached (``DOCKER_HOST``, else the local socket),
    the daemon's ID, name and version, for the evidence."""
    info = client.info()
    version = client.version()
    env = os.environ if environ is None else environ
    return {
        "endpoint": env.get("DOCKER_HOST") or DEFAULT_ENGINE,
        "daemon_id": str(info.get("ID", "")),
        "daemon_name": str(info.get("Name", "")),
        "daemon_version": str(version.get("Version", "")),
        "root_dir": str(info.get("DockerRootDir", "")),
        "api_version": str(version.get("ApiVersion", "")),
    }
