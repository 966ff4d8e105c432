"""drillkit: chaos and disaster-recovery drills with measured RPO and RTO.

The seams follow Jepsen: ``topology`` provisions nodes (through the ``backend`` node seam),
``workload`` issues operations and records them in the ``history``, ``faults`` inject and heal,
``runbook`` restores service step by step, ``checkers`` turn the history into RPO, RTO and
verdicts, and ``report`` writes the evidence. ``registry`` declares every fault, step and
topology kind once.

The names below are the public API; they are imported on first use, so ``import drillkit`` (and
validating a drill file) does not load Docker or database clients.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    # drill files
    "DrillSpec": "drillkit.spec",
    "DrillFileError": "drillkit.spec",
    "load_drill": "drillkit.spec",
    "parse_drill": "drillkit.spec",
    # running
    "run_drill": "drillkit.drill",
    "deployment": "drillkit.blocks",
    "Deployment": "drillkit.blocks",
    "DrillResult": "drillkit.drill",
    "run_suite": "drillkit.suite",
    # the history and its judgement
    "History": "drillkit.history",
    "Op": "drillkit.history",
    "OpType": "drillkit.history",
    "read_history": "drillkit.history",
    "analyze": "drillkit.checkers",
    "Analysis": "drillkit.checkers",
    "Verdict": "drillkit.checkers",
    # evidence
    "Report": "drillkit.report.model",
    "load_report": "drillkit.report.model",
    # kinds
    "REGISTRY": "drillkit.registry",
    # errors and exit codes
    "DrillkitError": "drillkit.errors",
    "InfrastructureError": "drillkit.errors",
    "EXIT_PASS": "drillkit.errors",
    "EXIT_FAIL": "drillkit.errors",
    "EXIT_BAD_INPUT": "drillkit.errors",
    "EXIT_INFRA": "drillkit.errors",
    "EXIT_LOCKED": "drillkit.errors",
    "EXIT_INTERRUPTED": "drillkit.errors",
}

__all__ = ["__version__", *sorted(_EXPORTS)]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'drillkit' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
