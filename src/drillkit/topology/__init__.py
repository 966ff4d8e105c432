"""Topology: provisions nodes (containers on a private network) and tears them down."""

from __future__ import annotations

from typing import Any

from drillkit.registry import REGISTRY
from drillkit.topology.base import System
from drillkit.topology.node import Node, free_port, start_node
from drillkit.topology.patroni import PatroniCluster
from drillkit.topology.postgres import PG_PORT, PostgresCluster
from drillkit.topology.redis import RedisCluster

__all__ = [
    "PG_PORT",
    "TOPOLOGIES",
    "Node",
    "PatroniCluster",
    "PostgresCluster",
    "RedisCluster",
    "System",
    "free_port",
    "start_node",
]

# topology.kind -> the class that provisions it, from the registry. Each class names its image
# (IMAGE) and the secrets it needs (SECRET_NAMES) and takes (client, spec, run_id=, labels=,
# image=, secrets=, progress=).
TOPOLOGIES: dict[str, Any] = {k: t.load() for k, t in REGISTRY.topologies.items()}
