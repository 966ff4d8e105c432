"""Drill files: the declarative description of a drill, validated completely before anything runs.

A drill file names a topology (inline, or a scenario under ``scenarios/``), a workload, the faults
to inject, the runbook that restores service and the targets the result is judged against.
Every error names the file, the field path and the fix (see :class:`DrillFileError`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from drillkit.spec_faults import ROLES, FaultSpec, fault_nodes, schedule_problems
from drillkit.spec_postgres import (
    POSTGRES_STEPS,
    PatroniTopology,
    PostgresOptions,
    runbook_problems,
)
from drillkit.spec_redis import (
    RedisPromoteStep,
    RedisRestoreStep,
    RedisTopology,
    WaitSentinelFailoverStep,
    topology_problem,
)

__all__ = [
    "DrillFileError",
    "DrillSpec",
    "FaultSpec",
    "PostgresTopology",
    "PromoteStep",
    "RunbookStep",
    "SteadyState",
    "Targets",
    "Workload",
    "load_drill",
    "resolve_drill_path",
]


class DrillFileError(Exception):
    """A drill or scenario file is invalid. ``str()`` is ``file: field: problem``."""

    def __init__(self, path: Path | str, field: str, problem: str) -> None:
        self.path = str(path)
        self.field = field
        self.problem = problem
        where = f"{self.path}: {field}: " if field else f"{self.path}: "
        super().__init__(where + problem)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PostgresTopology(PostgresOptions):
    """A PostgreSQL primary with ``replicas`` streaming replicas (options: spec_postgres)."""

    kind: Literal["postgres"] = "postgres"
    replicas: int = Field(1, ge=1, le=5, description="number of streaming replicas")
    data_volume_size: str | None = Field(
        None,
        pattern=r"^[0-9]+[kmg]$",
        description="size-limited (tmpfs) data volumes, e.g. 256m; needed by fill-disk",
    )

    def node_names(self) -> list[str]:
        return [f"pg{i}" for i in range(self.replicas + 1)]


Topology = Annotated[
    PostgresTopology | PatroniTopology | RedisTopology, Field(discriminator="kind")
]


class Workload(_Strict):
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

    @model_validator(mode="after")
    def _window_fits(self) -> Workload:
        if self.stable_window_seconds > self.observe_seconds:
            raise ValueError(
                f"stable_window_seconds ({self.stable_window_seconds}) must not exceed "
                f"observe_seconds ({self.observe_seconds}): recovery could never be confirmed"
            )
        return self


class SteadyState(_Strict):
    """What 'healthy' means before a fault may be injected."""

    max_replica_lag_bytes: int = Field(16 * 1024 * 1024, ge=0)
    min_ok_writes: int = Field(10, ge=1, description="acknowledged writes needed before the fault")
    timeout_seconds: float = Field(30.0, gt=0, le=600)


class PromoteStep(_Strict):
    """Promote the most advanced surviving replica with pg_promote()."""

    step: Literal["promote"]
    delay_seconds: float = Field(
        0.0, ge=0, le=3600, description="models detection and decision time before acting"
    )
    timeout_seconds: float = Field(30.0, gt=0, le=3600)


RunbookStep = Annotated[
    PromoteStep | POSTGRES_STEPS | WaitSentinelFailoverStep | RedisPromoteStep | RedisRestoreStep,
    Field(discriminator="step"),
]


class Targets(_Strict):
    """Declared objectives; a target left out is not judged."""

    rpo_seconds: float | None = Field(None, ge=0)
    rto_seconds: float | None = Field(None, ge=0)
    max_lost_writes: int | None = Field(None, ge=0)

    @model_validator(mode="after")
    def _at_least_one(self) -> Targets:
        if self.rpo_seconds is None and self.rto_seconds is None and self.max_lost_writes is None:
            raise ValueError("declare at least one of rpo_seconds, rto_seconds, max_lost_writes")
        return self


class DrillSpec(_Strict):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")
    description: str = ""
    topology: Topology
    workload: Workload = Workload()
    steady_state: SteadyState = SteadyState()
    faults: list[FaultSpec] = Field(min_length=1)
    runbook: list[RunbookStep] = Field(default_factory=list)
    targets: Targets

    @model_validator(mode="after")
    def _schedule(self) -> DrillSpec:
        """At most one incident; no two exclusive faults on one node at once."""
        problems = schedule_problems(list(self.faults))
        if problems:
            raise ValueError(problems[0])
        return self


class _ScenarioFile(_Strict):
    topology: Topology


_ENUM_ERRORS = {"literal_error", "enum"}


def _field_path(loc: tuple[int | str, ...], data: Any) -> str:
    """Render a pydantic location as ``faults[1].kind``, dropping tagged-union tag names."""
    parts: list[str] = []
    node: Any = data
    skip_tag = False
    for item in loc:
        if isinstance(item, int):
            parts.append(f"[{item}]")
            node = node[item] if isinstance(node, list) and item < len(node) else None
            skip_tag = isinstance(node, dict)
            continue
        if skip_tag and isinstance(node, dict) and item in (node.get("kind"), node.get("step")):
            skip_tag = False
            continue
        skip_tag = item == "topology"  # its kind tag follows, like a fault's
        parts.append(("." if parts else "") + str(item))
        node = node.get(item) if isinstance(node, dict) else None
    return "".join(parts)


def _problem(err: Any) -> str:
    kind = err["type"]
    ctx = err.get("ctx") or {}
    given = err.get("input")
    if kind == "union_tag_invalid":
        tag = ctx.get("discriminator", "").strip("'")
        noun = "a fault" if tag == "kind" else "a runbook step"
        if tuple(err["loc"][:1]) == ("topology",):
            noun = "a topology"
        return (
            f"{ctx.get('tag')!r} is not {noun}; expected one of "
            f"{ctx.get('expected_tags', '').replace(chr(39), '')}"
        )
    if kind == "union_tag_not_found":
        return f"missing {ctx.get('discriminator', 'kind')}; say which one this is"
    if kind in _ENUM_ERRORS:
        return f"{given!r} is not allowed; expected {ctx.get('expected')}"
    if kind == "extra_forbidden":
        return "unknown field; check the spelling against the drill file reference in the README"
    if kind == "missing":
        return "required field is missing"
    msg = str(err["msg"])
    return msg.removeprefix("Value error, ")


def _load_yaml(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DrillFileError(path, "", "no such file") from None
    except OSError as e:
        raise DrillFileError(path, "", f"cannot read: {e.strerror}") from None
    except UnicodeDecodeError:
        raise DrillFileError(path, "", "not UTF-8 text; save the file as UTF-8") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else ""
        raise DrillFileError(path, where, f"not valid YAML: {getattr(e, 'problem', e)}") from None


def _resolve_topology(path: Path, data: dict[str, Any], scenarios_dir: Path) -> dict[str, Any]:
    """Replace ``topology: NAME`` with the topology of ``scenarios/NAME.yaml``."""
    ref = data.get("topology")
    if not isinstance(ref, str):
        return data
    scenario_path = scenarios_dir / f"{ref}.yaml"
    if not scenario_path.is_file():
        known = (
            sorted(p.stem for p in scenarios_dir.glob("*.yaml")) if scenarios_dir.is_dir() else []
        )
        raise DrillFileError(
            path,
            "topology",
            f"no scenario {ref!r} in {scenarios_dir}; expected one of "
            f"{', '.join(known) or '(none)'} or an inline mapping",
        )
    scenario = _load_yaml(scenario_path)
    if not isinstance(scenario, dict) or not isinstance(scenario.get("topology"), dict):
        raise DrillFileError(scenario_path, "topology", "a scenario needs a 'topology' mapping")
    unknown = set(scenario) - {"topology", "description"}
    if unknown:
        raise DrillFileError(scenario_path, sorted(unknown)[0], "unknown field")
    try:  # errors inside a scenario name the scenario file, not the drill that uses it
        _ScenarioFile.model_validate({"topology": scenario["topology"]})
    except ValidationError as e:
        err = e.errors()[0]
        raise DrillFileError(
            scenario_path, _field_path(err["loc"], scenario), _problem(err)
        ) from None
    return {**data, "topology": scenario["topology"]}


def load_drill(path: Path, scenarios_dir: Path | None = None) -> DrillSpec:
    """Parse and validate a drill file; raise :class:`DrillFileError` naming the first problem."""
    data = _load_yaml(path)
    if not isinstance(data, dict):
        raise DrillFileError(path, "", "a drill file must be a YAML mapping (name, topology, ...)")
    if scenarios_dir is None:
        scenarios_dir = path.resolve().parent.parent / "scenarios"
    data = _resolve_topology(path, data, scenarios_dir)
    try:
        spec = DrillSpec.model_validate(data)
    except ValidationError as e:
        err = e.errors()[0]
        field = _field_path(err["loc"], data)
        if err["type"] in ("union_tag_invalid", "union_tag_not_found"):
            field += "." + str((err.get("ctx") or {}).get("discriminator", "kind")).strip("'")
        raise DrillFileError(path, field, _problem(err)) from None
    _check_references(path, spec)
    return spec


# Roles that only some topology kinds have.
_ROLE_KINDS = {"sentinel": "redis", "sentinels": "redis", "etcd": "patroni"}


def _check_references(path: Path, spec: DrillSpec) -> None:
    """Cross-field checks: fault targets exist in the topology, fill-disk has a sized volume."""
    nodes = spec.topology.node_names()
    mentioned = [fault_nodes(fault) for fault in spec.faults]
    mismatch = topology_problem(spec.topology, spec.faults, spec.runbook, mentioned)
    if mismatch is not None:
        raise DrillFileError(path, *mismatch)
    for i, fault in enumerate(spec.faults):
        for name in fault_nodes(fault):
            only = _ROLE_KINDS.get(name)
            if only is not None and spec.topology.kind != only:
                raise DrillFileError(
                    path,
                    f"faults[{i}]",
                    f"the role {name!r} exists only in a {only} topology, not in "
                    f"{spec.topology.kind}; name a node or another role",
                )
            if name not in ROLES and name not in nodes:
                raise DrillFileError(
                    path,
                    f"faults[{i}]",
                    f"{name!r} is not a node of this topology; expected one of "
                    f"{', '.join(nodes)} or a role ({', '.join(ROLES)})",
                )
        sized = getattr(spec.topology, "data_volume_size", None)
        if fault.kind == "fill-disk" and sized is None:
            raise DrillFileError(
                path,
                f"faults[{i}].kind",
                "fill-disk needs a size-limited data volume: set topology.data_volume_size "
                "(e.g. 256m)",
            )
    for field, problem in runbook_problems(spec.runbook, spec.topology):
        raise DrillFileError(path, field, problem)


def resolve_drill_path(name_or_path: str, drills_dir: Path) -> Path:
    """``failover`` means ``drills/failover.yaml``; anything with a slash or suffix is a path."""
    candidate = Path(name_or_path)
    if candidate.suffix in {".yaml", ".yml"} or "/" in name_or_path:
        return candidate
    return drills_dir / f"{name_or_path}.yaml"
