"""How the CLI writes: rich on a terminal, plain and untruncated when piped, JSON on ``--json``.

Rich sizes tables to the terminal and cuts what does not fit (``2026-11-30T2…``); when stdout is
not a terminal (a pipe, a file, CI logs) there is no width to fit, so :func:`console` makes a
console that never wraps nor truncates, and prints no colour.
"""

from __future__ import annotations

import json
from typing import Any

import typer
from rich.console import Console, ConsoleDimensions

from drillkit.errors import EXIT_BAD_INPUT
from drillkit.safetext import markup

__all__ = ["JsonOpt", "PlainConsole", "bad_input", "console", "print_json"]

# Wide enough for any row drillkit prints; tables take only the width they need.
PIPE_WIDTH = 100_000

JsonOpt = typer.Option("--json", help="machine-readable output (JSON) on stdout")


class PlainConsole(Console):
    """A console that is as wide as its longest line when its file is not a terminal."""

    @property
    def size(self) -> ConsoleDimensions:
        if not self.is_terminal:
            return ConsoleDimensions(PIPE_WIDTH, 25)
        return super().size

    @size.setter
    def size(self, new_size: tuple[int, int]) -> None:
        self._width, self._height = new_size


def console(*, stderr: bool = False) -> Console:
    return PlainConsole(stderr=stderr, soft_wrap=True)


def print_json(out: Console, value: Any) -> None:
    """One JSON document on ``out``'s file (never through rich: no markup, no wrapping)."""
    out.file.write(json.dumps(value, indent=2, default=str) + "\n")
    out.file.flush()


def bad_input(out: Console, err: Console, problems: list[str], *, as_json: bool) -> typer.Exit:
    """Report bad input (as ``{"ok": false, "errors": [...]}`` with --json); exit code 2."""
    if as_json:
        print_json(out, {"ok": False, "errors": problems})
    else:
        for problem in problems:
            err.print(f"[red]error:[/red] {markup(problem)}", highlight=False)
    return typer.Exit(EXIT_BAD_INPUT)
