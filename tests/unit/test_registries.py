"""Every kind a drill file may name has an implementation behind it (no stub called done)."""

from __future__ import annotations

import typing

from drillkit.faults import FAULTS
from drillkit.runbook import STEPS
from drillkit.spec import DrillSpec
from drillkit.spec.faults import FAULT_SPECS
from drillkit.topology import TOPOLOGIES


def _tags(annotation: object, field: str) -> set[str]:
    """The literal tag values of a discriminated union (or a single model)."""
    inner = (
        typing.get_args(annotation)[0]
        if typing.get_origin(annotation) is typing.Annotated
        else annotation
    )
    models = typing.get_args(inner) or (inner,)
    return {typing.get_args(m.model_fields[field].annotation)[0] for m in models}


def test_every_fault_kind_is_implemented() -> None:
    assert set(FAULT_SPECS) == set(FAULTS)


def test_every_runbook_step_is_implemented() -> None:
    item = typing.get_args(DrillSpec.model_fields["runbook"].annotation)[0]
    assert _tags(item, "step") == set(STEPS)


def test_every_topology_kind_is_implemented() -> None:
    assert _tags(DrillSpec.model_fields["topology"].annotation, "kind") == set(TOPOLOGIES)
