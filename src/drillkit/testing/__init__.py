"""Test doubles that exercise the real runner, faults, runbook and checkers without Docker."""

from drillkit.testing.memory import MemoryCluster, MemoryPlatform
from drillkit.testing.memory_client import MemoryClient, MemoryWriter
from drillkit.testing.memory_node import MemoryNode

__all__ = ["MemoryClient", "MemoryCluster", "MemoryNode", "MemoryPlatform", "MemoryWriter"]
