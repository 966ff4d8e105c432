"""Faults: every fault kind's inject and heal; which kinds exist is :mod:`drillkit.registry`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from drillkit.faults.base import Fault, FaultTopology, record
from drillkit.registry import REGISTRY, Registry

__all__ = ["FAULTS", "Fault", "FaultTopology", "make_fault", "record"]

# kind -> implementation, from the registry (each class takes its validated spec).
FAULTS: dict[str, Callable[[Any], Fault]] = {k: e.load() for k, e in REGISTRY.faults.items()}


def make_fault(spec: Any, registry: Registry = REGISTRY) -> Fault:
    """The fault for a validated fault spec (its ``kind`` is one of ``registry``'s)."""
    if registry is REGISTRY:
        factory = FAULTS.get(spec.kind)
    else:
        entry = registry.faults.get(spec.kind)
        factory = entry.load() if entry is not None else None
    if factory is None:
        raise NotImplementedError(f"fault kind {spec.kind!r} has no implementation")
    return factory(spec)
