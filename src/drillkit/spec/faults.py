"""Fault entries of a drill file: what to break, where, when, for how long, how often.

Each kind is its own model, so its parameters are validated and documented with it; the tagged
union on ``kind``, the catalog ``drillkit faults`` prints and what each kind needs of a topology
come from its line in :mod:`drillkit.registry`.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

__all__ = [
    "EXCLUSIVE",
    "ROLES",
    "FaultBase",
    "Repeat",
    "TargetedFault",
    "fault_nodes",
    "schedule_problems",
]

# Roles every topology kind resolves when the fault is injected (roles follow failovers); a
# topology kind adds its own (etcd, sentinels) in its registry line.
ROLES = ("primary", "replica", "replicas", "random", "all")
_NODE = re.compile(r"^[a-z][a-z0-9-]{0,30}$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class Repeat(_Strict):
    """Inject the fault again every ``every`` seconds, ``times`` times in all."""

    every: float = Field(gt=0, le=3600)
    times: int = Field(ge=1, le=1000)


def _check_target(value: str) -> str:
    if value in ROLES or _NODE.match(value):
        return value
    raise ValueError(
        f"{value!r} is not a target; expected a role ({', '.join(ROLES)}, or one of the "
        "topology's own such as sentinels) or a node name like pg1"
    )


class FaultBase(_Strict):
    """What every fault entry takes: when, for how long, how often, and whether it is the
    incident."""

    kind: str
    at: float = Field(0.0, ge=0, le=86400, description="seconds after the fault phase starts")
    duration: float | None = Field(
        None, gt=0, le=86400, description="heal after this many seconds (default: at the end)"
    )
    repeat: Repeat | None = None
    incident: bool = Field(False, description="RPO and RTO are measured from this fault")

    @model_validator(mode="after")
    def _repeat_fits(self) -> FaultBase:
        if self.repeat is not None and self.repeat.times > 1:
            if self.duration is None:
                raise ValueError("a repeated fault needs a duration (it must heal before the next)")
            if self.duration >= self.repeat.every:
                raise ValueError(
                    f"duration ({self.duration:g}) must be shorter than repeat.every "
                    f"({self.repeat.every:g}) so each injection heals before the next"
                )
        return self


class TargetedFault(FaultBase):
    """A fault aimed at one target: a node name or a role, resolved when it is injected."""

    target: str = "primary"

    @field_validator("target")
    @classmethod
    def _target(cls, v: str) -> str:
        return _check_target(v)


# -- process faults ---------------------------------------------------------------------------
class KillFault(TargetedFault):
    """SIGKILL the container's main process. Heal: nothing (the node stays down)."""

    kind: Literal["kill"]


class StopFault(TargetedFault):
    """Graceful stop (SIGTERM, then SIGKILL after timeout_seconds). Heal: start it again."""

    kind: Literal["stop"]
    timeout_seconds: int = Field(10, ge=0, le=600)


class RestartFault(TargetedFault):
    """docker restart (SIGTERM, then start). Heal: nothing (it is back by itself)."""

    kind: Literal["restart"]
    timeout_seconds: int = Field(10, ge=0, le=600)


class PauseFault(TargetedFault):
    """Freeze every process of the node (cgroup freezer). Heal: unpause."""

    kind: Literal["pause"]


class ReplayPauseFault(TargetedFault):
    """Pause WAL replay on a replica (pg_wal_replay_pause): it keeps receiving WAL and serves
    an ever older snapshot. Heal: pg_wal_replay_resume."""

    kind: Literal["replay-pause"]
    target: str = "replica"


class CrashRestartFault(TargetedFault):
    """SIGKILL, then start the same node on the same data (crash recovery). Heal: nothing."""

    kind: Literal["crash-restart"]


# -- network faults ---------------------------------------------------------------------------
class IsolateFault(TargetedFault):
    """Drop all traffic between the node and its peers; the harness still reaches it. Heal:
    remove the rules."""

    kind: Literal["isolate"]


class PartitionFault(FaultBase):
    """Split the nodes into groups that cannot reach each other. Heal: remove the rules."""

    kind: Literal["partition"]
    groups: list[list[str]] = Field(min_length=2)

    @field_validator("groups")
    @classmethod
    def _groups(cls, groups: list[list[str]]) -> list[list[str]]:
        seen: set[str] = set()
        for i, group in enumerate(groups):
            if not group:
                raise ValueError(f"group {i} is empty; every group needs at least one node")
            for name in group:
                _check_target(name)
                if name in seen:
                    raise ValueError(f"{name!r} is named twice; a node belongs to one group")
                seen.add(name)
        return groups


class OneWayPartitionFault(FaultBase):
    """Packets from ``source`` never reach ``dest``; the other direction still works."""

    kind: Literal["partition-one-way"]
    source: str
    dest: str

    @model_validator(mode="after")
    def _distinct(self) -> OneWayPartitionFault:
        _check_target(self.source)
        _check_target(self.dest)
        if self.source == self.dest:
            raise ValueError("source and dest must differ")
        return self


class CutLinkFault(FaultBase):
    """Cut only the link between two nodes (e.g. replication); others are unaffected."""

    kind: Literal["cut-link"]
    between: list[str] = Field(min_length=2, max_length=2)

    @field_validator("between")
    @classmethod
    def _pair(cls, pair: list[str]) -> list[str]:
        for name in pair:
            _check_target(name)
        if pair[0] == pair[1]:
            raise ValueError("the two ends of a link must differ")
        return pair


class CutClientFault(TargetedFault):
    """Cut the harness's client path to the node while its peers still reach it."""

    kind: Literal["cut-client"]


class PacketLossFault(TargetedFault):
    """Drop a random percentage of the node's incoming and outgoing packets."""

    kind: Literal["packet-loss"]
    percent: float = Field(gt=0, le=100)


class BandwidthFault(TargetedFault):
    """Limit the node's outgoing bandwidth with a token bucket (tc tbf)."""

    kind: Literal["bandwidth"]
    rate: str = Field(
        pattern=r"^[0-9]+(\.[0-9]+)?(bit|kbit|mbit|gbit)$", description="e.g. 1mbit, 512kbit"
    )


class ReplicationLagFault(FaultBase):
    """Hold a replica behind: cut its link to the primary for ``duration`` seconds."""

    kind: Literal["replication-lag"]
    target: str = "replica"
    duration: float = Field(gt=0, le=86400)

    @field_validator("target")
    @classmethod
    def _target(cls, v: str) -> str:
        return _check_target(v)


# -- data loss and resources ------------------------------------------------------------------
class DropTableFault(FaultBase):
    """Operator error: DROP TABLE on the primary at a known time."""

    kind: Literal["drop-table"]
    table: str = Field("drillkit_writes", pattern=r"^[a-z_][a-z0-9_]{0,62}$")


class TruncateFault(FaultBase):
    """Operator error: TRUNCATE a table on the primary."""

    kind: Literal["truncate"]
    table: str = Field("drillkit_writes", pattern=r"^[a-z_][a-z0-9_]{0,62}$")


class DeleteRangeFault(FaultBase):
    """Operator error: DELETE the newest ``rows`` rows of the workload's table."""

    kind: Literal["delete-range"]
    rows: int = Field(100, ge=1, le=10**9)


class WipeDataFault(TargetedFault):
    """Stop the node and delete its data directory. Heal: nothing (restoring is the runbook's)."""

    kind: Literal["wipe-data"]


class DeleteWalFault(TargetedFault):
    """Delete WAL segment files from pg_wal of a stopped node, then start it again."""

    kind: Literal["delete-wal"]
    segments: int = Field(1, ge=1, le=1000, description="how many of the newest segments to delete")


class CorruptFault(TargetedFault):
    """Flip bits in a relation's data file (node stopped meanwhile), then start it again."""

    kind: Literal["corrupt"]
    table: str = Field("drillkit_writes", pattern=r"^[a-z_][a-z0-9_]{0,62}$")
    offset: int = Field(
        8192 + 200, ge=0, le=2**30, description="byte offset in the relation's first file"
    )
    bytes: int = Field(16, ge=1, le=4096)


class FillDiskFault(TargetedFault):
    """Fill the node's data volume until 'no space left on device'. Heal: free it."""

    kind: Literal["fill-disk"]


# -- Redis data loss --------------------------------------------------------------------------
class FlushallFault(TargetedFault):
    """Operator error: FLUSHALL on the Redis master; replication copies it to every replica.
    Heal: nothing (restoring is the runbook's)."""

    kind: Literal["flushall"]


class DeleteRedisFilesFault(TargetedFault):
    """SIGKILL a Redis node, delete its RDB and/or AOF files, start it again on what is left."""

    kind: Literal["delete-redis-files"]
    files: Literal["rdb", "aof", "all"] = Field("all", description="dump.rdb, the AOF, or both")


class FlushCacheFault(TargetedFault):
    """FLUSHALL on the cache in front of PostgreSQL (topology.cache): every cached entry goes at
    once (a master's FLUSHALL reaches its replicas); readers miss and refill from the database.
    Heal: nothing."""

    kind: Literal["flush-cache"]
    target: str = Field(
        "cache0",
        description="cache0, or cache-master (whichever cache node is master when it strikes: "
        "a cache with replicas and Sentinels that may have failed over)",
    )

    @field_validator("target")
    @classmethod
    def _the_cache(cls, v: str) -> str:
        if v not in ("cache0", "cache-master"):  # spec.postgres.CACHE_NODE, CACHE_MASTER
            raise ValueError(
                f"{v!r} is not the cache node; flush-cache acts on cache0, or on cache-master "
                "(the cache's master when it strikes)"
            )
        return v


def fault_nodes(spec: FaultBase) -> list[str]:
    """Every target or node name a fault entry mentions (checked against the topology)."""
    names: list[str] = []
    for attr in ("target", "source", "dest"):
        value = getattr(spec, attr, None)
        if isinstance(value, str):
            names.append(value)
    for attr in ("between",):
        names += getattr(spec, attr, None) or []
    for group in getattr(spec, "groups", None) or []:
        names += group
    return names


# Kinds whose second injection on a node conflicts with the first (a second pause fails with
# 409, a second tbf root qdisc is refused, ...): two entries of one such kind on one target must
# not overlap in time. Drop faults (isolate, partition, cut-link, ...) compose: own chains.
EXCLUSIVE: dict[str, str] = {
    "pause": "paused",
    "stop": "stopped",
    "fill-disk": "filled (fill-disk)",
    "bandwidth": "throttled (bandwidth)",
}


def _windows(spec: FaultBase) -> list[tuple[float, float | None]]:
    """Declared [start, end) of every injection of an entry; end None = to the end."""
    times = spec.repeat.times if spec.repeat is not None else 1
    every = spec.repeat.every if spec.repeat is not None else 0.0
    starts = [spec.at + k * every for k in range(times)]
    return [(s, None if spec.duration is None else s + spec.duration) for s in starts]


def _overlap(a: tuple[float, float | None], b: tuple[float, float | None]) -> bool:
    return (a[1] is None or b[0] < a[1]) and (b[1] is None or a[0] < b[1])


def _span(window: tuple[float, float | None]) -> str:
    start, end = window
    return f"from {start:g} s to the end" if end is None else f"from {start:g} to {end:g} s"


def schedule_problems(faults: list[FaultBase]) -> list[str]:
    """What is wrong with a drill's fault list as a whole: more than one incident, or two
    entries of an exclusive kind on one target at overlapping times. Each names field paths."""
    problems: list[str] = []
    incidents = [f"faults[{i}].incident" for i, f in enumerate(faults) if f.incident]
    if len(incidents) > 1:
        problems.append(
            f"{' and '.join(incidents)} are all true; mark exactly one fault as the incident "
            "(RPO and RTO are measured from it)"
        )
    for j, later in enumerate(faults):
        verb = EXCLUSIVE.get(later.kind)
        target = getattr(later, "target", None)
        if verb is None:
            continue
        for i, earlier in enumerate(faults[:j]):
            if earlier.kind != later.kind or getattr(earlier, "target", None) != target:
                continue
            clash = next(
                (w for w in _windows(earlier) for v in _windows(later) if _overlap(w, v)), None
            )
            if clash is not None:
                problems.append(
                    f"faults[{j}]: overlaps faults[{i}] ({earlier.kind} on {target} "
                    f"{_span(clash)}); a node can be {verb} by one fault at a time: move "
                    f"faults[{j}].at or shorten faults[{i}].duration"
                )
    return problems


def __getattr__(name: str) -> Any:
    """``FAULT_SPECS`` moved to :mod:`drillkit.registry` (imported lazily: it imports this)."""
    if name == "FAULT_SPECS":
        from drillkit.registry import FAULT_SPECS

        return FAULT_SPECS
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
