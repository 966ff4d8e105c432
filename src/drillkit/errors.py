"""Exceptions that map to drillkit's exit codes (see the README)."""

from __future__ import annotations

__all__ = ["EXIT_BAD_INPUT", "EXIT_FAIL", "EXIT_INFRA", "EXIT_PASS", "InfrastructureError"]

EXIT_PASS = 0
EXIT_FAIL = 1  # a target was missed, or the verdict is unknown
EXIT_BAD_INPUT = 2  # nothing was started
EXIT_INFRA = 3  # the Docker engine is missing, an image failed to build, ...


class InfrastructureError(Exception):
    """The machinery around a drill failed (engine, images); the drill itself was not judged."""
