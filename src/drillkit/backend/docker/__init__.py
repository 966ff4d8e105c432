"""The Docker backend: :class:`DockerNode` and the helpers that create a topology's containers.

With :mod:`drillkit.images` and :mod:`drillkit.resources`, the only code importing the Docker SDK.
"""

from drillkit.backend.docker.hardening import (
    DEFAULT_LIMITS,
    HELPER_LIMITS,
    SECRETS_DIR,
    Limits,
    confinement,
    size_bytes,
)
from drillkit.backend.docker.helper import HELPER_LABEL, run_helper_container
from drillkit.backend.docker.node import LOOPBACK, DockerNode
from drillkit.backend.docker.provision import (
    create_network,
    create_volume,
    free_port,
    run_once,
    start_detached,
    start_node,
)

__all__ = [
    "DEFAULT_LIMITS",
    "HELPER_LABEL",
    "HELPER_LIMITS",
    "LOOPBACK",
    "SECRETS_DIR",
    "DockerNode",
    "Limits",
    "confinement",
    "create_network",
    "create_volume",
    "free_port",
    "run_helper_container",
    "run_once",
    "size_bytes",
    "start_detached",
    "start_node",
]
