"""Drill-file models of the runbook steps: promote, the team's own ``shell`` commands, pgBackRest
restores, re-pointing the client, the Patroni steps, rejoin (the Redis steps are in
:mod:`drillkit.spec.redis`).

Each model has one line in :mod:`drillkit.registry`, which puts it in the drill file's tagged
union and says what it needs of a topology; node names a step mentions (:meth:`node_refs`) are
checked against the topology by ``spec.load_drill``.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

__all__ = [
    "PromoteStep",
    "RejoinStep",
    "RepointStep",
    "RestoreStep",
    "RetryPolicy",
    "ShellStep",
    "SwitchoverStep",
    "VerifyRestoreStep",
    "WaitCacheFailoverStep",
    "WaitForLeaderStep",
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class PromoteStep(_Strict):
    """Promote the most advanced surviving replica with pg_promote()."""

    step: Literal["promote"]
    delay_seconds: float = Field(
        0.0, ge=0, le=3600, description="models detection and decision time before acting"
    )
    timeout_seconds: float = Field(30.0, gt=0, le=3600)


class WaitCacheFailoverStep(_Strict):
    """Wait until the cache's Sentinels (topology.cache) agree on a new cache master and that
    node answers ROLE as master: the cache's own failover, timed like wait-sentinel-failover."""

    step: Literal["wait-cache-failover"]
    delay_seconds: float = Field(
        0.0, ge=0, le=3600, description="models detection and decision time before acting"
    )
    timeout_seconds: float = Field(60.0, gt=0, le=3600)

    def topology_problem(self, topology: Any) -> tuple[str, str] | None:
        """(field, problem) when the topology's cache has no Sentinels to fail over."""
        cache = getattr(topology, "cache", None)
        if cache is not None and getattr(cache, "sentinels", 0) == 0:
            return "step", (
                "wait-cache-failover needs the cache's Sentinels: set topology.cache.replicas: "
                "1 and topology.cache.sentinels: 3"
            )
        return None


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
    file that holds the password; the password itself is never in the environment. On the host
    it inherits only PATH, HOME, USER, LOGNAME, SHELL, LANG, LANGUAGE, TZ, TMPDIR, LC_* and the
    names in ``pass_env``, never the rest of drillkit's environment (signing key, tokens). Output
    (stdout and stderr) is recorded, redacted; a non-zero exit fails the step.
    """

    step: Literal["shell"]
    name: str = Field("shell", description="how the step appears in the history and report")
    run: str = Field(min_length=1, description="the command line, run by bash -c")
    target: str = Field("host", description="host, a node name, or a role (primary, replica)")
    env: dict[str, str] = Field(default_factory=dict, description="extra environment variables")
    pass_env: list[str] = Field(
        default_factory=list,
        description="names of drillkit's own environment variables a host step inherits, beyond "
        "PATH, HOME, USER, LOGNAME, SHELL, LANG, LANGUAGE, TZ, TMPDIR and LC_* (never DRILLKIT_*)",
    )

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not _STEP_NAME.match(v):
            raise ValueError(f"{v!r} is not a step name; use lowercase letters, digits and '-'")
        return v

    @field_validator("run")
    @classmethod
    def _run(cls, v: str) -> str:
        if "\x00" in v:
            raise ValueError("a NUL character cannot be passed to a command")
        return v

    @field_validator("env")
    @classmethod
    def _env(cls, env: dict[str, str]) -> dict[str, str]:
        for key in env:
            if not _ENV_NAME.match(key):
                raise ValueError(f"{key!r} is not an environment variable name")
            if "\x00" in env[key]:
                raise ValueError(f"env {key}: a NUL character cannot be passed to a command")
            if key.startswith("DK_") or key in ("PGPASSFILE", "PGPASSWORD"):
                raise ValueError(f"{key} is set by drillkit; choose another name")
        return env

    @field_validator("pass_env")
    @classmethod
    def _pass_env(cls, names: list[str]) -> list[str]:
        for key in names:
            if not _ENV_NAME.match(key):
                raise ValueError(f"{key!r} is not an environment variable name")
            if key.startswith(("DRILLKIT_", "DK_")) or key in ("PGPASSFILE", "PGPASSWORD"):
                raise ValueError(f"{key} is never passed to a step (drillkit's own or secret)")
        return names

    @model_validator(mode="after")
    def _pass_env_on_host(self) -> ShellStep:
        if self.pass_env and self.target != "host":
            raise ValueError("pass_env passes the harness host's variables; use env inside a node")
        return self

    def node_refs(self) -> list[str]:
        return [] if self.target == "host" else [self.target]


class RestoreStep(RetryPolicy):
    """Restore a node from the pgBackRest repository and start it as a primary.

    ``type: time`` stops replay just before ``target_time`` (default: when the first fault was
    requested, minus ``before_fault_seconds``) and promotes (``--target-action=promote``);
    ``type: latest`` replays every archived segment. ``onto: fresh`` starts a new node; a node
    name rebuilds that node on its own (emptied) data volume. With ``flush_wal`` a live primary
    first switches and archives its current WAL segment (``pgbackrest check``), as an operator
    does before a point-in-time restore.
    """

    step: Literal["restore"]
    type: Literal["time", "latest"] = "time"
    target_time: datetime | None = Field(
        None, description="ISO 8601 with a time zone; default: just before the first fault"
    )
    before_fault_seconds: float = Field(0.0, ge=0, le=86400)
    onto: str = Field(
        "fresh",
        description="fresh (a new node) or the name of a node to rebuild; under Patroni the "
        "member that bootstraps the rebuilt cluster: primary (the leader) or a member's name",
    )
    flush_wal: bool = True
    timeout_seconds: float = Field(180.0, gt=0, le=3600)

    @model_validator(mode="after")
    def _target_fits_type(self) -> RestoreStep:
        if self.type == "latest" and (
            self.target_time is not None or "before_fault_seconds" in self.model_fields_set
        ):
            raise ValueError("type: latest replays every archived segment; it takes no target")
        if self.target_time is not None and self.target_time.tzinfo is None:
            raise ValueError("target_time needs a time zone, e.g. 2026-01-31T12:00:00Z")
        return self

    def node_refs(self) -> list[str]:
        return [] if self.onto in ("fresh", "primary") else [self.onto]

    def topology_problem(self, topology: Any) -> tuple[str, str] | None:
        """Under Patroni the cluster is rebuilt in place (every member on its own volume, one
        of them bootstrapping from the repository): ``onto`` names that member."""
        if getattr(topology, "kind", None) != "patroni":
            if self.onto == "primary":
                return "onto", "'primary' is for Patroni; use fresh or a node name"
            return None
        members = topology.member_names()
        if self.onto not in ("primary", *members):
            return "onto", (
                "under Patroni every member is rebuilt in place (Patroni's custom bootstrap "
                "from the repository); name the member that bootstraps: primary (the leader "
                f"when the step runs) or one of {', '.join(members)}"
            )
        return None


class VerifyRestoreStep(RetryPolicy):
    """Check a restored node: its log says where recovery stopped, the table exists, and every
    row the history says must be there (acknowledged before the target) is there, by count and
    checksum. Default node: the one the last restore step made."""

    step: Literal["verify-restore"]
    node: str | None = None
    table: str = Field("drillkit_writes", pattern=r"^[a-z_][a-z0-9_]{0,62}$")

    def node_refs(self) -> list[str]:
        return [] if self.node is None else [self.node]


class RepointStep(RetryPolicy):
    """Point the client path (what the workload and the final read connect to) at a node:
    ``restored`` (the last restore step's node), ``primary`` (whichever is primary now) or a
    node name."""

    step: Literal["repoint"]
    to: str = "restored"

    def node_refs(self) -> list[str]:
        return [] if self.to in ("restored", "primary") else [self.to]


class WaitForLeaderStep(RetryPolicy):
    """Wait until Patroni has elected a new leader (not the one of the moment the fault struck)
    that accepts writes through the client path; record it and its timeline."""

    step: Literal["wait-for-leader"]
    timeout_seconds: float = Field(120.0, gt=0, le=3600)


class SwitchoverStep(RetryPolicy):
    """A planned switchover through Patroni's REST API, to ``candidate`` or any healthy one."""

    step: Literal["switchover"]
    candidate: str | None = None
    timeout_seconds: float = Field(120.0, gt=0, le=3600)

    def node_refs(self) -> list[str]:
        return [] if self.candidate is None else [self.candidate]


class RejoinStep(RetryPolicy):
    """Bring a former primary back as a replica of the current one: ``pg_rewind`` onto the new
    timeline, then stream (Patroni does both itself once the node is started). Default node:
    the one the first fault struck."""

    step: Literal["rejoin"]
    node: str | None = None
    timeout_seconds: float = Field(120.0, gt=0, le=3600)

    def node_refs(self) -> list[str]:
        return [] if self.node is None else [self.node]
