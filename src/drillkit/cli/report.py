"""``drillkit report pdf``: a PDF of a bundle's report.html for the audit file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from drillkit.errors import EXIT_BAD_INPUT, EXIT_INFRA
from drillkit.report.pdf import PdfUnavailable, render_pdf
from drillkit.safetext import markup

__all__ = ["report_app"]

report_app = typer.Typer(no_args_is_help=True, help="Render evidence bundles for people.")
_out = Console(soft_wrap=True)
_err = Console(stderr=True, soft_wrap=True)


@report_app.command("pdf")
def pdf(
    bundle: Annotated[Path, typer.Argument(help="a report folder: reports/<drill>-<time>")],
    out: Annotated[Path | None, typer.Option(help="the PDF to write (default: BUNDLE.pdf)")] = None,
) -> None:
    """Print report.html to PDF with headless Chromium (needs playwright: setup.sh --dev); the
    PDF goes beside the bundle, not into it, so the bundle still verifies."""
    try:
        path = render_pdf(bundle, out)
    except FileNotFoundError as e:
        _err.print(f"[red]error:[/red] {markup(str(e))}", highlight=False)
        raise typer.Exit(EXIT_BAD_INPUT) from None
    except PdfUnavailable as e:
        _err.print(f"[red]error:[/red] {markup(str(e))}", highlight=False)
        raise typer.Exit(EXIT_INFRA) from None
    _out.print(f"wrote {markup(str(path))}", highlight=False)
