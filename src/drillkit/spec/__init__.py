"""Drill files: the declarative description of a drill, validated completely before anything runs.

:mod:`~drillkit.spec.model` is the model (generated unions of the registered kinds),
:mod:`~drillkit.spec.load` reads files (every error names the file, field and fix);
:mod:`~drillkit.spec.faults`, :mod:`~drillkit.spec.postgres`, :mod:`~drillkit.spec.steps` and
:mod:`~drillkit.spec.redis` hold the parameter models of the faults, steps and topologies.

The names below are imported on first use: the registry imports the parameter models of this
package, and the model imports the registry.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from drillkit.spec.load import DrillFileError, load_drill, parse_drill, resolve_drill_path
    from drillkit.spec.model import (
        DrillSpec,
        FaultSpec,
        RunbookStep,
        SteadyState,
        Targets,
        WorkloadSpec,
        drill_model,
        scenario_model,
    )

_EXPORTS = {
    "DrillFileError": "drillkit.spec.load",
    "load_drill": "drillkit.spec.load",
    "parse_drill": "drillkit.spec.load",
    "resolve_drill_path": "drillkit.spec.load",
    "DrillSpec": "drillkit.spec.model",
    "FaultSpec": "drillkit.spec.model",
    "RunbookStep": "drillkit.spec.model",
    "SteadyState": "drillkit.spec.model",
    "Targets": "drillkit.spec.model",
    "WorkloadSpec": "drillkit.spec.model",
    "drill_model": "drillkit.spec.model",
    "scenario_model": "drillkit.spec.model",
}

__all__ = [
    "DrillFileError",
    "DrillSpec",
    "FaultSpec",
    "RunbookStep",
    "SteadyState",
    "Targets",
    "WorkloadSpec",
    "drill_model",
    "load_drill",
    "parse_drill",
    "resolve_drill_path",
    "scenario_model",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'drillkit.spec' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value
