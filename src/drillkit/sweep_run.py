"""Running a sweep: validate every cell, then run each cell ``repeat`` times, one run at a time.

:func:`plan_sweep` expands the ``--set`` items (:mod:`drillkit.sweep`) and validates the drill
with each cell's overrides before anything starts. :func:`run_sweep` runs the valid cells in
order (the caller holds the host lock), each run keeping its own evidence bundle in
``<sweep folder>/<cell folder>/<n>/``, and rewrites the summary (:mod:`drillkit.report.sweep`)
after every run, so an interrupted or crashed sweep still leaves the summary of what finished.
Ctrl-C during a run lets that run heal and clean up (:func:`~drillkit.drill.run_drill`), then
stops the sweep.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from drillkit.drill import EXIT_INTERRUPTED, DrillResult
from drillkit.errors import EXIT_PASS
from drillkit.spec import DrillFileError, DrillSpec, load_drill
from drillkit.suite import merge_exit_codes
from drillkit.sweep import COLUMNS, Axis, Cell, CellSummary, RunRow, expand, parse_axes

__all__ = ["Runner", "SweepPlan", "SweepResult", "plan_sweep", "run_sweep"]

Runner = Callable[[DrillSpec, Path], DrillResult]  # run this spec, evidence in this folder
Progress = Callable[[str], None]


@dataclass
class SweepPlan:
    """The validated matrix: every cell, the spec of each valid one, the problems of the rest."""

    drill_file: Path
    axes: list[Axis]
    cells: list[Cell]
    specs: dict[int, DrillSpec]
    problems: dict[int, list[str]]

    @property
    def drill(self) -> str:
        return next(iter(self.specs.values())).name if self.specs else self.drill_file.stem

    def problem_lines(self) -> list[str]:
        """``cell 'replication=async ...': <problem>`` for every problem of every invalid cell."""
        return [
            f"cell {self.cells[i].name!r}: {p}"
            for i, ps in sorted(self.problems.items())
            for p in ps
        ]


def plan_sweep(drill_file: Path, items: Sequence[str]) -> SweepPlan:
    """Expand ``items`` (``--set KEY=V1,V2``) and validate the drill with every cell's
    overrides. Raises :class:`~drillkit.sweep.SweepError` for a malformed ``--set``."""
    axes, fixed = parse_axes(items)
    cells = expand(axes, fixed)
    specs: dict[int, DrillSpec] = {}
    problems: dict[int, list[str]] = {}
    for cell in cells:
        try:
            specs[cell.index] = load_drill(drill_file, overrides=cell.overrides)
        except DrillFileError as e:
            problems[cell.index] = [str(p) for p in e.problems] or [str(e)]
    return SweepPlan(drill_file, axes, cells, specs, problems)


@dataclass
class SweepResult:
    """What a sweep ran (so far): per cell, its runs; written as the summary."""

    sweep_id: str
    folder: Path
    drill: str
    drill_file: str
    axes: list[Axis]
    repeat: int
    started_at: datetime
    cells: list[CellSummary]
    finished_at: datetime | None = None
    interrupted: bool = False
    codes: list[int] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        """Interrupted (130) beats infrastructure (3) beats a missed target (1) beats pass."""
        if self.interrupted:
            return EXIT_INTERRUPTED
        return merge_exit_codes(self.codes) if self.codes else EXIT_PASS

    def as_json(self) -> dict[str, Any]:
        return {
            "sweep_id": self.sweep_id,
            "drill": self.drill,
            "drill_file": self.drill_file,
            "axes": {a.key: list(a.values) for a in self.axes},
            "repeat": self.repeat,
            "started_at": self.started_at.isoformat(timespec="seconds"),
            "finished_at": (
                self.finished_at.isoformat(timespec="seconds") if self.finished_at else None
            ),
            "interrupted": self.interrupted,
            "exit_code": self.exit_code,
            "columns": [vars(c) for c in COLUMNS],
            "cells": [c.as_json() for c in self.cells],
        }


def sweep_folder(root: Path, drill: str, started: datetime) -> tuple[str, Path]:
    """``sweep-failover-20261201T060000Z`` under ``root`` (``-2``, ``-3``... if taken)."""
    base = f"sweep-{drill}-{started:%Y%m%dT%H%M%SZ}"
    sweep_id, n = base, 1
    while (root / sweep_id).exists():
        n += 1
        sweep_id = f"{base}-{n}"
    return sweep_id, root / sweep_id


def run_sweep(
    plan: SweepPlan,
    *,
    repeat: int,
    runner: Runner,
    report_root: Path = Path("reports"),
    progress: Progress = print,
    on_run: Callable[[CellSummary, DrillResult], None] = lambda _c, _r: None,
    write: Callable[[SweepResult], object] | None = None,
) -> SweepResult:
    """Run every valid cell of ``plan`` ``repeat`` times, one run at a time. Invalid cells are
    listed as skipped with their first problem. ``write`` (default: the summary files) is
    called after every run and once at the end, interrupted or not."""
    if write is None:
        from drillkit.report.sweep import write_summary

        write = write_summary
    started = datetime.now(UTC)
    sweep_id, folder = sweep_folder(report_root, plan.drill, started)
    folder.mkdir(parents=True)
    skipped = {i: ps[0] for i, ps in plan.problems.items()}
    result = SweepResult(
        sweep_id,
        folder,
        plan.drill,
        str(plan.drill_file),
        plan.axes,
        repeat,
        started,
        [CellSummary(c, skipped.get(c.index)) for c in plan.cells],
    )
    todo = [s for s in result.cells if s.skipped is None]
    total = len(todo) * repeat
    try:
        for k, (summary, n) in enumerate(
            ((s, n) for s in todo for n in range(1, repeat + 1)), start=1
        ):
            progress(f"sweep run {k}/{total}: {summary.cell.name} (#{n})")
            rel = f"{summary.cell.slug}/{n}"
            outcome = runner(plan.specs[summary.cell.index], folder / rel)
            summary.runs.append(RunRow.of(n, rel, outcome.model.as_json(), outcome.exit_code))
            result.codes.append(outcome.exit_code)
            on_run(summary, outcome)
            write(result)
            if outcome.interrupted:
                result.interrupted = True
                break
    except KeyboardInterrupt:  # between runs: nothing of a run is left to clean up
        result.interrupted = True
    finally:
        result.finished_at = datetime.now(UTC)
        write(result)
    return result
