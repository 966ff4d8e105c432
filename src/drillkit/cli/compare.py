"""``drillkit compare-config``: where a drilled system's settings differ from production's."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from drillkit.errors import EXIT_BAD_INPUT
from drillkit.report.fingerprint import read_configuration
from drillkit.report.production import ProductionDumpError, compare, read_dump, summary_lines
from drillkit.safetext import markup

__all__ = ["compare_config"]

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


def compare_config(
    report_dir: Annotated[Path, typer.Argument(help="a drill's evidence folder")],
    dumps: Annotated[
        list[Path],
        typer.Argument(
            help="production dumps: pg_settings CSV, redis-cli CONFIG GET '*' or SENTINEL "
            "MASTER output, Patroni /config JSON (docs/production-config.md)"
        ),
    ],
) -> None:
    """Print where the drilled system's settings differ from production's. Exit 0: no
    difference in a setting that decides data loss or recovery time; 1: one differs; 2: bad
    input."""
    configuration = read_configuration(report_dir)
    if configuration is None:
        err.print(
            f"[red]error:[/red] {markup(report_dir)}: no configuration.json "
            "(the settings read back from the servers)"
        )
        raise typer.Exit(EXIT_BAD_INPUT)
    critical = 0
    try:
        for path in dumps:
            comparison = compare(configuration, read_dump(path))
            for line in summary_lines(comparison):
                out.print(markup(line))
            critical += len(comparison.critical)
    except ProductionDumpError as e:
        err.print(f"[red]error:[/red] {markup(e)}")
        raise typer.Exit(EXIT_BAD_INPUT) from None
    raise typer.Exit(1 if critical else 0)
