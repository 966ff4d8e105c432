"""``drillkit plan DRILL``: what a run would strike, how, when and for how long, touching nothing.

A plan is a value: the nodes (for a stack drillkit did not create, the containers found by
read-only Docker calls, each with its role asked by read-only SQL; for drillkit's own topology,
the nodes a run would create), each scheduled injection (from :func:`drillkit.faults.schedule.plan`,
the same arithmetic the Nemesis runs) with the nodes its target designates now, and the runbook.
Roles are resolved again at each injection during a run, so a plan shows where they point today.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from drillkit.faults.schedule import plan as schedule
from drillkit.spec import DrillSpec
from drillkit.spec.faults import ROLES, fault_nodes

__all__ = [
    "DrillPlan",
    "PlannedInjection",
    "PlannedNode",
    "PlannedStep",
    "Survey",
    "docker_survey",
    "plan_drill",
    "render_plan",
]

_TIMING = {"kind", "at", "duration", "repeat", "incident"}
_HEAL = re.compile(r"Heal:\s*([^\n]*?\.)(?:\s|$)")


@dataclass(frozen=True)
class PlannedNode:
    """A node a run would act on: found (a stack drillkit did not create) or to be created."""

    name: str
    role: str = ""  # primary, replica, unknown; "" for a node drillkit would create
    container: str = ""
    container_id: str = ""
    image: str = ""
    status: str = ""
    host_port: int | None = None
    note: str = ""


@dataclass(frozen=True)
class PlannedInjection:
    """One injection of one fault entry (``repeat`` gives several)."""

    entry: int  # faults[entry]
    kind: str
    how: str  # what the fault does, from its drill-file model
    target: str  # as the drill writes it
    nodes: list[str]  # the nodes it designates now
    containers: list[str]  # their containers ("" for a node drillkit would create)
    parameters: dict[str, Any]
    at: float  # seconds after the fault phase starts
    heal_at: float | None  # None: not before the end of the drill
    heal: str
    incident: bool
    note: str = ""


@dataclass(frozen=True)
class PlannedStep:
    index: int
    step: str
    name: str
    where: str
    parameters: dict[str, Any]


@dataclass(frozen=True)
class DrillPlan:
    drill: str
    file: str
    topology: str  # the kind
    target: str  # in words
    external: bool
    confirm: str | None
    warmup_seconds: float
    steady_state_timeout_seconds: float
    observe_seconds: float
    nodes: list[PlannedNode]
    injections: list[PlannedInjection]
    runbook: list[PlannedStep]
    engine: dict[str, str] = field(default_factory=dict)
    probe: str = "drop the probe table"  # an external stack's last step ("delete the probe key")

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


Survey = Callable[[Any], tuple[list[PlannedNode], dict[str, str]]]
"""Finds an external topology's nodes (read-only) and names the engine."""


def _how(model: type[Any]) -> tuple[str, str]:
    """(what the fault does, its heal) from the model's docstring."""
    doc = " ".join((model.__doc__ or "").split())
    heal = _HEAL.search(doc)
    how = doc[: heal.start()].strip() if heal else doc
    return how, (heal.group(1) if heal else "")


def _resolve(
    target: str, nodes: list[PlannedNode], external: bool, pool: list[str], every: list[str]
) -> tuple[list[str], str]:
    """The nodes ``target`` designates now, and a note when that is decided only at injection.
    ``every``: the nodes ``all`` designates (a cache node, etcd or HAProxy only by name)."""
    names = [n.name for n in nodes]
    if target in names:
        return [target], ""
    if target == "all":
        return every, ""
    if not external or target not in ROLES:
        among = f" (among {', '.join(pool)})" if pool and target in ROLES else ""
        return [], f"{target}: resolved when injected{among}"
    running = [n for n in nodes if n.status == "running"]
    primaries = [n.name for n in running if n.role == "primary"]
    replicas = [n.name for n in running if n.role == "replica"]
    later = "; roles are asked again when it is injected"
    if target == "primary":
        if len(primaries) != 1:
            return [], f"no single primary now ({len(primaries)} found): the run would not start"
        return primaries, f"the primary now{later}"
    if target in ("replica", "replicas"):
        chosen = replicas[:1] if target == "replica" else replicas
        return (
            chosen,
            f"{'the first replica' if target == 'replica' else 'every replica'} now{later}",
        )
    return [], f"random: one of {', '.join(n.name for n in running)}, chosen when injected"


def _role_pool(topology: Any, names: list[str]) -> list[str]:
    """The nodes roles choose among (data nodes: not etcd, Sentinels or proxies)."""
    for attr in ("member_names", "data_node_names"):
        method = getattr(topology, attr, None)
        if method is not None:
            return list(method())
    return names


def plan_drill(spec: DrillSpec, *, file: str, survey: Survey | None = None) -> DrillPlan:
    """The plan of ``spec``. ``survey`` finds an external stack's nodes (read-only; required
    for kind compose/containers: :func:`docker_survey`); drillkit's own topology needs none."""
    topology = spec.topology
    describe = getattr(topology, "describe", None)
    external = describe is not None
    engine: dict[str, str] = {}
    if describe is not None:
        if survey is None:
            raise ValueError("an external topology needs a survey")
        nodes, engine = survey(topology)
        target = f"{describe()}, not drillkit's: only the faults and steps below act on it"
    else:
        nodes = [PlannedNode(name) for name in topology.node_names()]
        target = f"drillkit's own {topology.kind} topology, created for the run and removed after"
    by_name = {n.name: n for n in nodes}
    pool = _role_pool(topology, [n.name for n in nodes])
    all_names = getattr(topology, "all_names", None)
    every = list(all_names()) if all_names is not None else [n.name for n in nodes]
    injections = []
    for event in schedule(spec.faults):
        if event.action != "inject":
            continue
        fault = spec.faults[event.entry]
        how, heal_doc = _how(type(fault))
        names, notes = [], []
        for mentioned in fault_nodes(fault) or ["primary"]:
            resolved, note = _resolve(mentioned, nodes, external, pool, every)
            names += [n for n in resolved if n not in names]
            notes += [note] if note else []
        if fault.duration is not None:
            heal_at: float | None = event.at + fault.duration
            heal = f"healed at +{heal_at:g} s (after {fault.duration:g} s)"
        else:
            heal_at = None
            heal = "at the end of the drill, after observing" + (
                f": {heal_doc[0].lower()}{heal_doc[1:]}" if heal_doc else ""
            )
        params = {
            k: v
            for k, v in fault.model_dump(mode="json").items()
            if k not in _TIMING and k not in ("target",)
        }
        injections.append(
            PlannedInjection(
                entry=event.entry,
                kind=fault.kind,
                how=how,
                target=" ".join(fault_nodes(fault)) or "-",
                nodes=names,
                containers=[by_name[n].container if n in by_name else "" for n in names],
                parameters=params,
                at=event.at,
                heal_at=heal_at,
                heal=heal,
                incident=fault.incident,
                note="; ".join(notes),
            )
        )
    steps = []
    for i, step in enumerate(spec.runbook):
        params = step.model_dump(mode="json", exclude={"step", "name"})
        where = str(params.get("target", ""))
        if step.step == "shell":
            where = "on this host" if where == "host" else f"inside {where}"
        elif where:
            where = f"on {where}"
        steps.append(
            PlannedStep(i, step.step, str(getattr(step, "name", step.step)), where, params)
        )
    return DrillPlan(
        drill=spec.name,
        file=file,
        topology=topology.kind,
        target=target,
        external=external,
        confirm=spec.external.confirm if spec.external is not None else None,
        warmup_seconds=spec.workload.warmup_seconds,
        steady_state_timeout_seconds=spec.steady_state.timeout_seconds,
        observe_seconds=spec.workload.observe_seconds,
        nodes=nodes,
        injections=injections,
        runbook=steps,
        engine=engine,
        probe=(
            "delete the probe key"
            if getattr(topology, "engine", "") == "redis"
            else "drop the probe table"
        ),
    )


def _node_line(n: PlannedNode) -> str:
    parts = [f"  {n.name:<12}"]
    if n.role:
        parts.append(f"{n.role:<8}")
    if n.container:
        parts.append(f"container {n.container} ({n.container_id[:12]})")
    if n.image:
        parts.append(f"image {n.image}")
    if n.status:
        parts.append(n.status)
    if n.host_port is not None:
        parts.append(f"127.0.0.1:{n.host_port}")
    if n.note:
        parts.append(f"[{n.note}]")
    return "  ".join(parts)


def render_plan(p: DrillPlan) -> list[str]:
    """The plan as text lines (``drillkit plan``)."""
    lines = [f"plan of {p.drill} ({p.file}); nothing was touched", f"target: {p.target}"]
    if p.confirm is not None:
        lines.append(f"confirmed as {p.confirm!r}: run it with --target {p.confirm}")
    if p.engine:
        lines.append("engine: " + ", ".join(f"{k} {v}" for k, v in p.engine.items() if v))
    lines.append("nodes:" if p.external else "nodes (created by the run):")
    lines += [_node_line(n) for n in p.nodes]
    lines.append(
        f"faults (seconds after the fault phase starts: after {p.warmup_seconds:g} s of writes, "
        f"once the stack is healthy, within {p.steady_state_timeout_seconds:g} s):"
    )
    for i in p.injections:
        struck = ", ".join(
            f"{n} ({c})" if c else n for n, c in zip(i.nodes, i.containers, strict=True)
        )
        params = ", ".join(f"{k}={v}" for k, v in i.parameters.items())
        lines.append(
            f"  +{i.at:g} s  faults[{i.entry}] {i.kind} {i.target} -> "
            f"{struck or '(resolved when injected)'}" + (" (the incident)" if i.incident else "")
        )
        lines.append(f"      how: {i.how}" + (f" [{params}]" if params else ""))
        lines.append(f"      heal: {i.heal}")
        if i.note:
            lines.append(f"      note: {i.note}")
    if p.runbook:
        lines.append("runbook (once the incident takes effect, in order):")
    for s in p.runbook:
        params = ", ".join(
            f"{k}={' '.join(str(v).split())[:80]}" for k, v in s.parameters.items() if k != "target"
        )
        where = f" {s.where}" if s.where else ""
        lines.append(f"  runbook[{s.index}] {s.step} {s.name!r}{where}: {params}")
    lines.append(
        f"then: observe {p.observe_seconds:g} s, heal what is still injected, final read"
        + (f", {p.probe}" if p.external else ", remove the topology")
    )
    return lines


def docker_survey(client: Any, environ: Mapping[str, str] | None = None) -> Survey:
    """A :data:`Survey` over the Docker engine ``client``: list and inspect containers, ask each
    running node ``pg_is_in_recovery()``, read the daemon's identity; nothing else."""
    from drillkit.backend.docker.attach import engine_identity
    from drillkit.secrets import Secrets
    from drillkit.topology.external import ExternalStack

    def survey(topology: Any) -> tuple[list[PlannedNode], dict[str, str]]:
        stack = ExternalStack(
            client,
            topology,
            run_id="plan",
            labels={},
            image="",
            secrets=Secrets(),
            progress=lambda _m: None,
            environ=environ,
        )
        nodes = [
            PlannedNode(
                s.name, s.role, s.container, s.container_id, s.image, s.status, s.host_port, s.note
            )
            for s in stack.survey()
        ]
        return nodes, engine_identity(client, environ)

    return survey
