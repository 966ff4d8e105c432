"""``drillkit plan DRILL``: the dry run. Thin: :mod:`drillkit.plan` builds the plan."""

from __future__ import annotations

from typing import Annotated

import typer

from drillkit.cli.output import JsonOpt, console, print_json
from drillkit.cli.read import DrillsDir, SetOpt, find_drill
from drillkit.errors import EXIT_BAD_INPUT, EXIT_INFRA, InfrastructureError
from drillkit.plan import Survey, docker_survey, plan_drill, render_plan
from drillkit.safetext import markup
from drillkit.shipped import drills_home
from drillkit.spec import DrillFileError, load_drill

__all__ = ["plan"]

out = console()
err = console(stderr=True)


def plan(
    drill: Annotated[str, typer.Argument(help="drill NAME (drills/NAME.yaml) or PATH to a file")],
    drills_dir: DrillsDir = None,
    overrides: SetOpt = None,
    as_json: Annotated[bool, JsonOpt] = False,
) -> None:
    """Print which containers a run would strike, how, when and for how long, and the runbook,
    touching nothing (for a stack drillkit did not create: read-only Docker calls and SQL)."""
    try:
        path = find_drill(drill, drills_home(drills_dir))
        spec = load_drill(path, overrides=overrides or ())
    except DrillFileError as e:
        for p in e.problems[:20]:
            err.print(f"[red]error:[/red] {markup(p)}", highlight=False)
        raise typer.Exit(EXIT_BAD_INPUT) from None
    try:
        survey: Survey | None = None
        if getattr(spec.topology, "describe", None) is not None:
            from drillkit.resources import connect_engine

            survey = docker_survey(connect_engine())
        result = plan_drill(spec, file=str(path), survey=survey)
    except InfrastructureError as e:
        err.print(f"[red]error:[/red] {markup(e)}", highlight=False)
        raise typer.Exit(EXIT_INFRA) from None
    if as_json:
        print_json(out, result.to_json())
        return
    for line in render_plan(result):
        out.print(markup(line), highlight=False, soft_wrap=True)
