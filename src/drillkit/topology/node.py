"""Where topologies get their nodes: the :class:`~drillkit.backend.Node` protocol, and the Docker
backend's constructor for them (nodes on 127.0.0.1 ports fixed before the container starts)."""

from __future__ import annotations

from drillkit.backend.docker import DockerNode, free_port, start_node
from drillkit.backend.node import Node

__all__ = ["DockerNode", "Node", "free_port", "start_node"]
