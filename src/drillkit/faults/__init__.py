"""Faults: the registry of fault kinds, each with its inject and heal."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from drillkit.faults.base import Fault, TargetResolver
from drillkit.faults.process import Kill

__all__ = ["FAULTS", "Fault", "TargetResolver", "make_fault"]

FAULTS: dict[str, Callable[[Any], Fault]] = {"kill": Kill}


def make_fault(spec: Any) -> Fault:
    """The fault for a validated fault spec (its ``kind`` is a key of :data:`FAULTS`)."""
    return FAULTS[spec.kind](spec)
