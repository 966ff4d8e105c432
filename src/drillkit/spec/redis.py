"""Redis in drill files: the topology (primary, replicas, Sentinels, persistence) and its restore
steps, validated before anything runs like the rest of the drill file.

What a fault or step needs of a topology kind is its line in :mod:`drillkit.registry`; a restore
step that needs files the topology does not write is refused by
:meth:`RedisRestoreStep.topology_problem`, with the field and the fix.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from drillkit.spec.settings import (
    REDIS_CONTROLLED,
    SENTINEL_CONTROLLED,
    check_redis_settings,
    problems,
)

__all__ = [
    "REDIS_ENGINE_VERSIONS",
    "RedisPromoteStep",
    "RedisRestoreStep",
    "RedisTopology",
    "WaitSentinelFailoverStep",
    "save_points",
]

_SAVE = re.compile(r"^\s*[0-9]+\s+[0-9]+(\s+[0-9]+\s+[0-9]+)*\s*$")
REDIS_DEFAULT_SAVE = "3600 1 300 100 60 10000"  # Redis 7's own default save points


# The engines and versions a drill can run (each from one Debian suite, see
# drillkit.images.catalog); an engine's first version is its default.
REDIS_ENGINE_VERSIONS: dict[str, tuple[int, ...]] = {"redis": (7, 8), "valkey": (8,)}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


def save_points(save: str) -> list[tuple[int, int]]:
    """``"60 1000 1 1"`` as ``[(60, 1000), (1, 1)]``: snapshot after N seconds if M changes."""
    numbers = [int(n) for n in save.split()]
    return list(zip(numbers[::2], numbers[1::2], strict=True))


class RedisTopology(_Strict):
    """A Redis primary, ``replicas`` asynchronous replicas and ``sentinels`` Sentinels.

    Nodes are named r0 (the first primary), r1..rN (replicas) and s1..sK (Sentinels).
    """

    kind: Literal["redis"]
    engine: Literal["redis", "valkey"] = Field(
        "redis", description="redis, or valkey (the Redis-compatible fork; its own Sentinel)"
    )
    version: Literal[7, 8] = Field(
        7,
        description="major version: redis 7 (Debian bookworm, default) or 8 (trixie); valkey 8 "
        "(trixie, the default for engine: valkey); its image is built the first time",
    )
    replicas: int = Field(2, ge=1, le=5, description="number of replicas")
    sentinels: int = Field(3, ge=1, le=7, description="number of Sentinels")
    quorum: int = Field(2, ge=1, le=7, description="Sentinels that must agree the master is down")
    down_after_ms: int = Field(
        30_000, ge=100, le=600_000, description="Sentinel down-after-milliseconds (its default)"
    )
    failover_timeout_ms: int = Field(
        180_000, ge=1000, le=3_600_000, description="Sentinel failover-timeout (its default)"
    )
    persistence: Literal["none", "rdb", "aof-everysec", "aof-always"] = Field(
        "rdb", description="none, rdb (save points), or AOF with appendfsync everysec / always"
    )
    save: str | None = Field(
        None,
        description=f"rdb save points 'SECONDS CHANGES ...' (default {REDIS_DEFAULT_SAVE!r})",
    )
    backup_interval_seconds: float | None = Field(
        None,
        gt=0,
        le=3600,
        description="copy each new RDB snapshot to a separate backup volume this often",
    )
    min_replicas_to_write: int = Field(
        0, ge=0, le=5, description="refuse writes unless this many replicas are recent (0 = off)"
    )
    min_replicas_max_lag: int = Field(
        10, ge=1, le=3600, description="seconds since a replica's last ack for it to count"
    )
    tls: bool = Field(
        False,
        description="TLS only: tls-port (plain port off), tls-replication, Sentinels over TLS, "
        "clients verify the run's CA",
    )

    redis: dict[str, str] = Field(
        default_factory=dict,
        description="redis.conf directives of every data node, e.g. {maxmemory: 256mb}; "
        "upstream defaults otherwise",
    )
    redis_conf_file: str | None = Field(
        None, description="a redis.conf relative to the drill file; the redis mapping overrides it"
    )
    sentinel: dict[str, str] = Field(
        default_factory=dict,
        description="Sentinel directives; per-master ones (parallel-syncs, ...) apply to the "
        "monitored master",
    )
    sentinel_conf_file: str | None = Field(
        None,
        description="a sentinel.conf relative to the drill file (one master; its monitor line "
        "gives the quorum); the sentinel mapping overrides it",
    )

    @field_validator("redis", "sentinel", mode="before")
    @classmethod
    def _settings(cls, v: Any) -> Any:
        return check_redis_settings(v) if isinstance(v, dict) else v

    def setting_problems(self) -> list[tuple[str, str, str]]:
        """(field, setting, problem) for each value drillkit cannot accept."""
        return [("redis", n, p) for n, p in problems(self.redis, REDIS_CONTROLLED, self)] + [
            ("sentinel", n, p) for n, p in problems(self.sentinel, SENTINEL_CONTROLLED, self)
        ]

    @model_validator(mode="before")
    @classmethod
    def _engine_default_version(cls, data: Any) -> Any:
        """An engine without a version runs that engine's default one (valkey: 8)."""
        if isinstance(data, dict) and "version" not in data:
            versions = REDIS_ENGINE_VERSIONS.get(str(data.get("engine", "redis")))
            if versions:
                return {**data, "version": versions[0]}
        return data

    @model_validator(mode="after")
    def _consistent(self) -> RedisTopology:
        versions = REDIS_ENGINE_VERSIONS[self.engine]
        if self.version not in versions:
            raise ValueError(
                f"{self.engine} {self.version} is not available: drillkit runs {self.engine} "
                f"{' or '.join(map(str, versions))} (Debian's packages); set version: "
                f"{versions[-1]}, or engine: redis for Redis {self.version}"
            )
        if self.quorum > self.sentinels:
            raise ValueError(
                f"quorum ({self.quorum}) exceeds sentinels ({self.sentinels}): "
                "no failover could ever be agreed"
            )
        if self.min_replicas_to_write > self.replicas:
            raise ValueError(
                f"min_replicas_to_write ({self.min_replicas_to_write}) exceeds replicas "
                f"({self.replicas}): the master would refuse every write"
            )
        if self.save is not None:
            if self.persistence != "rdb":
                raise ValueError(
                    f"save points apply to persistence 'rdb', not {self.persistence!r}; "
                    "remove save or set persistence: rdb"
                )
            if not _SAVE.match(self.save):
                raise ValueError(
                    f"save {self.save!r} is not 'SECONDS CHANGES' pairs, e.g. '60 1000 1 1'"
                )
        if self.backup_interval_seconds is not None and self.persistence != "rdb":
            raise ValueError(
                "backup_interval_seconds copies RDB snapshots; it needs persistence: rdb"
            )
        return self

    @property
    def save_config(self) -> str:
        """The ``save`` directive's value: empty (no snapshots) unless persistence is rdb."""
        if self.persistence != "rdb":
            return ""
        return " ".join(self.save.split()) if self.save else REDIS_DEFAULT_SAVE

    def data_node_names(self) -> list[str]:
        return [f"r{i}" for i in range(self.replicas + 1)]

    def sentinel_names(self) -> list[str]:
        return [f"s{i}" for i in range(1, self.sentinels + 1)]

    def node_names(self) -> list[str]:
        return self.data_node_names() + self.sentinel_names()


class _Step(_Strict):
    delay_seconds: float = Field(
        0.0, ge=0, le=3600, description="models detection and decision time before acting"
    )
    timeout_seconds: float = Field(60.0, gt=0, le=3600)


class WaitSentinelFailoverStep(_Step):
    """Wait until the Sentinels agree on a new master and it accepts the role."""

    step: Literal["wait-sentinel-failover"]
    converge: bool = Field(
        False,
        description="also wait until every running data node replicates from the new master "
        "(a deposed master that rejoined has been turned into a replica)",
    )


class RedisPromoteStep(_Step):
    """Manual failover: REPLICAOF NO ONE on the replica with the highest replication offset,
    re-point the other data nodes at it, then make the Sentinels monitor it."""

    step: Literal["redis-promote"]
    reconfigure_sentinels: bool = Field(
        True, description="SENTINEL REMOVE + MONITOR so clients that ask Sentinel find it"
    )


class RedisRestoreStep(_Step):
    """Load persisted files into a scratch server and merge their keys into the live master."""

    step: Literal["redis-restore"]
    source: Literal["aof", "rdb", "backup"] = Field(
        description="aof: the node's AOF minus FLUSHALL/FLUSHDB; rdb: its dump.rdb; "
        "backup: the newest non-empty copy on its backup volume"
    )
    node: str = Field(
        "primary", description="whose files: a node name or a role, resolved when the step runs"
    )

    def topology_problem(self, topology: Any) -> tuple[str, str] | None:
        """(field, problem) when the topology does not keep the files ``source`` names, or
        ``node`` is not a data node; None when it can serve this step."""
        if not isinstance(topology, RedisTopology):
            return None  # the registry refuses a redis-restore outside a Redis topology
        if self.source == "aof" and not topology.persistence.startswith("aof"):
            return "source", (
                "source 'aof' needs an AOF: set topology.persistence to aof-everysec or aof-always"
            )
        if self.source == "rdb" and topology.persistence != "rdb":
            return "source", "source 'rdb' needs RDB snapshots: set topology.persistence: rdb"
        if self.source == "backup" and topology.backup_interval_seconds is None:
            return "source", (
                "source 'backup' needs backups: set topology.backup_interval_seconds (e.g. 1)"
            )
        data_nodes = topology.data_node_names()
        if self.node not in ("primary", "replica", "random", *data_nodes):
            return "node", (
                f"{self.node!r} is not a data node; expected primary, replica or one of "
                f"{', '.join(data_nodes)}"
            )
        return None
