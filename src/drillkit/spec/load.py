"""Reading drill files: YAML to a validated :class:`~drillkit.spec.model.DrillSpec`, every error
naming the file, the field path and the fix (see :class:`DrillFileError`).

A drill file names a topology (inline, or a scenario under ``scenarios/``), a workload, the faults
to inject, the runbook that restores service and the targets the result is judged against.
"""

from __future__ import annotations

import difflib
import re
import types
import typing
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from drillkit.errors import EXIT_BAD_INPUT, DrillkitError
from drillkit.registry import REGISTRY, Registry
from drillkit.shipped import scenarios_for
from drillkit.spec.model import DrillSpec, drill_model, reference_problems, scenario_model
from drillkit.spec.overrides import OverrideError, apply_overrides, parse_overrides
from drillkit.spec.reader import InputRejected, read_text, read_yaml
from drillkit.spec.settings import parse_postgresql_conf, parse_redis_conf, parse_sentinel_conf

__all__ = ["DrillFileError", "load_drill", "parse_drill", "resolve_drill_path"]


class DrillFileError(DrillkitError):
    """A drill or scenario file is invalid. ``str()`` is ``file: field: problem``."""

    exit_code = EXIT_BAD_INPUT

    def __init__(self, path: Path | str, field: str, problem: str) -> None:
        self.path = str(path)
        self.field = field
        self.problem = problem
        where = f"{self.path}: {field}: " if field else f"{self.path}: "
        super().__init__(where + problem)
        #: every problem found in the file, this one first (``drillkit validate`` shows them all)
        self.problems: list[DrillFileError] = [self]


def did_you_mean(given: object, choices: list[str] | tuple[str, ...]) -> str:
    """`` (did you mean 'kill'?)`` when ``given`` is close to one of ``choices``, else ``""``."""
    if not isinstance(given, str) or len(given) > 64:  # a name, not a hostile blob
        return ""
    close = difflib.get_close_matches(given, list(choices), n=3, cutoff=0.6)
    if not close:
        return ""
    return " (did you mean " + " or ".join(repr(c) for c in close) + "?)"


_ENUM_ERRORS = {"literal_error", "enum"}


def _show(value: Any, limit: int = 60) -> str:
    """``repr(value)`` cut to ``limit`` characters for a message."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


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


def _strip(annotation: Any) -> Any:
    while typing.get_origin(annotation) is typing.Annotated:
        annotation = typing.get_args(annotation)[0]
    return annotation


def _members(annotation: Any) -> list[Any]:
    annotation = _strip(annotation)
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return [_strip(a) for a in typing.get_args(annotation) if a is not type(None)]
    return [annotation]


def _is_model(typ: Any) -> bool:
    return isinstance(typ, type) and issubclass(typ, BaseModel)


def _tag_of(model: type[BaseModel]) -> str | None:
    for key in ("kind", "step"):
        field = model.model_fields.get(key)
        if field is not None and typing.get_origin(field.annotation) is typing.Literal:
            return str(typing.get_args(field.annotation)[0])
    return None


def _fields_at(model: type[BaseModel] | None, loc: tuple[int | str, ...]) -> list[str]:
    """The field names allowed beside the unknown field at ``loc`` (pydantic's location, tag
    names of tagged unions included), for "did you mean"; [] when it cannot be told."""
    current: list[Any] = [model] if model is not None else []
    for item in loc[:-1]:
        models = [t for t in current if _is_model(t)]
        if isinstance(item, int):
            current = [
                m
                for t in current
                if typing.get_origin(t) in (list, tuple)
                for m in _members(typing.get_args(t)[0])
            ]
        elif len(models) == 1 and item in models[0].model_fields:
            current = _members(models[0].model_fields[item].annotation)
        else:  # a tag name chooses the member of a tagged union
            current = [t for t in models if _tag_of(t) == item]
    models = [t for t in current if _is_model(t)]
    return list(models[0].model_fields) if len(models) == 1 else []


def _problem(err: Any, model: type[BaseModel] | None = None) -> str:
    kind = err["type"]
    ctx = err.get("ctx") or {}
    given = err.get("input")
    if kind == "union_tag_invalid":
        tag = ctx.get("discriminator", "").strip("'")
        noun = "a fault" if tag == "kind" else "a runbook step"
        if tuple(err["loc"][:1]) == ("topology",):
            noun = "a topology"
        expected = ctx.get("expected_tags", "").replace(chr(39), "")
        hint = did_you_mean(ctx.get("tag"), [t.strip() for t in expected.split(",")])
        return f"{_show(ctx.get('tag'))} is not {noun}{hint}; expected one of {expected}"
    if kind == "union_tag_not_found":
        return f"missing {ctx.get('discriminator', 'kind')}; say which one this is"
    if kind in _ENUM_ERRORS:
        return f"{_show(given)} is not allowed; expected {ctx.get('expected')}"
    if kind == "extra_forbidden":
        loc = tuple(err["loc"])
        hint = did_you_mean(loc[-1] if loc else None, _fields_at(model, loc))
        return f"unknown field{hint}; check the spelling against docs/reference/drill-file.md"
    if kind == "missing":
        return "required field is missing"
    msg = str(err["msg"])
    if len(msg) > 500:
        msg = msg[:497] + "..."
    return msg.removeprefix("Value error, ")


def _load_yaml(path: Path) -> Any:
    """The YAML in ``path``, read within the limits of :mod:`drillkit.spec.reader`."""
    try:
        return read_yaml(path)
    except InputRejected as e:
        raise DrillFileError(path, e.field, e.problem) from None


# A team's own configuration file, read relative to the file that names it: the mapping field
# its settings go into (the mapping's own entries win) and its parser.
_CONF_FILES = {
    "postgresql_conf_file": ("postgresql", parse_postgresql_conf),
    "redis_conf_file": ("redis", parse_redis_conf),
    "sentinel_conf_file": ("sentinel", parse_sentinel_conf),
}
Origins = dict[tuple[str, str], tuple[Path, int]]


def _inline_conf_files(path: Path, topology: Any, origins: Origins) -> Any:
    """``topology`` with each ``*_conf_file``'s settings merged under its mapping; ``origins``
    learns which file and line each merged setting came from."""
    if not isinstance(topology, dict):
        return topology
    out = dict(topology)
    for key, (group, parse) in _CONF_FILES.items():
        ref = topology.get(key)
        if ref is None:
            continue
        if not isinstance(ref, str) or not ref or "\x00" in ref:
            raise DrillFileError(path, f"topology.{key}", "expected a file name")
        conf = (path.parent / ref).resolve()
        try:
            parsed = parse(read_text(conf))
        except InputRejected as e:
            raise DrillFileError(path, f"topology.{key}", f"{conf}: {e.problem}") from None
        except ValueError as e:
            raise DrillFileError(conf, "", str(e)) from None
        own = topology.get(group) or {}
        if not isinstance(own, dict):
            continue  # the model says what is wrong with the mapping
        merged: dict[str, Any] = {name: value for name, (value, _line) in parsed.items()}
        for name, (_value, line) in parsed.items():
            if name not in own:
                origins[(group, name)] = (conf, line)
        out[group] = {**merged, **own}
    return out


def _setting_problems(path: Path, spec: DrillSpec, origins: Origins) -> None:
    """Refuse a setting drillkit controls, naming the file (the drill or the conf file), the
    field and the setting."""
    own = getattr(spec.topology, "setting_problems", None)
    for group, name, problem in own() if own is not None else []:
        origin = origins.get((group, name))
        if origin is not None:
            conf, line = origin
            raise DrillFileError(conf, f"line {line}: {name}", problem)
        raise DrillFileError(path, f"topology.{group}.{name}", problem)


# A scenario reference is a bare name: never a path out of scenarios/.
SCENARIO_NAME_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,62}$"
_SCENARIO_NAME = re.compile(SCENARIO_NAME_PATTERN)


def _resolve_topology(
    path: Path, data: dict[str, Any], scenarios_dir: Path, registry: Registry, origins: Origins
) -> dict[str, Any]:
    """Replace ``topology: NAME`` with the topology of ``scenarios/NAME.yaml``; read the
    configuration files it names."""
    ref = data.get("topology")
    if not isinstance(ref, str):
        return {**data, "topology": _inline_conf_files(path, ref, origins)}
    if not _SCENARIO_NAME.match(ref):
        raise DrillFileError(
            path,
            "topology",
            f"{_show(ref)} is not a scenario name; expected a name like pg-async-pair "
            "(scenarios/NAME.yaml: lowercase letters, digits, - and _, at most 63) "
            "or an inline mapping",
        )
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
    scenario = {
        **scenario,
        "topology": _inline_conf_files(scenario_path, scenario["topology"], origins),
    }
    unknown = {str(k) for k in scenario} - {"topology", "description"}
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


def load_drill(
    path: Path,
    scenarios_dir: Path | None = None,
    *,
    registry: Registry = REGISTRY,
    overrides: Sequence[str] = (),
) -> DrillSpec:
    """Parse and validate a drill file; raise :class:`DrillFileError` naming the first problem
    (its ``problems`` lists every one).

    ``registry`` says which fault, step and topology kinds exist and what each needs;
    ``overrides`` are ``--set KEY=VALUE`` items (:mod:`drillkit.spec.overrides`) applied to the
    file before validation and kept in :attr:`DrillSpec.overrides`."""
    data = _load_yaml(path)
    if not isinstance(data, dict):
        raise DrillFileError(path, "", "a drill file must be a YAML mapping (name, topology, ...)")
    try:
        sets = parse_overrides(overrides)
        # topology=NAME picks a scenario; the other keys apply to the resolved topology
        data = apply_overrides(data, {k: v for k, v in sets.items() if k == "topology"})
    except OverrideError as e:
        raise DrillFileError(path, "", str(e)) from None
    if scenarios_dir is None:
        scenarios_dir = scenarios_for(path, data.get("topology"))
    return _validate(path, data, scenarios_dir, registry, sets)


def parse_drill(
    data: Mapping[str, Any] | DrillSpec,
    *,
    origin: str = "<drill>",
    scenarios_dir: Path | None = None,
    registry: Registry = REGISTRY,
) -> DrillSpec:
    """A drill from a mapping (what a drill file holds; ``topology`` may name a scenario, looked
    up in ``scenarios_dir``, default ``./scenarios`` then the shipped ones) or from a
    :class:`DrillSpec` built in Python, validated exactly like a file (the references too);
    errors name ``origin`` as the file."""
    if isinstance(data, DrillSpec):
        data = data.model_dump(mode="json", exclude_unset=True)
    if not isinstance(data, Mapping):
        raise DrillFileError(origin, "", "a drill must be a mapping (name, topology, ...)")
    doc = dict(data)
    if scenarios_dir is None:
        scenarios_dir = scenarios_for(Path("drills") / "drill.yaml", doc.get("topology"))
    return _validate(Path(origin), doc, scenarios_dir, registry)


def _validate(
    path: Path,
    data: dict[str, Any],
    scenarios_dir: Path,
    registry: Registry,
    overrides: dict[str, Any] | None = None,
) -> DrillSpec:
    origins: Origins = {}
    data = _resolve_topology(path, data, scenarios_dir, registry, origins)
    sets = overrides or {}
    try:
        data = apply_overrides(data, {k: v for k, v in sets.items() if k != "topology"})
    except OverrideError as e:
        raise DrillFileError(path, "", str(e)) from None
    model = drill_model(registry)
    try:
        spec = model.model_validate(data)
    except ValidationError as e:
        problems = []
        for err in e.errors():
            field = _field_path(err["loc"], data)
            if err["type"] in ("union_tag_invalid", "union_tag_not_found"):
                field += "." + str((err.get("ctx") or {}).get("discriminator", "kind")).strip("'")
            problem = _problem(err, model)
            if _dotted(field) in sets:
                problem += f" (from --set {_dotted(field)})"
            problems.append(DrillFileError(path, field, problem))
        raise _all(problems) from None
    _setting_problems(path, spec, origins)
    problems = [DrillFileError(path, f, p) for f, p in reference_problems(spec, registry)]
    if problems:
        raise _all(problems)
    if sets:
        spec._overrides = dict(sets)
    return spec


def _dotted(field: str) -> str:
    """``faults[0].at`` as a ``--set`` key: ``faults.0.at``."""
    return field.replace("[", ".").replace("]", "")


def _all(problems: list[DrillFileError]) -> DrillFileError:
    """The first problem, carrying every problem (in file order, duplicates dropped)."""
    seen: dict[str, DrillFileError] = {}
    for p in problems:
        seen.setdefault(str(p), p)
    first = next(iter(seen.values()))
    first.problems = list(seen.values())
    return first


def resolve_drill_path(name_or_path: str, drills_dir: Path) -> Path:
    """``failover`` means ``drills/failover.yaml``; anything with a slash or suffix is a path."""
    candidate = Path(name_or_path)
    if candidate.suffix in {".yaml", ".yml"} or "/" in name_or_path:
        return candidate
    return drills_dir / f"{name_or_path}.yaml"
