"""Exceptions that map to drillkit's exit codes (see the README)."""

from __future__ import annotations

__all__ = [
    "EXIT_BAD_INPUT",
    "EXIT_FAIL",
    "EXIT_INFRA",
    "EXIT_INTERRUPTED",
    "EXIT_LOCKED",
    "EXIT_PASS",
    "DrillkitError",
    "InfrastructureError",
]

# Every exit code of the CLI, in one place (the README's table).
EXIT_PASS = 0
EXIT_FAIL = 1  # a target was missed, or the verdict is unknown
EXIT_BAD_INPUT = 2  # nothing was started
EXIT_INFRA = 3  # the Docker engine is missing, an image failed to build, a full disk, ...
EXIT_LOCKED = 75  # sysexits EX_TEMPFAIL: another scheduled run holds the lock; try again later
EXIT_INTERRUPTED = 130  # Ctrl-C / SIGTERM: faults healed, resources removed, partial report


class DrillkitError(Exception):
    """Base of drillkit's own errors; ``exit_code`` is what the CLI exits with."""

    exit_code = EXIT_FAIL


class InfrastructureError(DrillkitError):
    """The machinery around a drill failed (engine, images); the drill itself was not judged."""

    exit_code = EXIT_INFRA
