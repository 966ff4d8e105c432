"""``drillkit evidence verify|keygen|schema``: check and sign evidence bundles."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from drillkit.errors import EXIT_BAD_INPUT, EXIT_FAIL, EXIT_PASS
from drillkit.report.bundle import SigningKeyError, generate_key, load_public_key, verify_bundle

__all__ = ["evidence_app"]

evidence_app = typer.Typer(no_args_is_help=True, help="Check and sign evidence bundles.")
_out = Console(soft_wrap=True)
_err = Console(stderr=True, soft_wrap=True)


@evidence_app.command("verify")
def verify(
    bundle: Annotated[Path, typer.Argument(help="a report folder: reports/<drill>-<time>")],
    public_key: Annotated[
        Path | None, typer.Option(help="the signer's Ed25519 public key (PEM): proves who signed")
    ] = None,
    require_signature: Annotated[bool, typer.Option(help="an unsigned bundle fails")] = False,
) -> None:
    """Check every file against the manifest and the signature; exit 1 on any difference."""
    try:
        key = load_public_key(public_key.read_bytes(), str(public_key)) if public_key else None
    except (OSError, SigningKeyError) as e:
        _err.print(f"[red]error:[/red] --public-key: {e}", highlight=False)
        raise typer.Exit(EXIT_BAD_INPUT) from None
    check = verify_bundle(bundle, public_key=key, require_signature=require_signature)
    for line in check.lines():
        _out.print(line, highlight=False)
    _out.print(f"{bundle}: {'OK' if check.ok else 'FAILED'}", highlight=False)
    raise typer.Exit(EXIT_PASS if check.ok else EXIT_FAIL)


@evidence_app.command("keygen")
def keygen(path: Annotated[Path, typer.Argument(help="where the private key (PEM) goes")]) -> None:
    """Create an Ed25519 signing key (mode 0600) and its public key (PATH.pub)."""
    try:
        public = generate_key(path)
    except FileExistsError:
        _err.print(f"[red]error:[/red] {path} exists; not overwriting a key")
        raise typer.Exit(EXIT_BAD_INPUT) from None
    _out.print(f"private key {path} (keep it secret); public key {public}", highlight=False)


@evidence_app.command("schema")
def schema() -> None:
    """Print the JSON Schema of report.json."""
    _out.file.write(resources.files("drillkit.report").joinpath("report.schema.json").read_text())
