"""The read commands: ``list``, ``faults``, ``validate`` and ``schema`` (nothing starts).

Each prints for a person by default and JSON with ``--json``; bad input exits 2 either way.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Annotated, Any

import typer

from drillkit.cli.output import JsonOpt, bad_input, console, print_json
from drillkit.errors import EXIT_BAD_INPUT
from drillkit.runbook.custom import host_steps
from drillkit.safetext import markup
from drillkit.shipped import drills_home
from drillkit.spec import DrillFileError, DrillSpec, resolve_drill_path
from drillkit.spec.load import load_drill

__all__ = ["DrillsDir", "SetOpt", "faults", "find_drill", "list_drills", "schema", "validate"]

out = console()
err = console(stderr=True)
SHOWN = 20  # problems printed per file; --json gives them all

DrillsDir = Annotated[
    Path | None,
    typer.Option(
        envvar="DRILLKIT_DRILLS_DIR",
        help="where drill NAMEs are looked up [default: ./drills if it exists, else the drills "
        "shipped with drillkit]",
        show_default=False,
    ),
]
SetOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--set",
        help="override a field of the drill file: --set workload.rate=100 (dotted path, YAML "
        "value; repeatable; validated like the file and recorded in the evidence)",
    ),
]


def find_drill(name_or_path: str, drills_dir: Path) -> Path:
    """The file of a drill NAME (in ``drills_dir``) or PATH; an unknown NAME raises
    :class:`DrillFileError` listing the closest names and the available ones."""
    path = resolve_drill_path(name_or_path, drills_dir)
    if path == Path(name_or_path):  # a PATH: reading it says what is wrong with it
        return path
    try:
        if path.is_file():
            return path
    except OSError:  # a name too long for the OS: reading it says so
        return path
    names = sorted(p.stem for p in drills_dir.glob("*.yaml")) if drills_dir.is_dir() else []
    close = difflib.get_close_matches(name_or_path, names, n=3, cutoff=0.6)
    hint = f"did you mean {' or '.join(close)}? " if close else ""
    raise DrillFileError(
        name_or_path,
        "",
        f"no such drill in {drills_dir}; {hint}available: {', '.join(names) or '(none)'}",
    )


def problems_of(e: DrillFileError) -> list[dict[str, str]]:
    return [
        {"file": p.path, "field": p.field, "problem": p.problem, "message": str(p)}
        for p in e.problems
    ]


def validate(
    drill: Annotated[str, typer.Argument(help="drill NAME (drills/NAME.yaml) or PATH to a file")],
    drills_dir: DrillsDir = None,
    overrides: SetOpt = None,
    as_json: Annotated[bool, JsonOpt] = False,
) -> None:
    """Check a drill file without starting anything; list every problem (exit 2)."""
    try:
        path = find_drill(drill, drills_home(drills_dir))
        spec = load_drill(path, overrides=overrides or ())
    except DrillFileError as e:
        if as_json:
            print_json(out, {"ok": False, "drill": drill, "errors": problems_of(e)})
        else:
            for p in e.problems[:SHOWN]:
                err.print(f"[red]error:[/red] {markup(p)}", highlight=False)
            if len(e.problems) > SHOWN:
                err.print(f"... and {len(e.problems) - SHOWN} more (--json lists all)")
            if len(e.problems) > 1:
                err.print(f"{len(e.problems)} problems", highlight=False)
        raise typer.Exit(EXIT_BAD_INPUT) from None
    hosts = host_steps(spec.runbook)
    if as_json:
        print_json(out, _valid(path, spec, hosts))
        return
    out.print(
        f"{markup(path)}: ok (drill {spec.name}, {len(spec.faults)} fault(s), "
        f"{len(spec.runbook)} runbook step(s))",
        highlight=False,
    )
    for name, value in spec.overrides.items():
        out.print(markup(f"--set {name}={value!r}"), highlight=False)
    for step in hosts:
        out.print(markup(f"runs on this host: {step}"), highlight=False)


def _valid(path: Path, spec: DrillSpec, hosts: list[str]) -> dict[str, Any]:
    return {
        "ok": True,
        "path": str(path),
        "drill": spec.name,
        "faults": [f.kind for f in spec.faults],
        "runbook": [s.step for s in spec.runbook],
        "host_steps": hosts,
        "overrides": spec.overrides,
        "spec": spec.model_dump(mode="json"),
    }


def list_drills(drills_dir: DrillsDir = None, as_json: Annotated[bool, JsonOpt] = False) -> None:
    """List the drills in the drills directory."""
    drills_dir = drills_home(drills_dir)
    files = sorted(drills_dir.glob("*.yaml"))
    if not files:
        raise bad_input(out, err, [f"no drills in {drills_dir}"], as_json=as_json)
    rows: list[dict[str, Any]] = []
    for path in files:
        try:
            spec = load_drill(path)
            rows.append(
                {"name": spec.name, "path": str(path), "description": spec.description, "ok": True}
            )
        except DrillFileError as e:
            rows.append(
                {"name": path.stem, "path": str(path), "ok": False, "errors": problems_of(e)}
            )
    if as_json:
        print_json(out, rows)
        return
    for row in rows:
        if row["ok"]:
            out.print(f"{row['name']:<24} {markup(row['description'])}", highlight=False)
        else:
            problem = row["errors"][0]["message"]
            name = f"{row['name']:<24}"
            out.print(f"{markup(name)} [red]invalid:[/red] {markup(problem)}", highlight=False)


def _fault_rows() -> list[dict[str, Any]]:
    from drillkit.registry import REGISTRY

    rows = []
    for kind, entry in REGISTRY.faults.items():
        params = []
        for name, field in entry.model.model_fields.items():
            if name in ("kind", "at", "duration", "repeat") and not field.is_required():
                continue
            params.append(
                {
                    "name": name,
                    "required": field.is_required(),
                    "default": None if field.is_required() else field.default,
                }
            )
        serving = []
        for name in REGISTRY.serving(entry.requires):
            top = REGISTRY.topologies[name]
            need = [top.options[c].field for c in entry.requires if c not in top.provides]
            serving.append({"topology": name, "with": need})
        rows.append(
            {
                "kind": kind,
                "parameters": params,
                "description": " ".join((entry.model.__doc__ or "").split()),
                "topologies": serving,
            }
        )
    return rows


def faults(as_json: Annotated[bool, JsonOpt] = False) -> None:
    """List every fault kind, its parameters and what healing it does."""
    from rich.table import Table

    rows = _fault_rows()
    if as_json:
        print_json(out, rows)
        return
    table = Table(show_lines=True)
    for column in ("kind", "parameters (default)", "what it does / heal", "topologies"):
        table.add_column(column)
    for row in rows:
        params = [
            f"{p['name']} ({'required' if p['required'] else repr(p['default'])})"
            for p in row["parameters"]
        ]
        serving = [
            t["topology"] + (f" (with {', '.join(t['with'])})" if t["with"] else "")
            for t in row["topologies"]
        ]
        table.add_row(row["kind"], "\n".join(params), row["description"], "\n".join(serving))
    out.print(table)
    out.print(
        "Every fault also takes at, duration and repeat {every, times}; all faults heal "
        "at the end of the drill, even on Ctrl-C."
    )


def schema(
    of: Annotated[
        str, typer.Argument(help="drill (a drill file) or suite (a suite file for run --suite)")
    ] = "drill",
) -> None:
    """Print the JSON Schema of drill files (or suite files), for editors and CI checks.

    docs/reference/ has both (drill-file.schema.json, suite-file.schema.json); point the YAML
    language server at one with ``# yaml-language-server: $schema=PATH`` in a drill file."""
    from drillkit import docgen

    if of not in ("drill", "suite"):
        raise bad_input(out, err, [f"schema: {of!r}; expected drill or suite"], as_json=False)
    print_json(out, docgen.drill_schema() if of == "drill" else docgen.suite_schema())
