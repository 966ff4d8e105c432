"""One registry entry per fault kind, runbook step kind and topology kind; the rest is derived.

An entry names its drill-file model (the pydantic class an entry of a drill file is validated
into; its tag literal is the kind's name), its implementation (a class, or ``"module:Class"``
imported on first use, so validating a drill imports no database driver and no Docker), what it
*requires* of a topology and, for a topology, what it *provides* and which roles its faults may
target. Derived from it: the drill-file unions (``spec/model.py``), ``FAULTS`` (``make_fault``),
``STEPS`` (``make_step``), ``TOPOLOGIES``, ``drillkit faults``, the generated reference, and the
one compatibility check, at validation time (:meth:`Registry.requirement_problem`,
:meth:`Registry.role_problem`).

Adding a fault kind: its model and its implementation class, then one line in ``_FAULTS``.
"""

from __future__ import annotations

import importlib
import typing
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cached_property
from typing import Annotated, Any

from pydantic import BaseModel, Field

from drillkit.spec import external as ext
from drillkit.spec import faults as f
from drillkit.spec import postgres as pg
from drillkit.spec import redis as rd
from drillkit.spec import steps as st

__all__ = [
    "FAULT_SPECS",
    "REGISTRY",
    "Capability",
    "Entry",
    "Option",
    "Registry",
    "TopologyEntry",
]


class Capability(StrEnum):
    """What a fault or step may need of a topology, and what a topology offers."""

    SQL = "sql"  # SQL on the current primary (operator-error faults)
    POSTGRES_DATA = "postgres-data"  # a PGDATA directory on each database node's volume
    POSTGRES_REPLICATION = "postgres-replication"  # a former primary can rejoin (pg_rewind)
    MANUAL_FAILOVER = "manual-failover"  # nothing promotes by itself: pg_promote by hand
    CLIENT_REPOINT = "client-repoint"  # the client path can be pointed at another node
    BACKUP_REPOSITORY = "backup-repository"  # pgBackRest: WAL archive and backups
    SIZED_DATA_VOLUME = "sized-data-volume"  # data volumes that can fill up
    PATRONI = "patroni"  # Patroni manages the members (leader election, REST API)
    ETCD = "etcd"  # a DCS of etcd members
    REDIS = "redis"  # Redis data nodes (commands, RDB and AOF files)
    SENTINEL = "sentinel"  # Sentinels that monitor the master and fail over
    PROBE_TABLE = "probe-table"  # not drillkit's stack: the workload writes a table it drops
    PROBE_KEYS = "probe-keys"  # not drillkit's Redis: the workload writes keys it deletes
    CACHE = "cache"  # a cache node in front of the database (topology.cache)


def _tag(model: type[BaseModel]) -> str:
    """The literal of a model's tag field (``kind`` or ``step``): the kind's name."""
    for name in ("kind", "step"):
        info = model.model_fields.get(name)
        if info is not None:
            return str(typing.get_args(info.annotation)[0])
    raise TypeError(f"{model.__name__} has no kind or step literal")


def _load(implementation: type | str) -> Any:
    if not isinstance(implementation, str):
        return implementation
    module, _, name = implementation.partition(":")
    return getattr(importlib.import_module(module), name)


@dataclass(frozen=True)
class Entry:
    """A fault or runbook step kind: its drill-file model, implementation and requirements."""

    model: type[BaseModel]
    implementation: type | str
    requires: tuple[Capability, ...] = ()

    @property
    def name(self) -> str:
        return _tag(self.model)

    def load(self) -> Any:
        """The implementation class (imported now if it was given as ``"module:Class"``)."""
        return _load(self.implementation)


@dataclass(frozen=True)
class Option:
    """A capability a topology provides only when one of its fields is set."""

    field: str
    noun: str  # "a backup repository"
    example: str  # "e.g. 256m"


@dataclass(frozen=True)
class TopologyEntry:
    """A topology kind: its model, implementation, capabilities and the roles it resolves."""

    model: type[BaseModel]
    implementation: type | str
    provides: tuple[Capability, ...]
    roles: tuple[str, ...]
    options: Mapping[Capability, Option] = field(default_factory=dict)
    engines: Mapping[str, tuple[Capability, ...]] = field(default_factory=dict)
    """What the topology provides besides ``provides``, by its ``engine`` field (a stack
    drillkit did not create: a probe table on PostgreSQL, probe keys on Redis)."""

    @property
    def name(self) -> str:
        return _tag(self.model)

    def load(self) -> Any:
        return _load(self.implementation)

    def could_provide(self) -> set[Capability]:
        return {*self.provides, *self.options, *(c for cs in self.engines.values() for c in cs)}

    def provided(self, topology: BaseModel) -> set[Capability]:
        """What this topology, as configured, provides."""
        on = {c for c, o in self.options.items() if getattr(topology, o.field, None) is not None}
        engine = self.engines.get(str(getattr(topology, "engine", "")), ())
        return {*self.provides, *engine, *on}


def tagged_union(models: Iterable[type[BaseModel]], tag: str) -> Any:
    """``Annotated[A | B | ..., Field(discriminator=tag)]``: a drill-file field's type."""
    return Annotated[typing.Union[tuple(models)], Field(discriminator=tag)]  # noqa: UP007


def _index(entries: Iterable[Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for entry in entries:
        if entry.name in out:
            raise ValueError(f"{entry.name!r} is registered twice")
        out[entry.name] = entry
    return out


@dataclass(frozen=True, eq=False)  # hashed by identity: drill models are cached per registry
class Registry:
    """Every kind a drill file may name. :meth:`adding` returns an extended copy."""

    faults: Mapping[str, Entry]
    steps: Mapping[str, Entry]
    topologies: Mapping[str, TopologyEntry]

    @classmethod
    def of(
        cls,
        faults: Iterable[Entry] = (),
        steps: Iterable[Entry] = (),
        topologies: Iterable[TopologyEntry] = (),
    ) -> Registry:
        return cls(_index(faults), _index(steps), _index(topologies))

    def adding(
        self,
        faults: Iterable[Entry] = (),
        steps: Iterable[Entry] = (),
        topologies: Iterable[TopologyEntry] = (),
    ) -> Registry:
        return Registry.of(
            [*self.faults.values(), *faults],
            [*self.steps.values(), *steps],
            [*self.topologies.values(), *topologies],
        )

    @cached_property
    def roles(self) -> tuple[str, ...]:
        """Every role any topology kind resolves, in registry order."""
        return tuple(dict.fromkeys(r for t in self.topologies.values() for r in t.roles))

    def serving(self, requires: Iterable[Capability]) -> list[str]:
        """The topology kinds that provide ``requires`` (some only once an option is set)."""
        return [k for k, t in self.topologies.items() if set(requires) <= t.could_provide()]

    def requirement_problem(
        self, name: str, requires: Iterable[Capability], topology: BaseModel
    ) -> str | None:
        """Why the topology cannot serve a fault or step that requires ``requires``, or None."""
        needed = list(requires)
        entry = self.topologies[str(getattr(topology, "kind", ""))]
        missing = [c for c in needed if c not in entry.provided(topology)]
        if not missing:
            return None
        able = self.serving(needed)
        if entry.name not in able:
            if not able:
                return f"{name} needs {', '.join(missing)}, which no topology kind provides"
            return f"{name} needs topology.kind: {' or '.join(able)}"
        option = entry.options[missing[0]]
        return f"{name} needs {option.noun}: set topology.{option.field} ({option.example})"

    def role_problem(self, role: str, topology: BaseModel) -> str | None:
        """Why ``role`` cannot be targeted in this topology, or None (not a role, or it has it)."""
        kind = str(getattr(topology, "kind", ""))
        if role not in self.roles or role in self.topologies[kind].roles:
            return None
        able = [k for k, t in self.topologies.items() if role in t.roles]
        return f"role {role!r} needs topology.kind: {' or '.join(able)}"


C = Capability
_DATA = (C.POSTGRES_DATA,)

# One line per kind; the order is the catalog's.
_FAULTS = (
    Entry(f.KillFault, "drillkit.faults.process:Kill"),
    Entry(f.StopFault, "drillkit.faults.process:Stop"),
    Entry(f.RestartFault, "drillkit.faults.process:Restart"),
    Entry(f.PauseFault, "drillkit.faults.process:Pause"),
    Entry(f.CrashRestartFault, "drillkit.faults.process:CrashRestart"),
    Entry(f.IsolateFault, "drillkit.faults.network:Isolate"),
    Entry(f.PartitionFault, "drillkit.faults.network:Partition"),
    Entry(f.OneWayPartitionFault, "drillkit.faults.network:OneWayPartition"),
    Entry(f.CutLinkFault, "drillkit.faults.network:CutLink"),
    Entry(f.CutClientFault, "drillkit.faults.network:CutClient"),
    Entry(f.PacketLossFault, "drillkit.faults.network:PacketLoss"),
    Entry(f.BandwidthFault, "drillkit.faults.network:Bandwidth"),
    Entry(f.ReplicationLagFault, "drillkit.faults.network:ReplicationLag"),
    Entry(f.DropTableFault, "drillkit.faults.data:DropTable", (C.SQL,)),
    Entry(f.ReplayPauseFault, "drillkit.faults.replay:ReplayPause", (C.SQL,)),
    Entry(f.TruncateFault, "drillkit.faults.data:Truncate", (C.SQL,)),
    Entry(f.DeleteRangeFault, "drillkit.faults.data:DeleteRange", (C.SQL,)),
    Entry(f.WipeDataFault, "drillkit.faults.disk:WipeData", _DATA),
    Entry(f.DeleteWalFault, "drillkit.faults.disk:DeleteWal", _DATA),
    Entry(f.CorruptFault, "drillkit.faults.disk:Corrupt", (C.POSTGRES_DATA, C.SQL)),
    Entry(f.FillDiskFault, "drillkit.faults.disk:FillDisk", (*_DATA, C.SIZED_DATA_VOLUME)),
    Entry(f.FlushallFault, "drillkit.faults.redis_data:Flushall", (C.REDIS,)),
    Entry(f.DeleteRedisFilesFault, "drillkit.faults.redis_data:DeleteRedisFiles", (C.REDIS,)),
    Entry(f.FlushCacheFault, "drillkit.faults.redis_data:FlushCache", (C.CACHE,)),
)

_STEPS = (
    Entry(st.PromoteStep, "drillkit.runbook.postgres_steps:Promote", (C.MANUAL_FAILOVER,)),
    Entry(st.ShellStep, "drillkit.runbook.custom:Shell"),
    Entry(st.RestoreStep, "drillkit.runbook.pgbackrest_steps:Restore", (C.BACKUP_REPOSITORY,)),
    Entry(
        st.VerifyRestoreStep,
        "drillkit.runbook.pgbackrest_steps:VerifyRestore",
        (C.BACKUP_REPOSITORY,),
    ),
    Entry(st.RepointStep, "drillkit.runbook.postgres_steps:Repoint", (C.CLIENT_REPOINT,)),
    Entry(st.WaitForLeaderStep, "drillkit.runbook.patroni_steps:WaitForLeader", (C.PATRONI,)),
    Entry(st.SwitchoverStep, "drillkit.runbook.patroni_steps:Switchover", (C.PATRONI,)),
    Entry(st.RejoinStep, "drillkit.runbook.patroni_steps:Rejoin", (C.POSTGRES_REPLICATION,)),
    Entry(
        rd.WaitSentinelFailoverStep,
        "drillkit.runbook.redis_steps:WaitSentinelFailover",
        (C.SENTINEL,),
    ),
    Entry(st.WaitCacheFailoverStep, "drillkit.runbook.cache_steps:WaitCacheFailover", (C.CACHE,)),
    Entry(rd.RedisPromoteStep, "drillkit.runbook.redis_steps:RedisPromote", (C.REDIS,)),
    Entry(rd.RedisRestoreStep, "drillkit.runbook.redis_steps:RedisRestore", (C.REDIS,)),
)

_PGBACKREST = Option(
    "pgbackrest", "a backup repository", "e.g. pgbackrest: {archive_timeout_seconds: 5}"
)
_TOPOLOGIES = (
    TopologyEntry(
        pg.PostgresTopology,
        "drillkit.topology.postgres:PostgresCluster",
        provides=(C.SQL, *_DATA, C.POSTGRES_REPLICATION, C.MANUAL_FAILOVER, C.CLIENT_REPOINT),
        roles=(*f.ROLES, pg.CACHE_MASTER),
        options={
            C.BACKUP_REPOSITORY: _PGBACKREST,
            C.SIZED_DATA_VOLUME: Option(
                "data_volume_size", "a size-limited data volume", "e.g. 256m"
            ),
            C.CACHE: Option("cache", "a cache node", "e.g. cache: {engine: redis}"),
        },
    ),
    TopologyEntry(
        pg.PatroniTopology,
        "drillkit.topology.patroni:PatroniCluster",
        provides=(C.SQL, *_DATA, C.POSTGRES_REPLICATION, C.PATRONI, C.ETCD),
        roles=(*f.ROLES, "etcd"),
        options={C.BACKUP_REPOSITORY: _PGBACKREST},
    ),
    TopologyEntry(
        rd.RedisTopology,
        "drillkit.topology.redis:RedisCluster",
        provides=(C.REDIS, C.SENTINEL),
        roles=(*f.ROLES, "sentinel", "sentinels"),
    ),
)

# A stack drillkit did not create: process and network faults and shell steps only (no SQL data
# faults, no volume faults, no promote unless allowed: drillkit touches no data and no file of
# the stack's). On Redis: no FLUSHALL, no file faults, no drillkit-only Redis steps (they need
# drillkit's own topology); Sentinel fails over by itself, or the team's shell step does.
_EXTERNAL_OPTIONS = {
    C.MANUAL_FAILOVER: Option(
        "allow_promote", "permission to promote a replica of your stack", "allow_promote: true"
    )
}
_EXTERNAL_ENGINES = {"postgres": (C.PROBE_TABLE,), "redis": (C.PROBE_KEYS,)}
_EXTERNAL = (
    TopologyEntry(
        ext.ComposeTopology,
        "drillkit.topology.external:ExternalStack",
        provides=(),
        roles=f.ROLES,
        options=_EXTERNAL_OPTIONS,
        engines=_EXTERNAL_ENGINES,
    ),
    TopologyEntry(
        ext.ContainersTopology,
        "drillkit.topology.external:ExternalStack",
        provides=(),
        roles=f.ROLES,
        options=_EXTERNAL_OPTIONS,
        engines=_EXTERNAL_ENGINES,
    ),
)

REGISTRY = Registry.of(_FAULTS, _STEPS, (*_TOPOLOGIES, *_EXTERNAL))

# kind -> drill-file model of every fault (``drillkit faults`` and the fault catalog).
FAULT_SPECS: dict[str, type[BaseModel]] = {k: e.model for k, e in REGISTRY.faults.items()}
