"""Faults: the registry of fault kinds, each with its inject and heal."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from drillkit.faults.base import Fault, FaultTopology, record
from drillkit.faults.process import CrashRestart, Kill, Pause, Restart, Stop

__all__ = ["FAULTS", "Fault", "FaultTopology", "make_fault", "record"]

FAULTS: dict[str, Callable[[Any], Fault]] = {
    "kill": Kill,
    "stop": Stop,
    "restart": Restart,
    "pause": Pause,
    "crash-restart": CrashRestart,
}


def make_fault(spec: Any) -> Fault:
    """The fault for a validated fault spec (its ``kind`` is a key of :data:`FAULTS`)."""
    try:
        factory = FAULTS[spec.kind]
    except KeyError:
        raise NotImplementedError(f"fault kind {spec.kind!r} has no implementation yet") from None
    return factory(spec)
