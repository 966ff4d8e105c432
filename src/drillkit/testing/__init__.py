"""Test doubles that exercise the real runner, faults, runbook and checkers without Docker."""

from drillkit.testing.memory import MemoryCluster, MemoryPlatform, MemoryWriter
from drillkit.testing.memory_node import MemoryNode

__all__ = ["MemoryCluster", "MemoryNode", "MemoryPlatform", "MemoryWriter"]
