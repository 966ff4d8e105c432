"""Drill-file models for the PostgreSQL topologies (plain streaming replication, Patroni); the
runbook steps are in :mod:`drillkit.spec.steps`.

Each model has one line in :mod:`drillkit.registry`, which puts it in the drill file's tagged
unions and says what a step needs of a topology (a backup repository, Patroni, ...); node names a
step mentions (:meth:`node_refs`) are checked against the topology by ``spec.load_drill``.
"""

from __future__ import annotations

import re
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

from drillkit.spec.settings import PG_CONTROLLED, check_pg_settings, problems

__all__ = [
    "CACHE_MASTER",
    "CACHE_MASTER_NAME",
    "CACHE_NODE",
    "PG_VERSIONS",
    "SYNC_COMMIT_LEVELS",
    "CacheOptions",
    "PatroniTopology",
    "PgBackRestOptions",
    "PgSettings",
    "PostgresOptions",
    "PostgresTopology",
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


# PostgreSQL major versions a drill can run (each is one Debian suite's package set, see
# drillkit.images.catalog): 15 (bookworm, the default) and 17 (trixie, with Patroni 4.0).
PgVersion = Literal[15, 17]
PG_VERSIONS: tuple[int, ...] = (15, 17)
_PG_VERSION_HELP = (
    "PostgreSQL major version: 15 (Debian bookworm; Patroni 3.0, pgBackRest 2.4x) or 17 "
    "(Debian trixie; Patroni 4.0, pgBackRest 2.55); its image is built the first time"
)


class PgSettings(_Strict):
    """Server settings of every PostgreSQL node, applied over drillkit's defaults.

    ``postgresql`` is a mapping of settings; ``postgresql_conf_file`` names the team's own
    postgresql.conf (or ``ALTER SYSTEM`` dump), relative to the drill file, whose settings the
    mapping overrides. Both reach the nodes as a file (``drillkit-user.conf``), never argv or the
    environment. The few settings drillkit controls (ports, addresses, data directory, the
    replication setup, archive_command with pgBackRest, ...) accept only values that keep it
    working: see docs/production-config.md.
    """

    postgresql: dict[str, str] = Field(
        default_factory=dict,
        description="server settings, e.g. {wal_sender_timeout: 5s}; upstream defaults otherwise",
    )
    postgresql_conf_file: str | None = Field(
        None,
        description="a postgresql.conf (or ALTER SYSTEM dump) relative to the drill file; "
        "the postgresql mapping overrides it",
    )

    @field_validator("postgresql", mode="before")
    @classmethod
    def _settings(cls, v: Any) -> Any:
        return check_pg_settings(v) if isinstance(v, dict) else v

    def setting_problems(self) -> list[tuple[str, str, str]]:
        """(field, setting, problem) for each value drillkit cannot accept."""
        return [("postgresql", n, p) for n, p in problems(self.postgresql, PG_CONTROLLED, self)]


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


class PostgresOptions(PgSettings):
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


CACHE_NODE = "cache0"
CACHE_MASTER = "cache-master"  # the role: whichever cache node is master when a fault strikes
CACHE_MASTER_NAME = "drillkit-cache"  # the name the cache's Sentinels monitor its master under
CACHE_QUORUM = 2
# A cache node's engines and versions (drillkit's Redis image; the first version is the default).
_CACHE_VERSIONS: dict[str, tuple[int, ...]] = {"redis": (7, 8), "valkey": (8,)}


class CacheOptions(_Strict):
    """A cache in front of PostgreSQL: a Redis or Valkey node (``cache0``) on the drill's
    network, no persistence; the workload reads through it as ``workload.cache`` says. Faults
    may target it by name (kill, restart, flush-cache).

    With ``replicas`` (``cache1``, ``cache2``: asynchronous replicas of ``cache0``, no
    persistence either) and three ``sentinels`` (``cache-s0..2``, quorum 2, monitoring the
    master as ``drillkit-cache``), the cache fails over by itself; clients find the master
    through the Sentinels, and the role ``cache-master`` targets whichever node is master when
    a fault strikes."""

    engine: Literal["redis", "valkey"] = Field("redis", description="redis or valkey")
    version: Literal[7, 8] = Field(
        7, description="redis 7 (default) or 8; valkey 8 (its default); drillkit's Redis image"
    )
    replicas: int = Field(
        0, ge=0, le=2, description="asynchronous replicas of cache0 (cache1, cache2); 0: one node"
    )
    sentinels: Literal[0, 3] = Field(
        0,
        description="Sentinels monitoring the cache's master (cache-s0..2, quorum 2): 3 when "
        "replicas > 0, else 0",
    )
    down_after_ms: int = Field(
        1000,
        ge=100,
        le=60_000,
        description="Sentinel's down-after-milliseconds for the cache's master (Sentinel's own "
        "default, 30000, would make a drill slow)",
    )

    @property
    def quorum(self) -> int:
        return CACHE_QUORUM

    @property
    def failover_timeout_ms(self) -> int:
        return 10_000

    @property
    def sentinel(self) -> dict[str, str]:
        """No directive of the drill's own for the cache's Sentinels (see RedisTopology)."""
        return {}

    def node_names(self) -> list[str]:
        """cache0, its replicas, then its Sentinels."""
        data = [f"cache{i}" for i in range(self.replicas + 1)]
        return data + [f"cache-s{i}" for i in range(self.sentinels)]

    @model_validator(mode="after")
    def _sentinels_with_replicas(self) -> CacheOptions:
        if self.replicas > 0 and self.sentinels < 3:
            raise ValueError(
                f"sentinels: a cache with replicas ({self.replicas}) fails over only through "
                "Sentinel; set sentinels: 3 (quorum 2), or replicas: 0"
            )
        if self.sentinels > 0 and self.replicas == 0:
            raise ValueError(
                "replicas: Sentinels need a replica to promote; set replicas: 1 (or 2), or "
                "sentinels: 0"
            )
        return self

    @model_validator(mode="before")
    @classmethod
    def _engine_default_version(cls, data: Any) -> Any:
        if isinstance(data, dict) and "version" not in data:
            versions = _CACHE_VERSIONS.get(str(data.get("engine", "redis")))
            if versions:
                return {**data, "version": versions[0]}
        return data

    @model_validator(mode="after")
    def _engine_has_version(self) -> CacheOptions:
        versions = _CACHE_VERSIONS[self.engine]
        if self.version not in versions:
            raise ValueError(
                f"{self.engine} {self.version} is not available for a cache: drillkit runs "
                f"{self.engine} {' or '.join(map(str, versions))}"
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
    version: PgVersion = Field(15, description=_PG_VERSION_HELP)
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
    cache: CacheOptions | None = Field(
        None,
        description="a cache node (cache0: Redis or Valkey, no persistence; with replicas and "
        "sentinels, a cache that fails over) in front of the database, read through as "
        "workload.cache says",
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

    def data_node_names(self) -> list[str]:
        """The database nodes (roles choose among them; never the cache node)."""
        return [f"pg{i}" for i in range(self.replicas + 1)]

    def node_names(self) -> list[str]:
        cache = self.cache.node_names() if self.cache is not None else []
        return self.data_node_names() + cache

    def all_names(self) -> list[str]:
        """The nodes the target ``all`` designates: the database nodes, never the cache."""
        return self.data_node_names()

    def target_problem(self, name: str) -> str | None:
        """Why a fault cannot target ``name`` here (a role only this topology has), or None."""
        if name == CACHE_MASTER and self.cache is None:
            return (
                f"{CACHE_MASTER!r} is the cache's master: add topology.cache (e.g. cache: "
                "{engine: redis}), or target a database node"
            )
        return None

    @model_validator(mode="after")
    def _cache_is_plain(self) -> PostgresTopology:
        if self.cache is not None and self.tls:
            raise ValueError(
                "cache with tls: the cache node speaks plain TCP only; remove one of them"
            )
        return self


class PatroniTopology(PgSettings):
    """PostgreSQL members managed by Patroni, a 3-member etcd cluster as the DCS, and HAProxy
    routing clients to the leader (health check on Patroni's ``/primary``).

    Patroni demotes a leader that cannot renew its key within ``retry_timeout`` and the others
    elect a new one once the key expires (``ttl``), so failover after a node dies takes about
    ``ttl``. Patroni requires ``loop_wait + 2 * retry_timeout <= ttl``.
    """

    kind: Literal["patroni"]
    version: PgVersion = Field(15, description=_PG_VERSION_HELP)
    replicas: int = Field(2, ge=1, le=4, description="members besides the first leader")
    ttl: int = Field(
        30, ge=20, le=3600, description="leader key time to live (seconds; Patroni's default)"
    )
    loop_wait: int = Field(
        10, ge=1, le=600, description="seconds between HA loop runs (Patroni's default)"
    )
    retry_timeout: int = Field(
        10, ge=3, le=600, description="DCS and PostgreSQL retry budget (Patroni's default)"
    )
    maximum_lag_on_failover: int = Field(
        1_048_576, ge=0, le=2**40, description="bytes a replica may lag and still be promoted"
    )
    replication: Literal["async", "sync"] = Field("async", description="sync: synchronous_mode")
    synchronous_commit: SyncCommit = "on"
    haproxy: bool = Field(
        True, description="clients connect through HAProxy (else straight to the members)"
    )
    pgbackrest: PgBackRestOptions | None = Field(
        None,
        description="a backup repository: the leader archives WAL (archive_command in "
        "Patroni's postgresql.parameters), a full backup once the cluster is up; restore "
        "steps rebuild the cluster from it (Patroni's custom bootstrap)",
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

    @model_validator(mode="before")
    @classmethod
    def _dynamic_configuration(cls, data: Any) -> Any:
        """``patroni:`` is Patroni's dynamic configuration as its ``/config`` shows it (ttl,
        loop_wait, retry_timeout, maximum_lag_on_failover, synchronous_mode,
        postgresql.parameters): lifted into this model's fields, which it must not contradict."""
        if not isinstance(data, dict) or "patroni" not in data:
            return data
        dynamic = data["patroni"]
        if not isinstance(dynamic, dict):
            raise ValueError("patroni: expected Patroni's dynamic configuration (a mapping)")
        out = {k: v for k, v in data.items() if k != "patroni"}
        lifted = dict(dynamic)
        if "synchronous_mode" in lifted:
            mode = lifted.pop("synchronous_mode")
            if not isinstance(mode, bool):
                raise ValueError("patroni.synchronous_mode: expected true or false")
            lifted["replication"] = "sync" if mode else "async"
        pg = lifted.pop("postgresql", None)
        if pg is not None:
            unknown = set(pg) - {"parameters"} if isinstance(pg, dict) else {"?"}
            if unknown:
                raise ValueError(
                    "patroni.postgresql: only parameters is taken (use_pg_rewind and use_slots "
                    "are drillkit's)"
                )
            params = pg.get("parameters") or {}
            if not isinstance(params, dict):
                raise ValueError("patroni.postgresql.parameters: expected a mapping")
            lifted["postgresql"] = {**params, **(out.get("postgresql") or {})}
        allowed = {"ttl", "loop_wait", "retry_timeout", "maximum_lag_on_failover"}
        for key, value in lifted.items():
            if key not in allowed | {"replication", "postgresql"}:
                raise ValueError(
                    f"patroni.{key}: not taken; expected {', '.join(sorted(allowed))}, "
                    "synchronous_mode or postgresql.parameters"
                )
            if key in out and key != "postgresql" and out[key] != value:
                raise ValueError(
                    f"patroni.{key} ({value!r}) contradicts topology.{key} ({out[key]!r})"
                )
            out[key] = value
        return out

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

    def all_names(self) -> list[str]:
        """The nodes the target ``all`` designates: the members (etcd and HAProxy by name)."""
        return self.member_names()

    def node_names(self) -> list[str]:
        extra = ["haproxy"] if self.haproxy else []
        return self.member_names() + [f"etcd{i}" for i in range(3)] + extra
