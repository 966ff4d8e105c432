"""The drill-file model: a drill's topology, workload, faults, runbook and targets, and the checks
that need the whole drill (the schedule, what the topology can serve).

The unions of topologies, faults and steps are generated from the registry
(:mod:`drillkit.registry`): one variant per registered kind.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import cache
from typing import TYPE_CHECKING, Any, Literal, TypeAlias

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, create_model, model_validator

from drillkit.registry import REGISTRY, Capability, Registry, tagged_union
from drillkit.spec.external import ExternalConfirm
from drillkit.spec.faults import FaultBase, fault_nodes, schedule_problems

__all__ = [
    "CacheWorkload",
    "DrillSpec",
    "FaultSpec",
    "RunbookStep",
    "SteadyState",
    "Targets",
    "WorkloadSpec",
    "drill_model",
    "reference_problems",
    "scenario_model",
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


# The drill file's tagged unions, one variant per registry entry. For the type checker they are
# their common base: a member's own fields are read after narrowing on its kind.
if TYPE_CHECKING:
    Topology: TypeAlias = Any
    FaultSpec: TypeAlias = FaultBase
    RunbookStep: TypeAlias = Any
else:
    Topology = tagged_union((t.model for t in REGISTRY.topologies.values()), "kind")
    FaultSpec = tagged_union((e.model for e in REGISTRY.faults.values()), "kind")
    RunbookStep = tagged_union((e.model for e in REGISTRY.steps.values()), "step")


ReadSource = Literal["replicas", "client"]


def _replicas() -> list[ReadSource]:
    return ["replicas"]


CacheStrategy = Literal["ttl", "delete-on-write", "write-through", "versioned"]


class CacheWorkload(_Strict):
    """Reads through the topology's cache (topology.cache), cache-aside, and how writes keep it
    fresh (docs/consistency.md, "Cache drills").

    Each write also sets ``version`` = its id for one of ``keys`` keys in the same transaction;
    after the commit, ``ttl`` does nothing to the cache, ``delete-on-write`` deletes the key,
    ``write-through`` sets it to the new version, ``versioned`` does nothing (its readers read
    the key's version from the database and look up that version's cache entry). A reader GETs
    the keys in turn; on a miss it reads the database through the client path and fills the
    cache with ``ttl_seconds``."""

    strategy: CacheStrategy = Field(
        "ttl", description="ttl, delete-on-write, write-through or versioned"
    )
    ttl_seconds: float | None = Field(
        5.0, gt=0, le=86400, description="expiry of an entry a reader fills; null: never expires"
    )
    keys: int = Field(100, ge=1, le=100_000, description="how many keys the writes spread over")
    readers: int = Field(2, ge=1, le=8, description="concurrent cache readers")
    reader_rate: float = Field(
        100.0, gt=0, le=5000, description="reads per second of each cache reader"
    )

    @model_validator(mode="after")
    def _expires(self) -> CacheWorkload:
        if self.ttl_seconds is None and self.strategy in ("ttl", "versioned"):
            raise ValueError(f"strategy {self.strategy} relies on expiry: set ttl_seconds (e.g. 5)")
        return self


class WorkloadSpec(_Strict):
    """The writer: unique increasing ids, each op under its own client-side deadline."""

    writers: int = Field(1, ge=1, le=16, description="concurrent writer connections")
    rate: float = Field(
        500.0, ge=0, le=100_000, description="total writes per second; 0 = as fast as possible"
    )
    op_timeout_seconds: float = Field(
        0.5, gt=0, le=10, description="client-side deadline of one operation (connect included)"
    )
    warmup_seconds: float = Field(2.0, ge=0, le=600, description="writing before the fault")
    observe_seconds: float = Field(
        5.0, gt=0, le=3600, description="writing after the runbook, to see service resume"
    )
    stable_window_seconds: float = Field(
        1.0, gt=0, le=600, description="successes with no failure needed to call service restored"
    )
    read_rate: float = Field(
        100.0,
        ge=0,
        le=1000,
        description="read-back probe: reads/s of pre-fault acknowledged ids from the fault phase"
        " on; 0 = no reads",
    )
    read_sample: int = Field(20, ge=1, le=1000, description="read-back probe: ids sampled per read")
    readers: int = Field(
        0,
        ge=0,
        le=8,
        description="readers of the newest visible write (staleness, monotonic reads,"
        " convergence): processes per source in read_from; 0 = none (PostgreSQL, Redis)",
    )
    read_from: list[ReadSource] = Field(
        default_factory=_replicas,
        min_length=1,
        description="where readers read: replicas (each node that was a replica when the"
        " workload started, directly), client (the application's connection string, which"
        " follows the primary)",
    )
    reader_rate: float = Field(
        50.0, gt=0, le=1000, description="reads per second of each reader (from warmup on)"
    )
    cache: CacheWorkload | None = Field(
        None,
        description="read through topology.cache and keep it fresh by a strategy (ghost and "
        "stale reads after a restore; needs topology.cache)",
    )

    @model_validator(mode="after")
    def _window_fits(self) -> WorkloadSpec:
        if self.stable_window_seconds > self.observe_seconds:
            raise ValueError(
                f"stable_window_seconds ({self.stable_window_seconds}) must not exceed "
                f"observe_seconds ({self.observe_seconds}): recovery could never be confirmed"
            )
        return self


class SteadyState(_Strict):
    """What 'healthy' means before a fault may be injected."""

    max_replica_lag_bytes: int = Field(16 * 1024 * 1024, ge=0, le=2**40)
    min_ok_writes: int = Field(
        10, ge=1, le=1_000_000, description="acknowledged writes needed before the fault"
    )
    timeout_seconds: float = Field(30.0, gt=0, le=600)


_MAX_TARGET_SECONDS = 7 * 86400  # a week: any real objective is far below


class Targets(_Strict):
    """Declared objectives; a target left out is not judged."""

    rpo_seconds: float | None = Field(None, ge=0, le=_MAX_TARGET_SECONDS)
    rto_seconds: float | None = Field(None, ge=0, le=_MAX_TARGET_SECONDS)
    max_lost_writes: int | None = Field(None, ge=0, le=10**12)
    max_staleness_seconds: float | None = Field(
        None,
        ge=0,
        le=_MAX_TARGET_SECONDS,
        description="the largest staleness any reader's read may show (needs workload.readers)",
    )
    max_monotonic_violations: int | None = Field(
        None,
        ge=0,
        le=10**12,
        description="ids a reader saw and a later read of the same reader no longer saw"
        " (needs workload.readers)",
    )
    max_convergence_seconds: float | None = Field(
        None,
        ge=0,
        le=_MAX_TARGET_SECONDS,
        description="from recovery until every replica reader sees every surviving write"
        " acknowledged before recovery (needs workload.readers with read_from replicas)",
    )
    max_ghost_reads: int | None = Field(
        None,
        ge=0,
        le=10**12,
        description="cache reads after recovery that returned a version the database no longer"
        " has (needs workload.cache)",
    )
    max_ghost_window_seconds: float | None = Field(
        None,
        ge=0,
        le=_MAX_TARGET_SECONDS,
        description="from recovery until the last ghost read; unknown while a ghost is still"
        " cached at the end (needs workload.cache)",
    )
    max_stale_reads: int | None = Field(
        None,
        ge=0,
        le=10**12,
        description="cache reads after recovery older than the key's newest surviving write"
        " acknowledged before the read (needs workload.cache)",
    )
    max_cache_stale_window_seconds: float | None = Field(
        None,
        ge=0,
        le=_MAX_TARGET_SECONDS,
        description="from the first to the last stale cache read after recovery, known to "
        "within a reader's interval; a target tighter than that is unknown (needs "
        "workload.cache)",
    )

    @model_validator(mode="after")
    def _at_least_one(self) -> Targets:
        if all(getattr(self, name) is None for name in type(self).model_fields):
            raise ValueError("declare at least one of " + ", ".join(type(self).model_fields))
        return self


class DrillSpec(_Strict):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")
    description: str = ""
    topology: Topology
    workload: WorkloadSpec = WorkloadSpec()
    steady_state: SteadyState = SteadyState()
    faults: list[FaultSpec] = Field(min_length=1)
    runbook: list[RunbookStep] = Field(default_factory=list)
    targets: Targets
    external: ExternalConfirm | None = Field(
        None,
        description="a stack drillkit did not create (topology kind compose or containers) is "
        "struck only when the drill confirms it: external: {confirm: NAME} and drillkit run "
        "--target NAME",
    )
    expect: Literal["pass", "fail"] = Field(
        "pass",
        description="the verdict this drill should reach: fail for a drill that demonstrates a "
        "known weakness (reported 'failed as expected', exit 0; if it passes, exit 1)",
    )

    _overrides: dict[str, Any] = PrivateAttr(default_factory=dict)

    @property
    def overrides(self) -> dict[str, Any]:
        """The ``--set`` overrides applied to the file (recorded in the evidence); {} if none."""
        return dict(self._overrides)

    def declared_seconds(self) -> float:
        """The time the drill itself asks for: writing before the fault, the runbook's delays
        and the observation after it. What a run takes beyond it is the harness's overhead
        (provisioning, restores' own work, evidence, teardown)."""
        delays = sum(float(getattr(s, "delay_seconds", 0.0) or 0.0) for s in self.runbook)
        return self.workload.warmup_seconds + delays + self.workload.observe_seconds

    @model_validator(mode="after")
    def _readers_for_targets(self) -> DrillSpec:
        """A consistency target needs readers to measure it."""
        t = self.targets
        wanted = [
            name
            for name in (
                "max_staleness_seconds",
                "max_monotonic_violations",
                "max_convergence_seconds",
            )
            if getattr(t, name) is not None
        ]
        if wanted and self.workload.readers == 0:
            raise ValueError(f"targets.{wanted[0]} needs readers: set workload.readers (e.g. 1)")
        if t.max_convergence_seconds is not None and "replicas" not in self.workload.read_from:
            raise ValueError(
                "targets.max_convergence_seconds is measured by replica readers: add replicas "
                "to workload.read_from"
            )
        return self

    @model_validator(mode="after")
    def _cache_for_targets(self) -> DrillSpec:
        """A cache target needs cache readers to measure it."""
        t = self.targets
        wanted = [
            name
            for name in (
                "max_ghost_reads",
                "max_ghost_window_seconds",
                "max_stale_reads",
                "max_cache_stale_window_seconds",
            )
            if getattr(t, name) is not None
        ]
        if wanted and self.workload.cache is None:
            raise ValueError(
                f"targets.{wanted[0]} needs cache reads: set workload.cache "
                "(e.g. {strategy: ttl}) and topology.cache"
            )
        return self

    @model_validator(mode="after")
    def _schedule(self) -> DrillSpec:
        """At most one incident; no two exclusive faults on one node at once."""
        problems = schedule_problems(list(self.faults))
        if problems:
            raise ValueError(problems[0])
        return self


class _ScenarioFile(_Strict):
    topology: Topology


@cache
def scenario_model(registry: Registry = REGISTRY) -> type[BaseModel]:
    """A scenario file's model: its topology, one of ``registry``'s kinds."""
    if registry is REGISTRY:
        return _ScenarioFile
    return create_model(
        "ScenarioFile", __base__=_ScenarioFile, topology=(_topology_union(registry), ...)
    )


@cache
def drill_model(registry: Registry = REGISTRY) -> type[DrillSpec]:
    """The drill-file model whose unions hold ``registry``'s kinds (:class:`DrillSpec` for the
    built-in registry; a registry with one more kind, e.g. in a test, gets a subclass)."""
    if registry is REGISTRY:
        return DrillSpec
    faults = tagged_union((e.model for e in registry.faults.values()), "kind")
    steps = tagged_union((e.model for e in registry.steps.values()), "step")
    return create_model(
        "DrillSpec",
        __base__=DrillSpec,
        topology=(_topology_union(registry), ...),
        faults=(list[faults], Field(min_length=1)),  # type: ignore[valid-type]
        runbook=(list[steps], Field(default_factory=list)),  # type: ignore[valid-type]
    )


def _topology_union(registry: Registry) -> Any:
    return tagged_union((t.model for t in registry.topologies.values()), "kind")


_STEP_ROLES = ("primary", "replica")


def _confirmation_problems(spec: DrillSpec) -> Iterator[tuple[str, str]]:
    """A stack drillkit did not create needs ``external.confirm``; drillkit's own, none."""
    confirm = spec.external.confirm if spec.external is not None else None
    check = getattr(spec.topology, "confirmation_problem", None)
    if check is None:
        if spec.external is not None:
            yield (
                "external",
                f"only for a stack drillkit did not create (topology kind compose or "
                f"containers); kind {spec.topology.kind} is drillkit's own and needs no "
                "confirmation: remove external",
            )
        return
    problem = check(confirm)
    if problem is not None:
        yield ("external.confirm" if spec.external is not None else "external"), problem


def reference_problems(spec: DrillSpec, registry: Registry) -> Iterator[tuple[str, str]]:
    """(field, problem) of what the topology cannot serve: a kind whose requirements it does not
    provide (from the registry), a role it lacks, a node it does not have."""
    topology = spec.topology
    nodes = topology.node_names()
    roles = registry.topologies[topology.kind].roles
    yield from _confirmation_problems(spec)
    provided = registry.topologies[topology.kind].provided(topology)
    readable = {Capability.SQL, Capability.PROBE_TABLE, Capability.REDIS, Capability.PROBE_KEYS}
    if spec.workload.readers and not provided & readable:
        yield (
            "workload.readers",
            f"readers are implemented for PostgreSQL and Redis topologies, not {topology.kind}; "
            "set workload.readers to 0",
        )
    if spec.workload.cache is not None:
        problem = registry.requirement_problem("workload.cache", (Capability.CACHE,), topology)
        if problem:
            yield "workload.cache", problem
    for i, fault in enumerate(spec.faults):
        problem = registry.requirement_problem(
            fault.kind, registry.faults[fault.kind].requires, topology
        )
        if problem:
            yield f"faults[{i}].kind", problem
        own_target = getattr(topology, "target_problem", None)
        for name in fault_nodes(fault):
            problem = registry.role_problem(name, topology) or (
                own_target(name) if own_target is not None else None
            )
            if problem:
                yield f"faults[{i}]", problem
            elif name not in roles and name not in nodes:
                yield (
                    f"faults[{i}]",
                    f"{name!r} is not a node of this topology; expected one of "
                    f"{', '.join(nodes)} or a role ({', '.join(roles)})",
                )
    for i, step in enumerate(spec.runbook):
        problem = registry.requirement_problem(
            step.step, registry.steps[step.step].requires, topology
        )
        if problem:
            yield f"runbook[{i}].step", problem
        own = getattr(step, "topology_problem", None)
        found = own(topology) if own is not None else None
        if found is not None:
            yield f"runbook[{i}].{found[0]}", found[1]
        for name in step.node_refs() if hasattr(step, "node_refs") else []:
            if name not in _STEP_ROLES and name not in nodes:
                field = next(
                    f for f in ("target", "onto", "node", "to", "candidate") if hasattr(step, f)
                )
                yield (
                    f"runbook[{i}].{field}",
                    f"{name!r} is not a node of this topology; expected host, "
                    f"{', '.join(_STEP_ROLES)} or one of {', '.join(nodes)}",
                )
