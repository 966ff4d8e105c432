"""Drill files: the declarative description of a drill, validated completely before anything runs.

A drill file names a topology (inline, or a scenario under ``scenarios/``), a workload, the faults
to inject, the runbook that restores service and the targets the result is judged against.
Every error names the file, the field path and the fix (see :class:`DrillFileError`).
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model, model_validator

from drillkit.errors import EXIT_BAD_INPUT, DrillkitError
from drillkit.registry import REGISTRY, Registry, tagged_union
from drillkit.spec_faults import FaultBase, fault_nodes, schedule_problems
from drillkit.spec_postgres import PostgresTopology, PromoteStep

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
    "drill_model",
    "load_drill",
    "resolve_drill_path",
]


class DrillFileError(DrillkitError):
    """A drill or scenario file is invalid. ``str()`` is ``file: field: problem``."""

    exit_code = EXIT_BAD_INPUT

    def __init__(self, path: Path | str, field: str, problem: str) -> None:
        self.path = str(path)
        self.field = field
        self.problem = problem
        where = f"{self.path}: {field}: " if field else f"{self.path}: "
        super().__init__(where + problem)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


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


@cache
def scenario_model(registry: Registry = REGISTRY) -> type[BaseModel]:
    """A scenario file's model: its topology, one of ``registry``'s kinds."""
    if registry is REGISTRY:
        return _ScenarioFile
    return create_model(
        "ScenarioFile", __base__=_ScenarioFile, topology=(_topology_union(registry), ...)
    )


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
        return "unknown field; check the spelling against docs/reference/drill-file.md"
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


def _resolve_topology(
    path: Path, data: dict[str, Any], scenarios_dir: Path, registry: Registry
) -> dict[str, Any]:
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
        scenario_model(registry).model_validate({"topology": scenario["topology"]})
    except ValidationError as e:
        err = e.errors()[0]
        raise DrillFileError(
            scenario_path, _field_path(err["loc"], scenario), _problem(err)
        ) from None
    return {**data, "topology": scenario["topology"]}


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


def load_drill(
    path: Path, scenarios_dir: Path | None = None, *, registry: Registry = REGISTRY
) -> DrillSpec:
    """Parse and validate a drill file; raise :class:`DrillFileError` naming the first problem.

    ``registry`` says which fault, step and topology kinds exist and what each needs."""
    data = _load_yaml(path)
    if not isinstance(data, dict):
        raise DrillFileError(path, "", "a drill file must be a YAML mapping (name, topology, ...)")
    if scenarios_dir is None:
        scenarios_dir = path.resolve().parent.parent / "scenarios"
    data = _resolve_topology(path, data, scenarios_dir, registry)
    try:
        spec = drill_model(registry).model_validate(data)
    except ValidationError as e:
        err = e.errors()[0]
        field = _field_path(err["loc"], data)
        if err["type"] in ("union_tag_invalid", "union_tag_not_found"):
            field += "." + str((err.get("ctx") or {}).get("discriminator", "kind")).strip("'")
        raise DrillFileError(path, field, _problem(err)) from None
    for field, problem in _reference_problems(spec, registry):
        raise DrillFileError(path, field, problem)
    return spec


_STEP_ROLES = ("primary", "replica")


def _reference_problems(spec: DrillSpec, registry: Registry) -> Iterator[tuple[str, str]]:
    """(field, problem) of what the topology cannot serve: a kind whose requirements it does not
    provide (from the registry), a role it lacks, a node it does not have."""
    topology = spec.topology
    nodes = topology.node_names()
    roles = registry.topologies[topology.kind].roles
    for i, fault in enumerate(spec.faults):
        problem = registry.requirement_problem(
            fault.kind, registry.faults[fault.kind].requires, topology
        )
        if problem:
            yield f"faults[{i}].kind", problem
        for name in fault_nodes(fault):
            problem = registry.role_problem(name, topology)
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


def resolve_drill_path(name_or_path: str, drills_dir: Path) -> Path:
    """``failover`` means ``drills/failover.yaml``; anything with a slash or suffix is a path."""
    candidate = Path(name_or_path)
    if candidate.suffix in {".yaml", ".yml"} or "/" in name_or_path:
        return candidate
    return drills_dir / f"{name_or_path}.yaml"
