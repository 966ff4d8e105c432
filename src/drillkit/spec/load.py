"""Reading drill files: YAML to a validated :class:`~drillkit.spec.model.DrillSpec`, every error
naming the file, the field path and the fix (see :class:`DrillFileError`).

A drill file names a topology (inline, or a scenario under ``scenarios/``), a workload, the faults
to inject, the runbook that restores service and the targets the result is judged against.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from drillkit.errors import EXIT_BAD_INPUT, DrillkitError
from drillkit.registry import REGISTRY, Registry
from drillkit.shipped import scenarios_for
from drillkit.spec.model import DrillSpec, drill_model, reference_problems, scenario_model
from drillkit.spec.reader import InputRejected, read_text, read_yaml
from drillkit.spec.settings import parse_postgresql_conf, parse_redis_conf

__all__ = ["DrillFileError", "load_drill", "resolve_drill_path"]


class DrillFileError(DrillkitError):
    """A drill or scenario file is invalid. ``str()`` is ``file: field: problem``."""

    exit_code = EXIT_BAD_INPUT

    def __init__(self, path: Path | str, field: str, problem: str) -> None:
        self.path = str(path)
        self.field = field
        self.problem = problem
        where = f"{self.path}: {field}: " if field else f"{self.path}: "
        super().__init__(where + problem)


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
            f"{_show(ctx.get('tag'))} is not {noun}; expected one of "
            f"{ctx.get('expected_tags', '').replace(chr(39), '')}"
        )
    if kind == "union_tag_not_found":
        return f"missing {ctx.get('discriminator', 'kind')}; say which one this is"
    if kind in _ENUM_ERRORS:
        return f"{_show(given)} is not allowed; expected {ctx.get('expected')}"
    if kind == "extra_forbidden":
        return "unknown field; check the spelling against docs/reference/drill-file.md"
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
_SCENARIO_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")


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
    path: Path, scenarios_dir: Path | None = None, *, registry: Registry = REGISTRY
) -> DrillSpec:
    """Parse and validate a drill file; raise :class:`DrillFileError` naming the first problem.

    ``registry`` says which fault, step and topology kinds exist and what each needs."""
    data = _load_yaml(path)
    if not isinstance(data, dict):
        raise DrillFileError(path, "", "a drill file must be a YAML mapping (name, topology, ...)")
    if scenarios_dir is None:
        scenarios_dir = scenarios_for(path, data.get("topology"))
    origins: Origins = {}
    data = _resolve_topology(path, data, scenarios_dir, registry, origins)
    try:
        spec = drill_model(registry).model_validate(data)
    except ValidationError as e:
        err = e.errors()[0]
        field = _field_path(err["loc"], data)
        if err["type"] in ("union_tag_invalid", "union_tag_not_found"):
            field += "." + str((err.get("ctx") or {}).get("discriminator", "kind")).strip("'")
        raise DrillFileError(path, field, _problem(err)) from None
    _setting_problems(path, spec, origins)
    for field, problem in reference_problems(spec, registry):
        raise DrillFileError(path, field, problem)
    return spec


def resolve_drill_path(name_or_path: str, drills_dir: Path) -> Path:
    """``failover`` means ``drills/failover.yaml``; anything with a slash or suffix is a path."""
    candidate = Path(name_or_path)
    if candidate.suffix in {".yaml", ".yml"} or "/" in name_or_path:
        return candidate
    return drills_dir / f"{name_or_path}.yaml"
