"""Every number a drill file can hold is finite and bounded, and every model refuses inf/nan."""

from __future__ import annotations

import math
import types
import typing
from collections.abc import Iterator

import annotated_types
import pytest
from pydantic import BaseModel, ValidationError

from drillkit.registry import REGISTRY
from drillkit.spec import DrillSpec


def _models(root: type[BaseModel], seen: set[type[BaseModel]]) -> Iterator[type[BaseModel]]:
    if root in seen:
        return
    seen.add(root)
    yield root
    for field in root.model_fields.values():
        stack: list[object] = [field.annotation]
        while stack:
            tp = stack.pop()
            if isinstance(tp, type) and issubclass(tp, BaseModel):
                yield from _models(tp, seen)
            stack.extend(typing.get_args(tp))


def all_models() -> list[type[BaseModel]]:
    seen: set[type[BaseModel]] = set()
    roots: list[type[BaseModel]] = [DrillSpec]
    roots += [e.model for e in REGISTRY.faults.values()]
    roots += [e.model for e in REGISTRY.steps.values()]
    roots += [t.model for t in REGISTRY.topologies.values()]
    return [m for r in roots for m in _models(r, seen)]


def _numbers() -> Iterator[tuple[type[BaseModel], str, type]]:
    for model in all_models():
        for name, field in model.model_fields.items():
            args = typing.get_args(field.annotation) or (field.annotation,)
            if (
                isinstance(field.annotation, types.UnionType)
                or typing.get_origin(field.annotation) is typing.Union
            ):
                args = typing.get_args(field.annotation)
            for tp in args:
                if tp in (int, float):
                    yield model, name, tp


NUMBERS = sorted(_numbers(), key=lambda t: (t[0].__name__, t[1]))


def test_the_walk_finds_the_numbers() -> None:
    names = {f"{m.__name__}.{n}" for m, n, _ in NUMBERS}
    assert "Targets.rpo_seconds" in names
    assert "WorkloadSpec.rate" in names
    assert len(NUMBERS) > 40


@pytest.mark.parametrize(("model", "name", "tp"), NUMBERS, ids=lambda v: getattr(v, "__name__", v))
def test_every_number_has_an_upper_bound(model: type[BaseModel], name: str, tp: type) -> None:
    field = model.model_fields[name]
    assert any(isinstance(m, annotated_types.Le | annotated_types.Lt) for m in field.metadata), (
        f"{model.__name__}.{name} has no upper bound (le=...)"
    )


FLOATS = [(m, n) for m, n, tp in NUMBERS if tp is float]


@pytest.mark.parametrize(("model", "name"), FLOATS, ids=lambda v: getattr(v, "__name__", v))
@pytest.mark.parametrize("value", [math.inf, -math.inf, math.nan])
def test_every_float_field_refuses_inf_and_nan(
    model: type[BaseModel], name: str, value: float
) -> None:
    assert model.model_config.get("allow_inf_nan") is False, model.__name__
    with pytest.raises(ValidationError) as info:
        model.model_validate({name: value})
    assert any(e["loc"] == (name,) for e in info.value.errors()), info.value.errors()
