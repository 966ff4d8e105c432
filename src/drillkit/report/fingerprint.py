"""What the topology itself contributes to the evidence: node logs and a configuration fingerprint.

A topology that can describe itself implements :class:`EvidenceSource` (an optional ability,
checked with ``isinstance``). The drill runner calls :func:`collect_system_evidence` just before
teardown, while the containers still exist; it never raises, because evidence collection must
not change how a drill ends.
"""

from __future__ import annotations

import contextlib
import json
import traceback
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from drillkit.history import History

__all__ = [
    "CONFIGURATION_FILE",
    "NODE_LOG_DIR",
    "EvidenceSource",
    "collect_system_evidence",
    "read_configuration",
]

CONFIGURATION_FILE = "configuration.json"
NODE_LOG_DIR = "nodes"


@runtime_checkable
class EvidenceSource(Protocol):
    def evidence(self, directory: Path) -> dict[str, Any]:
        """Write each node's container log to ``directory/<node>.log`` and return the
        configuration fingerprint: image ids, server versions and the settings that decide data
        loss (e.g. ``synchronous_commit``, ``appendfsync``), per node. Must not raise for a node
        that is down: record that instead. Secrets may appear in logs; the bundle redacts them."""
        ...


def collect_system_evidence(system: object, history: History) -> None:
    """Write the system's logs and ``configuration.json`` beside the history (never raises)."""
    if history.path is None:
        return
    report_dir = history.path.parent
    if isinstance(system, EvidenceSource):
        try:
            fingerprint: dict[str, Any] = system.evidence(report_dir / NODE_LOG_DIR)
        except Exception:
            fingerprint = {"error": "evidence collection crashed:\n" + traceback.format_exc()}
    else:
        fingerprint = {"error": f"{type(system).__name__} does not provide evidence"}
    with contextlib.suppress(OSError):
        (report_dir / CONFIGURATION_FILE).write_text(
            json.dumps(fingerprint, indent=2, default=str) + "\n", encoding="utf-8"
        )


def read_configuration(report_dir: Path) -> dict[str, Any] | None:
    path = report_dir / CONFIGURATION_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None
