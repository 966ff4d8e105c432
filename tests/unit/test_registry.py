"""The registry is the one place a kind is declared: a new fault kind is one class and one line."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pytest
import yaml
from pydantic import Field

from drillkit.faults import FAULTS, make_fault
from drillkit.faults.base import NodeFault
from drillkit.faults.nemesis import Nemesis
from drillkit.history import History, OpType
from drillkit.registry import FAULT_SPECS, REGISTRY, Capability, Entry
from drillkit.runbook import STEPS
from drillkit.spec import DrillFileError, DrillSpec, drill_model, load_drill
from drillkit.spec.faults import TargetedFault
from drillkit.topology import TOPOLOGIES


# A new fault kind: its drill-file model and its implementation...
class FreezeClockFault(TargetedFault):
    """Stop the node's clock from advancing. Heal: let it run again."""

    kind: Literal["freeze-clock"]
    seconds: float = Field(1.0, gt=0, le=60, description="how long each freeze lasts")


class FreezeClock(NodeFault):
    kind = "freeze-clock"

    def _inject(self, topology: Any, node: Any) -> str:
        node.frozen = True
        return f"{node.name}: clock frozen for {self.spec.seconds:g} s"

    def _heal(self, topology: Any, node: Any) -> str:
        node.frozen = False
        return f"{node.name}: clock runs"


# ...and its one registry line (SQL only to show the compatibility check; a clock needs none).
TOY = REGISTRY.adding(faults=[Entry(FreezeClockFault, FreezeClock, (Capability.SQL,))])


@dataclass
class FakeNode:
    name: str
    role: str = "replica"
    frozen: bool = False


@dataclass
class FakeTopology:
    nodes: list[FakeNode] = field(default_factory=lambda: [FakeNode("pg0", "primary")])

    def resolve(self, target: str) -> list[FakeNode]:
        return [n for n in self.nodes if target in (n.name, n.role)]


def _write(tmp_path: Path, topology: dict[str, Any], *faults: dict[str, Any]) -> Path:
    path = tmp_path / "drill.yaml"
    doc = {"name": "d", "topology": topology, "faults": list(faults), "targets": {"rto_seconds": 5}}
    path.write_text(yaml.safe_dump(doc))
    return path


def test_a_fault_kind_added_by_one_registry_line_validates_and_runs(tmp_path: Path) -> None:
    path = _write(tmp_path, {"kind": "postgres"}, {"kind": "freeze-clock", "seconds": 2})
    spec = load_drill(path, registry=TOY)
    fault = spec.faults[0]
    assert isinstance(fault, FreezeClockFault) and fault.seconds == 2
    assert isinstance(spec, DrillSpec)

    topology = FakeTopology()
    history = History()
    instance = make_fault(fault, TOY)
    instance.inject(topology, history)  # type: ignore[arg-type]
    assert topology.nodes[0].frozen
    instance.heal(topology, history)  # type: ignore[arg-type]
    assert not topology.nodes[0].frozen
    done = [(op.f, op.type) for op in history.ops() if op.type is not OpType.INVOKE]
    assert done == [("freeze-clock", OpType.OK), ("heal-freeze-clock", OpType.OK)]


def test_the_new_kind_runs_under_the_nemesis(tmp_path: Path) -> None:
    path = _write(tmp_path, {"kind": "postgres"}, {"kind": "freeze-clock", "target": "pg0"})
    spec = load_drill(path, registry=TOY)
    topology = FakeTopology()
    nemesis = Nemesis(
        spec.faults,
        topology,  # type: ignore[arg-type]
        History(),
        functools.partial(make_fault, registry=TOY),
        expected_latency=lambda _kind: 0.0,
    )
    nemesis.start()
    assert nemesis.wait(5)
    assert topology.nodes[0].frozen and not nemesis.errors
    nemesis.heal_all()
    assert not topology.nodes[0].frozen


def test_the_new_kind_is_checked_against_the_topology_and_its_parameters(tmp_path: Path) -> None:
    redis = _write(tmp_path, {"kind": "redis"}, {"kind": "freeze-clock"})
    with pytest.raises(DrillFileError) as info:
        load_drill(redis, registry=TOY)
    assert (info.value.field, info.value.problem) == (
        "faults[0].kind",
        "freeze-clock needs topology.kind: postgres or patroni",
    )
    bad = _write(tmp_path, {"kind": "postgres"}, {"kind": "freeze-clock", "seconds": 0})
    with pytest.raises(DrillFileError) as info:
        load_drill(bad, registry=TOY)
    assert info.value.field == "faults[0].seconds"


def test_the_built_in_registry_does_not_know_the_new_kind(tmp_path: Path) -> None:
    path = _write(tmp_path, {"kind": "postgres"}, {"kind": "freeze-clock"})
    with pytest.raises(DrillFileError) as info:
        load_drill(path)
    assert info.value.field == "faults[0].kind"
    assert info.value.problem.startswith("'freeze-clock' is not a fault; expected one of kill,")
    assert "freeze-clock" not in FAULTS and "freeze-clock" in TOY.faults
    assert drill_model() is DrillSpec and drill_model(TOY) is drill_model(TOY)


def test_a_kind_is_registered_once() -> None:
    with pytest.raises(ValueError, match="'kill' is registered twice"):
        REGISTRY.adding(faults=[REGISTRY.faults["kill"]])


# Everything else is derived from the registry.
def test_tables_are_derived_from_the_registry() -> None:
    assert list(FAULT_SPECS) == list(REGISTRY.faults) == list(FAULTS)
    assert list(STEPS) == list(REGISTRY.steps)
    assert list(TOPOLOGIES) == list(REGISTRY.topologies)
    for kind, entry in REGISTRY.faults.items():
        assert FAULTS[kind] is entry.load() and entry.load().kind == kind
    for kind, entry in REGISTRY.steps.items():
        assert STEPS[kind] is entry.load()


def test_every_requirement_is_provided_by_some_topology_kind() -> None:
    for entry in [*REGISTRY.faults.values(), *REGISTRY.steps.values()]:
        assert REGISTRY.serving(entry.requires), entry.name


@pytest.mark.parametrize(
    ("topology", "entry", "problem"),
    [
        (
            {"kind": "redis"},
            {"step": "restore"},
            "restore needs topology.kind: postgres or patroni",
        ),
        ({"kind": "redis"}, {"step": "rejoin"}, "rejoin needs topology.kind: postgres or patroni"),
        ({"kind": "patroni"}, {"step": "repoint"}, "repoint needs topology.kind: postgres"),
        ({"kind": "redis"}, {"step": "redis-promote"}, None),
        (
            {"kind": "postgres"},
            {"step": "redis-promote"},
            "redis-promote needs topology.kind: redis",
        ),
        ({"kind": "patroni"}, {"kind": "fill-disk"}, "fill-disk needs topology.kind: postgres"),
        ({"kind": "patroni"}, {"kind": "corrupt"}, None),
        ({"kind": "redis"}, {"kind": "replication-lag", "duration": 1}, None),
    ],
)
def test_requirements_against_each_topology_kind(
    tmp_path: Path, topology: dict[str, Any], entry: dict[str, Any], problem: str | None
) -> None:
    faults, runbook = ([entry], []) if "kind" in entry else ([{"kind": "kill"}], [entry])
    path = tmp_path / "drill.yaml"
    doc = {"name": "d", "topology": topology, "faults": faults, "runbook": runbook}
    path.write_text(yaml.safe_dump({**doc, "targets": {"rto_seconds": 5}}))
    if problem is None:
        load_drill(path)
        return
    with pytest.raises(DrillFileError) as info:
        load_drill(path)
    assert info.value.problem == problem
