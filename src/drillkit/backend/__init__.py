"""Backends run nodes; everything above them uses only the protocols in :mod:`.node`.

``drillkit.backend.docker`` is the one implementation today; it, the image builder and the
resource sweep are the only modules that import the Docker SDK.
"""

from drillkit.backend.clock import rfc3339_ns
from drillkit.backend.node import (
    HELPER_LABEL,
    ExecResult,
    HelperRefused,
    HelperResult,
    Moment,
    NetnsNode,
    Node,
    NodeError,
    VolumeNode,
)

__all__ = [
    "HELPER_LABEL",
    "ExecResult",
    "HelperRefused",
    "HelperResult",
    "Moment",
    "NetnsNode",
    "Node",
    "NodeError",
    "VolumeNode",
    "rfc3339_ns",
]
