"""``drillkit evidence verify|sign|index|keygen|schema``: check, approve and sign evidence bundles.

``verify`` trusts a signature only against a key given to it (``--public-key``,
``--trusted-keys`` / ``DRILLKIT_TRUSTED_KEYS``) or, with a warning, the bundle's own
(``--trust-bundle-key``); see :func:`drillkit.report.verify.verify_bundle`.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Annotated

import typer
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from drillkit.cli.output import JsonOpt, console, print_json
from drillkit.errors import EXIT_BAD_INPUT, EXIT_FAIL, EXIT_PASS
from drillkit.report.bundle import (
    MANIFEST,
    SigningKeyError,
    generate_key,
    load_private_key,
    load_public_key,
    load_public_keys,
)
from drillkit.report.index import write_index
from drillkit.report.verify import (
    ROLES,
    TRUSTED_KEYS_ENV,
    BundleCheck,
    countersign,
    verify_bundle,
)
from drillkit.safetext import markup

__all__ = ["evidence_app"]

evidence_app = typer.Typer(no_args_is_help=True, help="Check and sign evidence bundles.")
_out = console()
_err = console(stderr=True)

BundleArg = Annotated[Path, typer.Argument(help="a report folder: reports/<drill>-<time>")]
PublicKeyOpt = Annotated[
    Path | None,
    typer.Option(help="the signer's Ed25519 public key (PEM) you trust: proves who signed"),
]
TrustedKeysOpt = Annotated[
    Path | None,
    typer.Option(
        envvar=TRUSTED_KEYS_ENV,
        help="a file of trusted PEM public keys (signers and approvers)",
    ),
]
TrustBundleKeyOpt = Annotated[
    bool,
    typer.Option(
        "--trust-bundle-key",
        help="accept the public key inside the bundle (proves it is unchanged, not who signed)",
    ),
]
RequireSignatureOpt = Annotated[bool, typer.Option(help="an unsigned bundle fails")]


def _fail(message: str, *, as_json: bool = False) -> typer.Exit:
    if as_json:
        print_json(_out, {"ok": False, "errors": [message]})
    else:
        _err.print(f"[red]error:[/red] {markup(message)}", highlight=False)
    return typer.Exit(EXIT_BAD_INPUT)


def _trusted(
    public_key: Path | None, trusted_keys: Path | None, as_json: bool = False
) -> list[Ed25519PublicKey]:
    keys: list[Ed25519PublicKey] = []
    try:
        if public_key is not None:
            keys.append(load_public_key(public_key.read_bytes(), str(public_key)))
        if trusted_keys is not None:
            keys += load_public_keys(trusted_keys.read_bytes(), str(trusted_keys))
    except OSError as e:
        raise _fail(f"cannot read {e.filename}: {e.strerror}", as_json=as_json) from None
    except SigningKeyError as e:
        raise _fail(str(e), as_json=as_json) from None
    return keys


def _check(
    bundle: Path,
    public_key: Path | None,
    trusted_keys: Path | None,
    trust_bundle_key: bool,
    require_signature: bool,
    as_json: bool = False,
) -> BundleCheck:
    if not bundle.is_dir():
        raise _fail(f"{bundle}: no such evidence folder", as_json=as_json)
    keys = _trusted(public_key, trusted_keys, as_json)
    check = verify_bundle(
        bundle,
        trusted_keys=keys,
        trust_bundle_key=trust_bundle_key,
        require_signature=require_signature,
    )
    if as_json:
        return check
    for line in check.lines():
        _out.print(markup(line), highlight=False)
    for warning in check.warnings:
        _err.print(f"[yellow]warning:[/yellow] {markup(warning)}", highlight=False)
    return check


@evidence_app.command("verify")
def verify(
    bundle: BundleArg,
    public_key: PublicKeyOpt = None,
    trusted_keys: TrustedKeysOpt = None,
    trust_bundle_key: TrustBundleKeyOpt = False,
    require_signature: RequireSignatureOpt = False,
    as_json: Annotated[bool, JsonOpt] = False,
) -> None:
    """Check every file against the manifest and the signature against a trusted key; exit 1 on
    any difference, an untrusted or missing signature, exit 2 on a missing folder or bad key."""
    check = _check(
        bundle, public_key, trusted_keys, trust_bundle_key, require_signature, as_json=as_json
    )
    if as_json:
        print_json(_out, {"bundle": str(bundle), **asdict(check), "ok": check.ok})
        raise typer.Exit(EXIT_PASS if check.ok else EXIT_FAIL)
    _out.print(f"{markup(str(bundle))}: {'OK' if check.ok else 'FAILED'}", highlight=False)
    raise typer.Exit(EXIT_PASS if check.ok else EXIT_FAIL)


@evidence_app.command("sign")
def sign(
    bundle: BundleArg,
    key: Annotated[Path, typer.Option(help="the approver's Ed25519 private key (PEM)")],
    public_key: PublicKeyOpt = None,
    trusted_keys: TrustedKeysOpt = None,
    trust_bundle_key: TrustBundleKeyOpt = False,
    role: Annotated[
        str, typer.Option(help="the role signed with the approval: approver or reviewer")
    ] = "approver",
) -> None:
    """Countersign a bundle as an approver (or --role reviewer), after verifying it (same options
    as verify); verify then checks the approval and shows its role, and requires the approver's
    key to be trusted."""
    if role not in ROLES:
        raise _fail(f"--role: {role!r}; expected one of {', '.join(ROLES)}")
    try:
        approver = load_private_key(key.read_bytes(), str(key))
    except OSError as e:
        raise _fail(f"--key: cannot read {key}: {e.strerror}") from None
    except SigningKeyError as e:
        raise _fail(str(e)) from None
    check = _check(bundle, public_key, trusted_keys, trust_bundle_key, True)
    if not check.ok:
        _out.print(f"{markup(str(bundle))}: FAILED; not countersigned", highlight=False)
        raise typer.Exit(EXIT_FAIL)
    path = countersign(bundle, approver, role)
    _out.print(f"countersigned {MANIFEST} as {role}: {markup(str(path))}", highlight=False)


@evidence_app.command("index")
def index(
    root: Annotated[Path, typer.Argument(help="a folder of evidence bundles, e.g. reports")],
    since: Annotated[
        str | None, typer.Option(help="only runs started on or after this date (YYYY-MM-DD)")
    ] = None,
    out: Annotated[
        Path | None, typer.Option(help="where index.html and index.csv go (default: DIR)")
    ] = None,
    public_key: PublicKeyOpt = None,
    trusted_keys: TrustedKeysOpt = None,
) -> None:
    """Write an auditor's index (index.html, index.csv) of every bundle under DIR: verdict,
    environment, operator, verification and approvals; exit 1 if any bundle fails verification."""
    if not root.is_dir():
        raise _fail(f"{root}: no such folder")
    start = None
    if since is not None:
        try:
            start = datetime.fromisoformat(since)
        except ValueError:
            raise _fail(f"--since: {since!r} is not a date (YYYY-MM-DD)") from None
        start = start if start.tzinfo else start.replace(tzinfo=UTC)
    keys = _trusted(public_key, trusted_keys)
    rows, problems = write_index(root, out or root, since=start, trusted_keys=keys)
    for problem in problems:
        _err.print(f"[yellow]warning:[/yellow] {markup(problem)}", highlight=False)
    failed = [r for r in rows if not r.verified]
    for r in failed:
        _out.print(f"{markup(r.bundle)}: {markup(r.verification)}", highlight=False)
    target = out or root
    _out.print(
        f"{len(rows)} bundles, {len(failed)} failed verification: "
        f"{markup(str(target / 'index.html'))}, {markup(str(target / 'index.csv'))}",
        highlight=False,
    )
    raise typer.Exit(EXIT_FAIL if failed else EXIT_PASS)


@evidence_app.command("keygen")
def keygen(path: Annotated[Path, typer.Argument(help="where the private key (PEM) goes")]) -> None:
    """Create an Ed25519 signing key (mode 0600) and its public key (PATH.pub)."""
    try:
        public = generate_key(path)
    except FileExistsError:
        raise _fail(f"{path} exists; not overwriting a key") from None
    _out.print(f"private key {path} (keep it secret); public key {public}", highlight=False)


@evidence_app.command("schema")
def schema() -> None:
    """Print the JSON Schema of report.json."""
    _out.file.write(resources.files("drillkit.report").joinpath("report.schema.json").read_text())
