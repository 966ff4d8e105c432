"""CLI for evidence, history and scheduled runs: ``drillkit evidence ...``, ``drillkit history``,
and the body of ``drillkit run`` (one drill, ``--all`` or ``--suite``, with JUnit, metrics,
structured logs and signing). Thin: everything here calls :mod:`drillkit.suite`,
:mod:`drillkit.report.bundle` and :mod:`drillkit.trends`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from drillkit.drill import DrillResult
from drillkit.errors import EXIT_BAD_INPUT, EXIT_FAIL, EXIT_PASS
from drillkit.jsonlog import JsonLog
from drillkit.report import print_summary
from drillkit.report.bundle import (
    SigningKeyError,
    current_signing_key,
    generate_key,
    load_private_key,
    load_public_key,
    verify_bundle,
)
from drillkit.report.format import fmt
from drillkit.spec import DrillFileError, resolve_drill_path
from drillkit.suite import (
    EXIT_LOCKED,
    LockHeld,
    Outputs,
    all_drills,
    load_drills,
    load_suite,
    run_lock,
    run_suite,
)
from drillkit.trends import default_db, drill_stats, recent_runs

__all__ = [
    "RunRequest",
    "evidence_app",
    "history",
    "run_command",
]

# Options of `drillkit run` (declared here so cli.py stays short).
AllOpt = Annotated[bool, typer.Option("--all", help="run every drill in the drills directory")]
SuiteOpt = Annotated[
    Path | None, typer.Option(help="a suite file (YAML: drills: [NAME|PATH, ...]) to run in order")
]
JunitOpt = Annotated[Path | None, typer.Option(help="write JUnit XML for CI systems here")]
MetricsFileOpt = Annotated[
    Path | None,
    typer.Option(help="write Prometheus metrics here (node_exporter textfile format, *.prom)"),
]
PushgatewayOpt = Annotated[
    str | None,
    typer.Option(envvar="DRILLKIT_PUSHGATEWAY", help="push metrics to this Prometheus Pushgateway"),
]
LogFormatOpt = Annotated[str, typer.Option(help="text, or json: one JSON event per line")]
SigningKeyOpt = Annotated[
    Path | None,
    typer.Option(
        envvar="DRILLKIT_SIGNING_KEY_FILE",
        help="Ed25519 private key (PEM) that signs the evidence; or set DRILLKIT_SIGNING_KEY "
        "to the PEM text. Unsigned when neither is set.",
    ),
]
LockWaitOpt = Annotated[
    float, typer.Option(help="seconds to wait for another drillkit run on this host to finish")
]


@dataclass
class RunRequest:
    drill: str | None
    drills_dir: Path
    report_dir: Path
    keep: bool = False
    all: bool = False
    suite: Path | None = None
    junit: Path | None = None
    metrics_file: Path | None = None
    pushgateway: str | None = None
    log_format: str = "text"
    signing_key: Path | None = None
    lock_wait: float = 0.0


def _paths(req: RunRequest) -> list[Path]:
    if req.suite is not None:
        return load_suite(req.suite, req.drills_dir)
    if req.all:
        return all_drills(req.drills_dir)
    assert req.drill is not None
    return [resolve_drill_path(req.drill, req.drills_dir)]


def _signing_key(req: RunRequest) -> Any:
    if req.signing_key is not None:
        try:
            return load_private_key(req.signing_key.read_bytes(), str(req.signing_key))
        except OSError as e:
            raise SigningKeyError(
                f"--signing-key: cannot read {req.signing_key}: {e.strerror}"
            ) from None
    return current_signing_key()


def _summary_table(results: list[DrillResult]) -> Table:
    table = Table(title="suite")
    for column in ("drill", "verdict", "RTO s", "RPO s", "lost writes", "evidence"):
        table.add_column(column)
    for r in results:
        m = r.model.measured
        table.add_row(
            r.model.drill,
            r.verdict.value,
            *(
                f"{v:.3f}" if isinstance(v, float) else str(v)
                for v in (m.rto_seconds, m.rpo_seconds)
            ),
            str(m.lost_writes),
            str(r.report_dir),
        )
    return table


def run_command(
    req: RunRequest, *, out: Console, err: Console, progress: Callable[[], Callable[[str], None]]
) -> int:
    """``drillkit run``: validate everything, take the host lock, run, deliver; an exit code."""
    chosen = [req.drill is not None, req.all, req.suite is not None]
    if sum(chosen) != 1:
        err.print("[red]error:[/red] give exactly one of: a drill NAME|PATH, --all, --suite FILE")
        return EXIT_BAD_INPUT
    if req.log_format not in ("text", "json"):
        err.print(f"[red]error:[/red] --log-format: {req.log_format!r}; expected text or json")
        return EXIT_BAD_INPUT
    try:
        specs, errors = load_drills(_paths(req))
        key = _signing_key(req)
    except (DrillFileError, SigningKeyError) as e:
        specs, errors, key = [], [str(e)], None
    for problem in errors:
        err.print(f"[red]error:[/red] {problem}", highlight=False)
    if errors:
        return EXIT_BAD_INPUT
    log = JsonLog(out.file) if req.log_format == "json" else None

    def show(result: DrillResult) -> None:
        if log is not None:
            log.drill_result(result.model, str(result.report_dir), result.exit_code)
            return
        print_summary(result.model, str(result.report_dir), out)
        evidence = result.model.evidence
        signed = (
            f"signed ({evidence.key_fingerprint})"
            if evidence is not None and evidence.signed
            else "unsigned (no signing key set)"
        )
        out.print(f"evidence {signed}; read {result.report_dir / 'report.html'}", highlight=False)
        for problem in evidence.errors if evidence is not None else []:
            err.print(f"[yellow]evidence:[/yellow] {problem.splitlines()[0]}", highlight=False)

    outputs = Outputs(req.junit, req.metrics_file, req.pushgateway)
    try:
        with run_lock(wait_seconds=req.lock_wait):
            result = run_suite(
                specs,
                report_root=req.report_dir,
                outputs=outputs,
                signing_key=key,
                progress=log.progress if log else progress(),
                on_result=show,
                keep=req.keep,
            )
    except LockHeld as e:
        if log is not None:
            log.emit("locked", "error", message=str(e), exit_code=EXIT_LOCKED)
        err.print(f"[red]error:[/red] {e}; try again later or pass --lock-wait", highlight=False)
        return EXIT_LOCKED
    for problem in result.delivery_errors:
        if log is not None:
            log.emit("delivery-error", "error", message=problem)
        err.print(f"[red]error:[/red] {problem}", highlight=False)
    if log is None and len(result.results) > 1:
        out.print(_summary_table(result.results))
    if log is not None:
        log.emit("suite", "info", drills=len(result.results), exit_code=result.exit_code)
    return result.exit_code


# -- drillkit evidence ...; drillkit history ---------------------------------------------------
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


def history(
    drill: Annotated[str | None, typer.Argument(help="only this drill")] = None,
    report_dir: Annotated[Path, typer.Option(help="where the evidence folders are")] = Path(
        "reports"
    ),
    limit: Annotated[int, typer.Option(help="how many recent runs to list")] = 20,
) -> None:
    """Recent runs, p50/p95 RTO and RPO per drill, and RTO regressions."""
    db = default_db(report_dir)
    runs = recent_runs(db, drill, limit=limit)
    if not runs:
        _out.print(f"no runs recorded in {db}", highlight=False)
        return
    table = Table(title="recent runs (newest first)")
    for column in ("started", "drill", "verdict", "RTO s", "RPO s", "lost", "", "evidence"):
        table.add_column(column)
    for r in runs:
        flag = ""
        if r.rto_regressed and r.recent_rto_range is not None:
            lo, hi = r.recent_rto_range
            flag = f"[red]RTO regressed[/red] (recent {lo:.3f}..{hi:.3f}s)"
        style = {"pass": "green", "fail": "red"}.get(r.verdict, "yellow")
        table.add_row(
            r.started_at,
            r.drill,
            f"[{style}]{r.verdict}",
            fmt(r.rto_seconds),
            fmt(r.rpo_seconds),
            "-" if r.lost_writes is None else str(r.lost_writes),
            flag,
            r.report_path,
        )
    _out.print(table)
    stats = Table(title="per drill (latest 20 runs)")
    for column in (
        "drill",
        "runs",
        "passed",
        "RTO p50",
        "RTO p95",
        "RPO p50",
        "RPO p95",
        "last success",
    ):
        stats.add_column(column)
    for s in drill_stats(db, drill):
        stats.add_row(
            s.drill,
            str(s.runs),
            str(s.passed),
            fmt(s.rto_p50),
            fmt(s.rto_p95),
            fmt(s.rpo_p50),
            fmt(s.rpo_p95),
            s.last_success or "never",
        )
    _out.print(stats)
