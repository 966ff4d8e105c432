"""Topology: provisions nodes (containers on a private network) and tears them down."""

from drillkit.topology.node import Node, free_port, start_node
from drillkit.topology.postgres import PG_PORT, PostgresCluster

__all__ = ["PG_PORT", "Node", "PostgresCluster", "free_port", "start_node"]
