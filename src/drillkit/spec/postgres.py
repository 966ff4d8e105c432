"""Drill-file models for the PostgreSQL topologies (plain streaming replication, Patroni) and
the restore steps of a runbook.

Each model has one line in :mod:`drillkit.registry`, which puts it in the drill file's tagged
unions and says what a step needs of a topology (a backup repository, Patroni, ...); node names a
step mentions (:meth:`node_refs`) are checked against the topology by ``spec.load_drill``.
"""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

__all__ = [
    "SYNC_COMMIT_LEVELS",
    "PatroniTopology",
    "PgBackRestOptions",
    "PostgresOptions",
    "PostgresTopology",
    "PromoteStep",
    "RejoinStep",
    "RepointStep",
    "RestoreStep",
    "RetryPolicy",
    "ShellStep",
    "SwitchoverStep",
    "VerifyRestoreStep",
    "WaitForLeaderStep",
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


SyncCommit = Literal["on", "remote_write", "remote_apply", "local", "off"]
SYNC_COMMIT_LEVELS: tuple[str, ...] = ("on", "remote_write", "remote_apply", "local", "off")
# Levels at which a commit waits for a synchronous standby (local and off never do).
_WAITING_LEVELS = ("on", "remote_write", "remote_apply")


def _commit_level(v: Any) -> Any:
    """YAML 1.1 reads an unquoted ``on``/``off`` as a boolean; mean the level."""
    if isinstance(v, bool):
        return "on" if v else "off"
    return v


class PgBackRestOptions(_Strict):
    """A pgBackRest repository on its own Docker volume (it outlives every database node).

    Continuous WAL archiving from the primary, a full backup once the topology is up (before any
    fault), and optionally incremental backups on a schedule while the drill runs. Archiving
    ships complete WAL segments only: ``archive_timeout_seconds`` bounds how old the newest
    archived write can be, so it bounds the RPO of a restore from the repository alone.
    """

    archive_timeout_seconds: int = Field(
        5, ge=1, le=3600, description="archive_timeout: switch WAL segments at least this often"
    )
    incremental_every_seconds: float | None = Field(
        None, gt=0, le=86400, description="take an incremental backup this often (default: none)"
    )
    compress_type: Literal["lz4", "gz", "zst", "none"] = Field(
        "lz4", description="compression of backups and archived WAL"
    )


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
    pgbackrest: PgBackRestOptions | None = Field(
        None, description="a backup repository with WAL archiving (needed by restore steps)"
    )

    @field_validator("synchronous_commit", mode="before")
    @classmethod
    def _yaml_boolean(cls, v: Any) -> Any:
        return _commit_level(v)

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


_UNITS = {"k": 1024, "m": 1024**2, "g": 1024**3}
MIN_DATA_VOLUME = 64 * 1024**2


def host_memory_bytes(meminfo: Path = Path("/proc/meminfo")) -> int | None:
    """This host's memory (``MemTotal``), or None where /proc/meminfo cannot be read."""
    try:
        text = meminfo.read_text(encoding="ascii")
    except OSError:
        return None
    match = re.search(r"^MemTotal:\s+(\d+) kB", text, re.MULTILINE)
    return int(match.group(1)) * 1024 if match else None


def _human(size: int) -> str:
    return f"{size / 1024**3:.1f}g" if size >= 1024**3 else f"{size // 1024**2}m"


class PostgresTopology(PostgresOptions):
    """A PostgreSQL primary with ``replicas`` streaming replicas, async or sync, optionally with
    a pgBackRest repository."""

    kind: Literal["postgres"] = "postgres"
    replicas: int = Field(1, ge=1, le=5, description="number of streaming replicas")
    data_volume_size: str | None = Field(
        None,
        pattern=r"^[0-9]+[kmg]$",
        description="size-limited (tmpfs, RAM-backed) data volumes, e.g. 256m; needed by "
        "fill-disk; at least 64m, and all nodes' volumes together at most half the host's memory",
    )
    tls: bool = Field(
        False,
        description="TLS on every connection: a per-run CA, ssl=on, clients and replication "
        "with sslmode=verify-full (plain connections refused)",
    )

    @field_validator("data_volume_size")
    @classmethod
    def _volume_fits_in_memory(cls, v: str | None, info: ValidationInfo) -> str | None:
        if v is None:
            return v
        size = int(v[:-1]) * _UNITS[v[-1]]
        if size < MIN_DATA_VOLUME:
            raise ValueError(
                f"{v} is too small: a PostgreSQL data directory needs at least 64m "
                "(and 0 would mean an unlimited, RAM-backed volume)"
            )
        nodes = int(info.data.get("replicas", 1)) + 1
        memory = host_memory_bytes()
        if memory is not None and size * nodes > memory // 2:
            raise ValueError(
                f"{v} x {nodes} nodes is more than half of this host's memory "
                f"({_human(memory)} in /proc/meminfo): these volumes live in RAM, and fill-disk "
                f"fills them; use at most {_human(memory // 2 // nodes)}"
            )
        return v

    def node_names(self) -> list[str]:
        return [f"pg{i}" for i in range(self.replicas + 1)]


class PatroniTopology(_Strict):
    """PostgreSQL members managed by Patroni, a 3-member etcd cluster as the DCS, and HAProxy
    routing clients to the leader (health check on Patroni's ``/primary``).

    Patroni demotes a leader that cannot renew its key within ``retry_timeout`` and the others
    elect a new one once the key expires (``ttl``), so failover after a node dies takes about
    ``ttl``. Patroni requires ``loop_wait + 2 * retry_timeout <= ttl``.
    """

    kind: Literal["patroni"]
    replicas: int = Field(2, ge=1, le=4, description="members besides the first leader")
    ttl: int = Field(20, ge=20, le=3600, description="leader key time to live (seconds)")
    loop_wait: int = Field(2, ge=1, le=600, description="seconds between HA loop runs")
    retry_timeout: int = Field(5, ge=3, le=600, description="DCS and PostgreSQL retry budget")
    maximum_lag_on_failover: int = Field(
        1_048_576, ge=0, le=2**40, description="bytes a replica may lag and still be promoted"
    )
    replication: Literal["async", "sync"] = Field("async", description="sync: synchronous_mode")
    synchronous_commit: SyncCommit = "on"
    haproxy: bool = Field(
        True, description="clients connect through HAProxy (else straight to the members)"
    )
    tls: bool = Field(
        False,
        description="TLS everywhere: a per-run CA; PostgreSQL ssl=on with verify-full clients "
        "and replication, Patroni's REST API over https, etcd client and peer TLS",
    )

    @field_validator("synchronous_commit", mode="before")
    @classmethod
    def _yaml_boolean(cls, v: Any) -> Any:
        return _commit_level(v)

    @model_validator(mode="after")
    def _patroni_timing(self) -> PatroniTopology:
        if self.loop_wait + 2 * self.retry_timeout > self.ttl:
            raise ValueError(
                f"Patroni needs loop_wait + 2 * retry_timeout <= ttl; "
                f"{self.loop_wait} + 2 * {self.retry_timeout} > {self.ttl}"
            )
        return self

    def member_names(self) -> list[str]:
        return [f"pg{i}" for i in range(self.replicas + 1)]

    def node_names(self) -> list[str]:
        extra = ["haproxy"] if self.haproxy else []
        return self.member_names() + [f"etcd{i}" for i in range(3)] + extra


# -- runbook steps --------------------------------------------------------------------------------
class PromoteStep(_Strict):
    """Promote the most advanced surviving replica with pg_promote()."""

    step: Literal["promote"]
    delay_seconds: float = Field(
        0.0, ge=0, le=3600, description="models detection and decision time before acting"
    )
    timeout_seconds: float = Field(30.0, gt=0, le=3600)


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
    onto: str = Field("fresh", description="fresh (a new node) or the name of a node to rebuild")
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
        return [] if self.onto == "fresh" else [self.onto]


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
