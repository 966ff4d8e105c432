"""Where topologies get their nodes: the :class:`~drillkit.backend.Node` protocol, and the Docker
backend's constructor for them (nodes on 127.0.0.1 ports fixed before the container starts)."""

from __future__ import annotations

import random

from drillkit.backend.docker import DockerNode, free_port, start_node
from drillkit.backend.node import Node

__all__ = ["DockerNode", "Node", "NodeLookup", "free_port", "start_node"]


class NodeLookup:
    """A topology's nodes by state and by name, and the nodes a fault's target designates."""

    nodes: list[Node]

    def running(self) -> list[Node]:
        return [n for n in self.nodes if n.is_running()]

    def node(self, name: str) -> Node:
        for n in self.nodes:
            if n.name == name:
                return n
        raise KeyError(name)

    def role_pool(self) -> list[Node]:
        """The data nodes that ``primary``/``replica``/``random`` choose among (not Sentinels,
        etcd or proxies)."""
        return list(self.nodes)

    def current_primary(self) -> Node | None:
        """The node that takes writes right now, if exactly one does."""
        raise NotImplementedError

    def resolve_special(self, target: str) -> list[Node] | None:
        """Roles only this topology has (e.g. ``sentinels``, ``etcd``); None if not one."""
        return None

    def replica_names(self) -> list[str]:
        """The running data nodes other than the current primary, by name ([] if none)."""
        try:
            return [n.name for n in self.resolve("replicas")]
        except RuntimeError:
            return []

    def resolve(self, target: str) -> list[Node]:
        """The nodes ``target`` designates right now: a role follows failovers, a name is fixed."""
        special = self.resolve_special(target)
        if special is not None:
            return special
        if target == "all":
            return list(self.nodes)
        if target == "random":
            running = [n for n in self.role_pool() if n.is_running()]
            if not running:
                raise RuntimeError("no running data node to target")
            return [random.choice(running)]
        if target in ("primary", "replica", "replicas"):
            primary = self.current_primary()
            if target == "primary":
                if primary is None:
                    raise RuntimeError("no single running primary to target")
                return [primary]
            replicas = [n for n in self.role_pool() if n.is_running() and n is not primary]
            if not replicas:
                raise RuntimeError("no running replica to target")
            return replicas if target == "replicas" else replicas[:1]
        return [self.node(target)]
