"""``drillkit sweep DRILL --set KEY=V1,V2 ... --repeat N``: one drill over a matrix of settings.

Thin: :func:`drillkit.sweep_run.plan_sweep` validates every cell first (an invalid cell is bad
input, exit 2, unless ``--skip-invalid``), the host lock is held for the whole sweep, and
:func:`drillkit.sweep_run.run_sweep` runs the cells and writes the summary.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from drillkit.drill import DrillResult, new_run_id, run_drill
from drillkit.errors import EXIT_BAD_INPUT, InfrastructureError
from drillkit.report.bundle import SigningKeyError, current_signing_key
from drillkit.report.format import fmt
from drillkit.report.sweep import header, stat_text
from drillkit.safetext import markup
from drillkit.spec import DrillFileError, DrillSpec
from drillkit.spec.external import target_problem
from drillkit.suite import EXIT_LOCKED, LockHeld, run_lock
from drillkit.sweep import COLUMNS, CellSummary, SweepError
from drillkit.sweep_run import Runner, SweepResult, plan_sweep, run_sweep

__all__ = ["RepeatOpt", "SkipInvalidOpt", "SweepRequest", "SweepSetOpt", "sweep_command"]

SweepSetOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--set",
        help="KEY=V1,V2,...: one axis of the matrix (comma-separated alternatives, each a YAML "
        "value; commas inside [..] or quotes do not split); a single value applies to every "
        "cell. Repeatable: the cells are the cartesian product",
    ),
]
RepeatOpt = Annotated[int, typer.Option(min=1, help="runs per cell")]
SkipInvalidOpt = Annotated[
    bool,
    typer.Option(
        "--skip-invalid",
        help="run the valid cells and list the invalid ones as skipped (default: an invalid "
        "cell is bad input, exit 2, nothing runs)",
    ),
]


@dataclass
class SweepRequest:
    drill_file: Path
    sets: list[str]
    repeat: int = 1
    report_dir: Path = Path("reports")
    skip_invalid: bool = False
    lock_wait: float = 0.0
    targets: list[str] = field(default_factory=list)  # --target: confirms an external stack


def table(result: SweepResult) -> Table:
    """The console summary: one row per cell."""
    t = Table(title=f"sweep {result.sweep_id}")
    for name in ("#", "cell", "pass/fail/unknown", *(f"{header(c)} p50 / p95" for c in COLUMNS)):
        t.add_column(name, overflow="fold")
    for s in result.cells:
        v = s.verdicts
        name = s.cell.name + (f" (skipped: {s.skipped})" if s.skipped else "")
        t.add_row(
            str(s.cell.index + 1),
            markup(name),
            f"{v['pass']}/{v['fail']}/{v['unknown']}",
            *(stat_text(s.stat(c), c) for c in COLUMNS),
        )
    return t


def default_runner(
    drill_file: Path, progress: Callable[[str], None], targets: Sequence[str] = ()
) -> Runner:
    def runner(spec: DrillSpec, folder: Path) -> DrillResult:
        return run_drill(
            spec,
            drill_file=str(drill_file),
            target=list(targets),
            report_dir=folder,
            progress=progress,
            run_id=new_run_id(spec.name),
        )

    return runner


def sweep_command(
    req: SweepRequest,
    *,
    out: Console,
    err: Console,
    progress: Callable[[str], None],
    runner: Runner | None = None,
) -> int:
    """Validate every cell, take the host lock, run the matrix, print and write the summary."""
    try:
        plan = plan_sweep(req.drill_file, req.sets)
        current_signing_key()  # an unreadable DRILLKIT_SIGNING_KEY(_FILE) is bad input too
    except (SweepError, DrillFileError, SigningKeyError) as e:
        err.print(f"[red]error:[/red] {markup(e)}", highlight=False)
        return EXIT_BAD_INPUT
    problems = plan.problem_lines()
    if problems and (not req.skip_invalid or not plan.specs):
        for line in problems[:40]:
            err.print(f"[red]error:[/red] {markup(line)}", highlight=False)
        why = "no cell is valid" if not plan.specs else "pass --skip-invalid to run the others"
        err.print(f"{len(plan.problems)} of {len(plan.cells)} cells invalid; {why}; nothing ran")
        return EXIT_BAD_INPUT
    for line in problems:
        err.print(f"[yellow]skipped:[/yellow] {markup(line)}", highlight=False)
    for spec in list(plan.specs.values())[:1]:  # an external stack: each cell strikes it
        confirm = spec.external.confirm if spec.external is not None else None
        problem = target_problem(str(req.drill_file), spec.topology, confirm, req.targets)
        if problem is not None:
            err.print(f"[red]error:[/red] {markup(problem)}; nothing ran", highlight=False)
            return EXIT_BAD_INPUT

    def show(summary: CellSummary, result: DrillResult) -> None:
        m = result.model.measured
        out.print(
            markup(
                f"{summary.cell.name} #{summary.runs[-1].n}: {result.model.outcome}, "
                f"RPO {fmt(m.rpo_seconds, ' s')}, RTO {fmt(m.rto_seconds, ' s')}, "
                f"lost {fmt(m.lost_writes)}; {result.report_dir}"
            ),
            highlight=False,
        )

    try:
        with run_lock(wait_seconds=req.lock_wait):
            result = run_sweep(
                plan,
                repeat=req.repeat,
                runner=runner or default_runner(req.drill_file, progress, req.targets),
                report_root=req.report_dir,
                progress=progress,
                on_run=show,
            )
    except LockHeld as e:
        err.print(
            f"[red]error:[/red] {markup(e)}; try again later or pass --lock-wait", highlight=False
        )
        return EXIT_LOCKED
    except (InfrastructureError, OSError) as e:  # the lock, or the sweep folder
        err.print(f"[red]error:[/red] {markup(e)}", highlight=False)
        return InfrastructureError.exit_code
    out.print(table(result))
    if result.interrupted:
        err.print("interrupted: the summary covers the runs that finished")
    out.print(f"summary: {markup(result.folder / 'summary.html')}", highlight=False)
    return result.exit_code
