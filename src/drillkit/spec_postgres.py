"""Drill-file models for PostgreSQL topology options and the restore steps of a runbook.

Topology options (replication mode, pgBackRest) are mixed into ``PostgresTopology`` through
:class:`PostgresOptions`; the runbook steps join the ``step``-tagged union in ``spec.py``
through :data:`POSTGRES_STEPS`. Cross-field rules that need the whole drill (a step naming a node
that must exist) are in :func:`runbook_problems`, which ``spec.load_drill`` turns into
``DrillFileError``s.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

__all__ = [
    "POSTGRES_STEPS",
    "SYNC_COMMIT_LEVELS",
    "PostgresOptions",
    "RetryPolicy",
    "ShellStep",
    "runbook_problems",
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


SyncCommit = Literal["on", "remote_write", "remote_apply", "local", "off"]
SYNC_COMMIT_LEVELS: tuple[str, ...] = ("on", "remote_write", "remote_apply", "local", "off")
# Levels at which a commit waits for a synchronous standby (local and off never do).
_WAITING_LEVELS = ("on", "remote_write", "remote_apply")


class PostgresOptions(_Strict):
    """Replication mode of a PostgreSQL primary and its streaming replicas.

    ``sync``: the primary names its replicas in ``synchronous_standby_names`` as a quorum
    (``ANY sync_standbys (pg1, ...)``) and a commit is acknowledged only once that many standbys
    confirmed it at the ``synchronous_commit`` level.
    """

    replication: Literal["async", "sync"] = Field(
        "async", description="async (default) or sync streaming replication"
    )
    synchronous_commit: SyncCommit = Field(
        "on",
        description="what a commit waits for: on (standby flushed), remote_write, remote_apply, "
        "local, off",
    )
    sync_standbys: int = Field(
        1, ge=1, le=5, description="sync: how many standbys must confirm each commit (ANY n)"
    )

    @field_validator("synchronous_commit", mode="before")
    @classmethod
    def _yaml_boolean(cls, v: Any) -> Any:
        """YAML 1.1 reads an unquoted ``on``/``off`` as a boolean; mean the level."""
        if isinstance(v, bool):
            return "on" if v else "off"
        return v

    @model_validator(mode="after")
    def _sync_is_coherent(self) -> PostgresOptions:
        replicas = int(getattr(self, "replicas", 1))
        if self.replication == "async":
            if "sync_standbys" in self.model_fields_set:
                raise ValueError("sync_standbys needs replication: sync")
            return self
        if self.synchronous_commit not in _WAITING_LEVELS:
            raise ValueError(
                f"replication: sync with synchronous_commit: {self.synchronous_commit} waits for "
                "no standby; use on, remote_write or remote_apply"
            )
        if self.sync_standbys > replicas:
            raise ValueError(
                f"sync_standbys ({self.sync_standbys}) exceeds replicas ({replicas}): "
                "no commit could ever be confirmed"
            )
        return self


# -- runbook steps --------------------------------------------------------------------------------
class RetryPolicy(_Strict):
    """Retry a failed attempt up to ``retries`` more times, ``retry_wait_seconds`` apart, all
    within the step's ``timeout_seconds``."""

    delay_seconds: float = Field(
        0.0, ge=0, le=3600, description="models detection and decision time before acting"
    )
    timeout_seconds: float = Field(30.0, gt=0, le=3600)
    retries: int = Field(0, ge=0, le=100, description="attempts after the first one fails")
    retry_wait_seconds: float = Field(1.0, ge=0, le=600)


_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_STEP_NAME = re.compile(r"^[a-z][a-z0-9-]{0,40}$")


class ShellStep(RetryPolicy):
    """Run a team's own command, on the harness host or inside a node (bash ``-c``).

    The environment describes the topology: ``DK_NODES``, ``DK_<NODE>_HOST``/``_PORT`` per node,
    ``DK_PRIMARY`` (+ ``_HOST``/``_PORT``), ``PGUSER``/``PGDATABASE`` and ``PGPASSFILE``, a 0600
    file that holds the password; the password itself is never in the environment. Output
    (stdout and stderr) is recorded, redacted; a non-zero exit fails the step.
    """

    step: Literal["shell"]
    name: str = Field("shell", description="how the step appears in the history and report")
    run: str = Field(min_length=1, description="the command line, run by bash -c")
    target: str = Field("host", description="host, a node name, or a role (primary, replica)")
    env: dict[str, str] = Field(default_factory=dict, description="extra environment variables")

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not _STEP_NAME.match(v):
            raise ValueError(f"{v!r} is not a step name; use lowercase letters, digits and '-'")
        return v

    @field_validator("env")
    @classmethod
    def _env(cls, env: dict[str, str]) -> dict[str, str]:
        for key in env:
            if not _ENV_NAME.match(key):
                raise ValueError(f"{key!r} is not an environment variable name")
            if key.startswith("DK_") or key in ("PGPASSFILE", "PGPASSWORD"):
                raise ValueError(f"{key} is set by drillkit; choose another name")
        return env

    def node_refs(self) -> list[str]:
        return [] if self.target == "host" else [self.target]


POSTGRES_STEPS = ShellStep

_STEP_ROLES = ("primary", "replica")


def runbook_problems(steps: Sequence[Any], nodes: Sequence[str]) -> list[tuple[str, str]]:
    """(field, problem) for every step that names a node the topology does not have."""
    problems: list[tuple[str, str]] = []
    for i, step in enumerate(steps):
        refs = step.node_refs() if hasattr(step, "node_refs") else []
        for name in refs:
            if name not in _STEP_ROLES and name not in nodes:
                problems.append(
                    (
                        f"runbook[{i}].target",
                        f"{name!r} is not a node of this topology; expected host, "
                        f"{', '.join(_STEP_ROLES)} or one of {', '.join(nodes)}",
                    )
                )
    return problems
