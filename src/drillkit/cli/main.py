"""The ``drillkit`` command: parse arguments, call the library, map the result to an exit code."""

from __future__ import annotations

import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Annotated

import typer

from drillkit import __version__
from drillkit.cli import read
from drillkit.cli import run as rn
from drillkit.cli import sweep as sw
from drillkit.cli.compare import compare_config
from drillkit.cli.evidence import evidence_app
from drillkit.cli.history import history
from drillkit.cli.output import console
from drillkit.cli.plan import plan
from drillkit.cli.read import DrillsDir, SetOpt
from drillkit.cli.report import report_app
from drillkit.errors import EXIT_BAD_INPUT, EXIT_INFRA, EXIT_LOCKED, InfrastructureError
from drillkit.images import ensure_image
from drillkit.images.base import BaseSource
from drillkit.images.catalog import DEFAULT_IMAGES, POSTGRES_IMAGES, REDIS_IMAGES
from drillkit.resources import SweepResult, carry_out, connect_engine, plan_cleanup
from drillkit.safetext import markup
from drillkit.shipped import copy_shipped, drills_home
from drillkit.spec import DrillFileError, DrillSpec, load_drill
from drillkit.suite import LockHeld, run_lock

app = typer.Typer(
    no_args_is_help=True,
    help="Chaos and disaster-recovery drills with measured RPO and RTO.",
)
images_app = typer.Typer(no_args_is_help=True, help="drillkit's node images.")
app.add_typer(images_app, name="images")
app.add_typer(evidence_app, name="evidence")
app.command("compare-config")(compare_config)
app.add_typer(report_app, name="report")
app.command("history")(history)
app.command("list")(read.list_drills)
app.command("validate")(read.validate)
app.command("faults")(read.faults)
app.command("schema")(read.schema)
app.command("plan")(plan)

out = console()
err = console(stderr=True)


def _version(value: bool) -> None:
    if value:
        out.print(f"drillkit {__version__}", highlight=False)
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="print the version and exit"
        ),
    ] = False,
) -> None:
    """Chaos and disaster-recovery drills with measured RPO and RTO."""


def _progress() -> Callable[[str], None]:
    started = time.monotonic()

    def say(message: str) -> None:
        err.print(
            f"[dim]{time.monotonic() - started:6.1f}s[/dim] {markup(message)}", highlight=False
        )

    return say


def _load(path: Path) -> DrillSpec:
    try:
        return load_drill(path)
    except DrillFileError as e:
        err.print(f"[red]error:[/red] {markup(e)}", highlight=False)
        raise typer.Exit(EXIT_BAD_INPUT) from None


def _interrupt_once(signum: int, frame: FrameType | None) -> None:
    """First SIGINT/SIGTERM stops the drill; later ones must not interrupt the cleanup."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    err.print("interrupted: healing faults, removing containers and writing the report...")
    raise KeyboardInterrupt


@app.command()
def run(
    drill: Annotated[
        str | None, typer.Argument(help="drill NAME (drills/NAME.yaml) or PATH to a file")
    ] = None,
    report_dir: Annotated[Path, typer.Option(help="where the evidence folder is written")] = Path(
        "reports"
    ),
    drills_dir: DrillsDir = None,
    keep: Annotated[
        bool,
        typer.Option(
            help="leave the topology running for inspection (drillkit cleanup --run ID removes it)"
        ),
    ] = False,
    all_drills: rn.AllOpt = False,
    suite: rn.SuiteOpt = None,
    junit: rn.JunitOpt = None,
    metrics_file: rn.MetricsFileOpt = None,
    pushgateway: rn.PushgatewayOpt = None,
    log_format: rn.LogFormatOpt = "text",
    signing_key: rn.SigningKeyOpt = None,
    lock_wait: rn.LockWaitOpt = 0.0,
    no_host_steps: rn.NoHostStepsOpt = False,
    overrides: SetOpt = None,
    production_config: rn.ProductionConfigOpt = None,
    operator: rn.OperatorOpt = None,
    environment: rn.EnvironmentOpt = None,
    stands_in_for: rn.StandsInForOpt = None,
    controls: rn.ControlsOpt = None,
    target: rn.TargetOpt = None,
) -> None:
    """Run a drill (or --all, or a --suite) end to end and judge it against its targets."""
    signal.signal(signal.SIGINT, _interrupt_once)
    signal.signal(signal.SIGTERM, _interrupt_once)
    request = rn.RunRequest(
        drill=drill,
        drills_dir=drills_home(drills_dir),
        report_dir=report_dir,
        keep=keep,
        all=all_drills,
        suite=suite,
        junit=junit,
        metrics_file=metrics_file,
        pushgateway=pushgateway,
        log_format=log_format,
        signing_key=signing_key,
        lock_wait=lock_wait,
        no_host_steps=no_host_steps,
        overrides=overrides or [],
        production=production_config,
        operator=operator,
        environment=environment,
        stands_in_for=stands_in_for,
        controls=controls,
        targets=target or [],
    )
    raise typer.Exit(rn.run_command(request, out=out, err=err, progress=_progress))


@app.command()
def sweep(
    drill: Annotated[str, typer.Argument(help="drill NAME (drills/NAME.yaml) or PATH to a file")],
    sets: sw.SweepSetOpt = None,
    repeat: sw.RepeatOpt = 1,
    report_dir: Annotated[
        Path, typer.Option(help="where the sweep's folder (summary + every run) is written")
    ] = Path("reports"),
    drills_dir: DrillsDir = None,
    skip_invalid: sw.SkipInvalidOpt = False,
    lock_wait: rn.LockWaitOpt = 0.0,
    target: rn.TargetOpt = None,
) -> None:
    """Run a drill over the cartesian product of --set alternatives, --repeat times per cell;
    print and write (HTML with a chart, CSV, JSON) p50/p95 of RPO, RTO, lost writes and
    throughput per cell (see docs/sweeps.md)."""
    signal.signal(signal.SIGINT, _interrupt_once)
    signal.signal(signal.SIGTERM, _interrupt_once)
    try:
        path = read.find_drill(drill, drills_home(drills_dir))
    except DrillFileError as e:
        err.print(f"[red]error:[/red] {markup(e)}", highlight=False)
        raise typer.Exit(EXIT_BAD_INPUT) from None
    request = sw.SweepRequest(
        path, sets or [], repeat, report_dir, skip_invalid, lock_wait, target or []
    )
    raise typer.Exit(sw.sweep_command(request, out=out, err=err, progress=_progress()))


@images_app.command("build")
def images_build(
    base_source: Annotated[
        str, typer.Option(help="where the Debian base comes from: auto, local, debootstrap or pull")
    ] = "auto",
    rebuild: Annotated[bool, typer.Option(help="rebuild even if up to date")] = False,
    all_versions: Annotated[
        bool,
        typer.Option(
            "--all",
            help="also every other engine version (PostgreSQL 17, Redis 8, Valkey 8: Debian "
            "trixie); without it they are built the first time a drill needs them",
        ),
    ] = False,
) -> None:
    """Build drillkit's node images (no registry needed on a Debian host): the default
    versions, or with --all every version a drill can choose."""
    if base_source not in ("auto", "local", "debootstrap", "pull"):
        err.print(
            f"[red]error:[/red] --base-source: {markup(repr(base_source))} is not allowed; "
            "expected auto, local, debootstrap or pull"
        )
        raise typer.Exit(EXIT_BAD_INPUT)
    source: BaseSource = base_source  # type: ignore[assignment]
    try:
        client = connect_engine(timeout=600)
        specs = (
            [*POSTGRES_IMAGES.values(), *REDIS_IMAGES.values()]
            if all_versions
            else list(DEFAULT_IMAGES.values())
        )
        tags = [
            ensure_image(client, spec, base_source=source, rebuild=rebuild, progress=_progress())[0]
            for spec in specs
        ]
    except InfrastructureError as e:
        err.print(f"[red]error:[/red] {markup(e)}", highlight=False)
        raise typer.Exit(EXIT_INFRA) from None
    for tag in tags:
        out.print(tag)


@app.command()
def docs(
    write: Annotated[bool, typer.Option("--write", help="regenerate the files")] = False,
    root: Annotated[Path, typer.Option(help="the repository checkout")] = Path("."),
) -> None:
    """Check (or --write) the reference under docs/reference/ generated from the code."""
    from drillkit import docgen

    if write:
        for rel in docgen.write(root):
            out.print(f"wrote {rel}")
        return
    stale = docgen.stale(root)
    for rel in stale:
        err.print(f"{rel} is out of date with the code; run: drillkit docs --write")
    if stale:
        raise typer.Exit(1)
    out.print(f"{len(docgen.GENERATED)} generated file(s) are current")


@app.command()
def init(
    directory: Annotated[Path, typer.Argument(help="where drills/ and scenarios/ go")] = Path("."),
) -> None:
    """Copy the shipped drills and scenarios into DIRECTORY to edit them (never overwrites)."""
    try:
        written = copy_shipped(directory)
    except OSError as e:
        err.print(f"error: {directory}: {e.strerror or e}", markup=False, highlight=False)
        raise typer.Exit(EXIT_BAD_INPUT) from None
    for path in written:
        out.print(f"wrote {path}", highlight=False)
    if not written:
        out.print(f"{directory}: drills/ and scenarios/ already have every shipped file")
    where = "" if directory == Path(".") else f" --drills-dir {directory / 'drills'}"
    out.print(
        f"edit a drill, then: drillkit validate {directory / 'drills' / 'failover.yaml'} && "
        f"drillkit run failover{where}",
        highlight=False,
    )


@app.command()
def cleanup(
    run_ids: Annotated[
        list[str] | None,
        typer.Option("--run", help="remove this run (repeatable), kept or of unknown owner"),
    ] = None,
    all_runs: Annotated[
        bool, typer.Option("--all", help="remove every run that is not alive, kept ones too")
    ] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="list what would be removed; remove nothing")
    ] = False,
    external: Annotated[
        Path | None,
        typer.Option(
            "--external",
            help="drop the drillkit_probe_* tables left on the stack this drill file targets "
            "(kind compose or containers); touches no container",
        ),
    ] = None,
    lock_wait: rn.LockWaitOpt = 0.0,
) -> None:
    """Remove the containers, networks and volumes of dead runs (default), of --run ID, or --all.

    Takes the host lock: while a drillkit run holds it, nothing is removed (exit 75). A run whose
    heartbeat is fresh is never removed; a kept (--keep) run only with --run ID or --all.
    With --external DRILL: drop the probe tables (delete the probe keys, on Redis) runs left on
    that drill's external stack."""
    if external is not None:
        _cleanup_external(external, dry_run=dry_run, lock_wait=lock_wait)
        return
    if run_ids and all_runs:
        err.print("[red]error:[/red] give --run ID or --all, not both")
        raise typer.Exit(EXIT_BAD_INPUT)
    try:
        client = connect_engine()
        with run_lock(wait_seconds=lock_wait):
            decisions = plan_cleanup(client, run_ids=run_ids or (), everything=all_runs)
            result = SweepResult() if dry_run else carry_out(client, decisions)
    except LockHeld as e:
        err.print(
            f"[red]error:[/red] a drillkit run is active: {markup(e)}; nothing removed",
            highlight=False,
        )
        raise typer.Exit(EXIT_LOCKED) from None
    except KeyError as e:
        run = markup(e.args[0])
        err.print(
            f"[red]error:[/red] --run {run}: no resources carry drillkit.run={run}",
            highlight=False,
        )
        raise typer.Exit(EXIT_BAD_INPUT) from None
    except InfrastructureError as e:
        err.print(f"[red]error:[/red] {markup(e)}", highlight=False)
        raise typer.Exit(EXIT_INFRA) from None
    if not decisions:
        out.print("no drillkit resources on this engine")
    verb = "would remove" if dry_run else "removed"
    for d in decisions:
        what = markup(f"{d.run.run_id}  {d.liveness.state}: {d.liveness.reason}")
        if d.remove:
            summary = markup(d.run.resources.summary())
            out.print(f"{verb:<12}  {what}  ({summary})", highlight=False)
        else:
            out.print(f"{'kept':<12}  {what}; {markup(d.why)}", highlight=False)
    if not dry_run:
        _remove_kept_credentials([d.run.run_id for d in decisions if d.remove])
        out.print(f"removed {markup(result.summary())}", highlight=False)


def _cleanup_external(path: Path, *, dry_run: bool, lock_wait: float) -> None:
    from drillkit.external_cleanup import drop_probe_leftovers

    try:
        spec = load_drill(path)
    except DrillFileError as e:
        err.print(f"[red]error:[/red] {markup(e)}", highlight=False)
        raise typer.Exit(EXIT_BAD_INPUT) from None
    if spec.topology.kind not in ("compose", "containers"):
        err.print(
            f"[red]error:[/red] {markup(path)}: topology.kind is {markup(spec.topology.kind)}; "
            "--external needs kind compose or containers",
            highlight=False,
        )
        raise typer.Exit(EXIT_BAD_INPUT)
    try:
        client = connect_engine()
        with run_lock(wait_seconds=lock_wait):
            tables, _secrets = drop_probe_leftovers(client, spec.topology, dry_run=dry_run)
    except LockHeld as e:
        err.print(
            f"[red]error:[/red] a drillkit run is active: {markup(e)}; nothing dropped",
            highlight=False,
        )
        raise typer.Exit(EXIT_LOCKED) from None
    except InfrastructureError as e:
        err.print(f"[red]error:[/red] {markup(e)}", highlight=False)
        raise typer.Exit(EXIT_INFRA) from None
    verb = "would drop" if dry_run else "dropped"
    for table in tables:
        out.print(f"{verb}  {markup(table)}", highlight=False)
    if not tables:
        out.print("no drillkit_probe_* table or key on the stack")


def _remove_kept_credentials(run_ids: list[str]) -> None:
    """The --keep password files of removed runs go with their topology."""
    kept = Path.home() / ".drillkit"
    for run_id in run_ids:
        for suffix in (".pgpass", ".redis-auth"):
            (kept / f"{run_id}{suffix}").unlink(missing_ok=True)


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)
