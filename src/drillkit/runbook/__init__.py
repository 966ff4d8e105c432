"""Runbook: restore steps, each timed and recorded (which kinds exist: :mod:`drillkit.registry`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from drillkit.registry import REGISTRY
from drillkit.runbook.engine import RunbookResult, Step, run_runbook

__all__ = ["STEPS", "RunbookResult", "Step", "make_step", "run_runbook"]

# step -> implementation, from the registry (each class takes its spec and the topology).
STEPS: dict[str, Callable[[Any, Any], Step]] = {k: e.load() for k, e in REGISTRY.steps.items()}


def make_step(spec: Any, topology: Any) -> Step:
    """The step for a validated runbook entry (its ``step`` is a key of :data:`STEPS`)."""
    return STEPS[spec.step](spec, topology)
