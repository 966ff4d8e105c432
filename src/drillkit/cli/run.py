"""``drillkit run``: one drill, ``--all`` or ``--suite``, with JUnit, metrics, structured logs and
signing. Thin: validation, the host lock and delivery are :mod:`drillkit.suite`'s.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from drillkit.drill import DrillResult, new_run_id, run_drill
from drillkit.errors import EXIT_BAD_INPUT, InfrastructureError
from drillkit.jsonlog import JsonLog
from drillkit.report import print_summary
from drillkit.report.audit import OPERATOR_ENV, AuditInput, audit_input
from drillkit.report.bundle import SigningKeyError, current_signing_key, load_private_key
from drillkit.report.controls import FRAMEWORKS, unknown_frameworks
from drillkit.report.production import ProductionDumpError, production_config, read_dump
from drillkit.runbook.custom import host_steps
from drillkit.safetext import markup
from drillkit.spec import DrillFileError, DrillSpec, load_drill
from drillkit.spec.external import target_problem
from drillkit.suite import (
    EXIT_LOCKED,
    LockHeld,
    Outputs,
    all_drills,
    load_suite,
    run_lock,
    run_suite,
)

__all__ = ["RunRequest", "refuse_host_steps", "run_command", "unconfirmed_targets"]

# Options of `drillkit run` (declared here so cli/main.py stays short).
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
ProductionConfigOpt = Annotated[
    list[Path] | None,
    typer.Option(
        "--production-config",
        help="a dump of production's settings (pg_settings CSV, redis-cli CONFIG GET '*', "
        "SENTINEL MASTER, Patroni /config JSON); the evidence says where the drill differs. "
        "Repeatable",
    ),
]
NoHostStepsOpt = Annotated[
    bool,
    typer.Option(
        "--no-host-steps/--allow-host-steps",
        envvar="DRILLKIT_NO_HOST_STEPS",
        help="refuse drills with runbook steps that run commands on this host "
        "(default from DRILLKIT_NO_HOST_STEPS=1)",
    ),
]
LockWaitOpt = Annotated[
    float, typer.Option(help="seconds to wait for another drillkit run on this host to finish")
]

TargetOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--target",
        help="confirm the stack a drill of kind compose or containers strikes: its "
        "external.confirm (the Compose project); repeatable for a suite",
    ),
]

OperatorOpt = Annotated[
    str | None,
    typer.Option(
        envvar=OPERATOR_ENV, help="who runs the drill, recorded in the evidence (default: OS user)"
    ),
]
EnvironmentOpt = Annotated[
    str | None,
    typer.Option(help="the environment label recorded in the evidence, e.g. staging, dr-lab"),
]
StandsInForOpt = Annotated[
    str | None,
    typer.Option(help="the production system this drill rehearses, recorded in the evidence"),
]
ControlsOpt = Annotated[
    str | None,
    typer.Option(
        help="add a control mapping to the evidence: comma-separated, of " + ", ".join(FRAMEWORKS)
    ),
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
    no_host_steps: bool = False
    overrides: list[str] = field(default_factory=list)
    production: list[Path] | None = None
    operator: str | None = None
    environment: str | None = None
    stands_in_for: str | None = None
    controls: str | None = None
    targets: list[str] = field(default_factory=list)

    def audit(self) -> AuditInput:
        """The audit fields declared on the command line."""
        return AuditInput(
            operator=self.operator,
            environment=self.environment,
            stands_in_for=self.stands_in_for,
            controls=self.control_keys(),
        )

    def control_keys(self) -> tuple[str, ...]:
        return tuple(k.strip().lower() for k in (self.controls or "").split(",") if k.strip())


def refuse_host_steps(specs: list[tuple[Path, DrillSpec]]) -> list[str]:
    """One error per runbook step that would run on this host (``--no-host-steps``)."""
    return [
        f"{path}: {step} runs on this host; refused by --no-host-steps (DRILLKIT_NO_HOST_STEPS)"
        for path, spec in specs
        for step in host_steps(spec.runbook)
    ]


def unconfirmed_targets(specs: list[tuple[Path, DrillSpec]], targets: list[str]) -> list[str]:
    """One error per drill that would strike a stack drillkit did not create without a matching
    ``--target``, and per ``--target`` that names no drill's target."""
    problems = [
        problem
        for path, spec in specs
        if (
            problem := target_problem(
                str(path),
                spec.topology,
                spec.external.confirm if spec.external is not None else None,
                targets,
            )
        )
        is not None
    ]
    confirmed = {spec.external.confirm for _, spec in specs if spec.external is not None}
    problems += [
        f"--target {t}: no drill given confirms it (external.confirm); nothing was touched"
        for t in targets
        if t not in confirmed
    ]
    return problems


def _paths(req: RunRequest) -> list[Path]:
    if req.suite is not None:
        return load_suite(req.suite, req.drills_dir)
    if req.all:
        return all_drills(req.drills_dir)
    assert req.drill is not None
    from drillkit.cli.read import find_drill

    return [find_drill(req.drill, req.drills_dir)]


def _load(
    paths: list[Path], overrides: list[str]
) -> tuple[list[tuple[Path, DrillSpec]], list[str]]:
    """Validate every drill file (with the ``--set`` overrides); the specs and every problem."""
    specs, errors = [], []
    for path in paths:
        try:
            specs.append((path, load_drill(path, overrides=overrides)))
        except DrillFileError as e:
            errors += [str(p) for p in e.problems[:20]]
            if len(e.problems) > 20:
                errors.append(f"{path}: ... and {len(e.problems) - 20} more (drillkit validate)")
    return specs, errors


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
        # names and paths wrap rather than end in "…" on a narrow terminal
        table.add_column(column, overflow="fold")
    for r in results:
        m = r.model.measured
        table.add_row(
            markup(r.model.drill),
            r.verdict.value,
            *(
                f"{v:.3f}" if isinstance(v, float) else str(v)
                for v in (m.rto_seconds, m.rpo_seconds)
            ),
            str(m.lost_writes),
            markup(r.report_dir),
        )
    return table


def run_command(
    req: RunRequest, *, out: Console, err: Console, progress: Callable[[], Callable[[str], None]]
) -> int:
    """``drillkit run``: validate everything, take the host lock, run, deliver; an exit code."""
    log = JsonLog(out.file) if req.log_format == "json" else None
    chosen = [req.drill is not None, req.all, req.suite is not None]
    errors: list[str] = []
    if sum(chosen) != 1:
        errors.append("give exactly one of: a drill NAME|PATH, --all, --suite FILE")
    if req.log_format not in ("text", "json"):
        errors.append(f"--log-format: {req.log_format!r}; expected text or json")
    unknown = unknown_frameworks(req.control_keys())
    if unknown:
        errors.append(
            f"--controls: {', '.join(unknown)} unknown; expected some of {', '.join(FRAMEWORKS)}"
        )
    dumps: list[Any] = []
    if not errors:
        try:
            specs, errors = _load(_paths(req), req.overrides)
            if req.no_host_steps:
                errors += refuse_host_steps(specs)
            if not errors:
                errors += unconfirmed_targets(specs, req.targets)
            key = _signing_key(req)
            dumps = [read_dump(p) for p in req.production or []]
        except (DrillFileError, SigningKeyError, ProductionDumpError) as e:
            specs, errors, key, dumps = [], [str(e)], None, []
    for problem in errors:
        if log is not None:  # bad input is a JSON event too; the exit code is the same
            log.emit("bad-input", "error", message=problem, exit_code=EXIT_BAD_INPUT)
        else:
            err.print(f"[red]error:[/red] {markup(problem)}", highlight=False)
    if errors:
        return EXIT_BAD_INPUT

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
        out.print(
            f"evidence {markup(signed)}; read {markup(result.report_dir / 'report.html')}",
            highlight=False,
        )
        for problem in evidence.errors if evidence is not None else []:
            err.print(
                f"[yellow]evidence:[/yellow] {markup((problem.splitlines() or [''])[0])}",
                highlight=False,
            )

    def runner(spec: DrillSpec, **kwargs: Any) -> DrillResult:
        """run_drill, with the drill and its run id on every JSON event while it runs."""
        run_id = new_run_id(spec.name)
        if log is not None:
            log.context = {"drill": spec.name, "run_id": run_id}
        try:
            return run_drill(spec, run_id=run_id, target=req.targets, **kwargs)
        finally:
            if log is not None:
                log.context = {}

    outputs = Outputs(req.junit, req.metrics_file, req.pushgateway)
    try:
        with (
            run_lock(wait_seconds=req.lock_wait),
            production_config(dumps),
            audit_input(req.audit()),
        ):
            result = run_suite(
                specs,
                report_root=req.report_dir,
                outputs=outputs,
                signing_key=key,
                progress=log.progress if log else progress(),
                on_result=show,
                keep=req.keep,
                runner=runner,
            )
    except LockHeld as e:
        if log is not None:
            log.emit("locked", "error", message=str(e), exit_code=EXIT_LOCKED)
        err.print(
            f"[red]error:[/red] {markup(e)}; try again later or pass --lock-wait", highlight=False
        )
        return EXIT_LOCKED
    except InfrastructureError as e:  # the lock directory or file is not safely ours
        err.print(f"[red]error:[/red] {e}", highlight=False)
        return e.exit_code
    for problem in result.delivery_errors:
        if log is not None:
            log.emit("delivery-error", "error", message=problem)
        err.print(f"[red]error:[/red] {markup(problem)}", highlight=False)
    if log is None and len(result.results) > 1:
        out.print(_summary_table(result.results))
    if log is not None:
        log.emit("suite", "info", drills=len(result.results), exit_code=result.exit_code)
    return result.exit_code
