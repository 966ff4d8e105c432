"""Run one drill end to end: provision, write, gate, inject, restore, observe, read, judge, report.

The runner only sequences the parts; the history it writes is the sole input of the judgement.
Whatever happens (a missed target, a crash, Ctrl-C), faults are healed, every labelled resource
is removed and ``report.json`` is written with what is known.
"""

from __future__ import annotations

import logging
import secrets
import time
import traceback
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import Any

from tenacity import retry, stop_after_delay, wait_fixed

from drillkit.checkers import Analysis, Verdict, analyze, injections
from drillkit.checkers.run_ops import (
    ERROR,
    FAULT_ERROR,
    RUNBOOK,
    TOPOLOGY,
    run_context,
)
from drillkit.errors import EXIT_FAIL, EXIT_INFRA, EXIT_INTERRUPTED, EXIT_PASS, InfrastructureError
from drillkit.faults import make_fault
from drillkit.faults.nemesis import Nemesis
from drillkit.history import History, Op, OpType
from drillkit.ownership import Heartbeat
from drillkit.platform import DockerPlatform, EngineProbe, Platform
from drillkit.queries import DRILL_PROCESS, FINAL_READ_PROCESS, encode_ids
from drillkit.report.evidence import build_report
from drillkit.report.finalize import collect_system_evidence, finalize_evidence
from drillkit.report.model import Report
from drillkit.resources import labels_for
from drillkit.runbook import RunbookResult, make_step, run_runbook
from drillkit.secrets import Secrets
from drillkit.spec import DrillSpec
from drillkit.spec.external import UnconfirmedTarget, target_problem
from drillkit.steady_state import await_steady_state
from drillkit.topology import System
from drillkit.workload.base import Client, Disposable

__all__ = ["EXIT_INTERRUPTED", "DrillResult", "run_drill"]

Progress = Callable[[str], None]
_log = logging.getLogger("drillkit")


@dataclass
class DrillResult:
    run_id: str
    report_dir: Path
    verdict: Verdict
    analysis: Analysis
    model: Report  # the typed report; renderers read this
    error: str | None = None
    infrastructure_error: bool = False
    interrupted: bool = False

    @cached_property
    def report(self) -> dict[str, Any]:
        """The content of ``report.json`` as a dict (for tests and scripts)."""
        return self.model.as_json()

    @property
    def passed(self) -> bool:
        return self.verdict is Verdict.PASS

    @property
    def rto_seconds(self) -> float | None:
        return self.model.measured.rto_seconds

    @property
    def rpo_seconds(self) -> float | None:
        return self.model.measured.rpo_seconds

    @property
    def lost_writes(self) -> int | None:
        return self.model.measured.lost_writes

    @property
    def exit_code(self) -> int:
        if self.interrupted:
            return EXIT_INTERRUPTED
        if self.infrastructure_error:
            return EXIT_INFRA
        return EXIT_PASS if self.model.as_expected else EXIT_FAIL


def _report_dir(root: Path, drill: str, started: datetime) -> Path:
    base = root / f"{drill}-{started:%Y%m%dT%H%M%SZ}"
    path, n = base, 1
    while path.exists():
        n += 1
        path = base.with_name(f"{base.name}-{n}")
    return path


def _final_read(client: Client, history: History, timeout: float = 15.0) -> None:
    """Read every surviving id from whichever node serves writes now; record it in the history."""
    read = history.invoke(FINAL_READ_PROCESS, "read")

    @retry(stop=stop_after_delay(timeout), wait=wait_fixed(0.2), reraise=True)
    def attempt() -> list[int]:
        return client.read_ids()

    try:
        ids = attempt()
    except Exception as e:
        history.complete(read, OpType.FAIL, error=f"{type(e).__name__}: {e}".strip())
        return
    history.complete(read, OpType.OK, value=encode_ids(ids), count=len(ids))


def _effective_ns(ops: list[Op], entry: int | None) -> int | None:
    """When the first injection of ``entry`` (None: of any entry) took effect, if it did."""
    return next(
        (
            i.effective_ns
            for i in injections(ops)
            if i.status == "ok" and (entry is None or i.entry == entry)
        ),
        None,
    )


class _Run:
    """State of one run, so cleanup and reporting can see whatever stage it reached."""

    def __init__(
        self, spec: DrillSpec, progress: Progress, platform: Platform, *, keep: bool = False
    ) -> None:
        self.spec = spec
        self.keep = keep
        self.progress = progress
        self.platform = platform
        self.versions: dict[str, str] = {}
        self.secrets = Secrets.generate(*platform.secret_names(spec.topology))

    def _print_kept(self, run_id: str, lines: list[str]) -> None:
        self.progress(
            f"--keep: topology of {run_id} left running; "
            f"remove with drillkit cleanup --run {run_id}"
        )
        for line in lines:
            self.progress(f"  {line}")

    def execute(
        self,
        history: History,
        labels: dict[str, str],
        run_id: str,
        sleep: Callable[[float], None],
    ) -> None:
        spec, platform = self.spec, self.platform
        swept = platform.sweep_dead_runs()
        if swept:
            self.progress(f"swept leftovers of dead runs: {swept}")
        self.versions.update(platform.prepare(spec.topology, self.progress))
        with ExitStack() as stack:
            system: System = stack.enter_context(
                platform.topology(
                    spec.topology,
                    run_id=run_id,
                    labels=labels,
                    secrets=self.secrets,
                    progress=self.progress,
                )
            )
            stack.callback(collect_system_evidence, system, history)  # logs, config, pre-teardown
            history.append(
                DRILL_PROCESS,
                OpType.OK,
                TOPOLOGY,
                {
                    "ready_seconds": round(system.ready_seconds or 0.0, 3),
                    "nodes": {n.name: n.role for n in system.nodes},
                },
            )
            if self.keep:
                system.keep = True
                lines = system.keep_instructions(Path.home() / ".drillkit")
                stack.callback(self._print_kept, run_id, lines)
            self.versions.update(system.versions())
            self.versions["image_id"] = system.nodes[0].image_id()
            client = platform.workload_client(system, spec.topology)  # the workload owns the data
            if isinstance(client, Disposable):  # runs after the writer stopped (LIFO)
                stack.callback(self._dispose, client, history)
            client.prepare()
            system.prepare()
            writer = client.make_workload(history, spec.workload)
            writer.start()
            stack.callback(writer.stop)
            self.progress(
                f"writing at {spec.workload.rate:g}/s; warming up {spec.workload.warmup_seconds:g}s"
            )
            sleep(spec.workload.warmup_seconds)
            gate = await_steady_state(
                system, client, writer, spec.steady_state, history, sleep=sleep
            )
            if not gate.healthy:  # recorded by the gate; the checkers note it
                self.progress(f"steady state not reached, no fault injected: {gate.reason}")
                return
            # Steps read what they need of the fault from the history when they run.
            steps = [make_step(s, system) for s in spec.runbook]
            nemesis = Nemesis(spec.faults, system, history, make_fault, progress=self.progress)
            stack.callback(nemesis.heal_all)
            writer.start_reads()  # read-backs of data acknowledged before the fault phase
            nemesis.start()
            # The runbook responds to the incident: the entry marked incident: true, else the
            # first fault to take effect; its delay counts from when that fault took effect.
            incident_entry = next((i for i, f in enumerate(spec.faults) if f.incident), None)
            nemesis.effect_event(incident_entry).wait()
            if steps:
                self.progress("running the runbook: " + ", ".join(s.name for s in steps))
            effective = _effective_ns(history.ops(), incident_entry)
            since_fault = 0.0 if effective is None else (history.now() - effective) / 1e9
            runbook = run_runbook(
                steps,
                history,
                sleep=sleep,
                redact=self.secrets.redact,
                elapsed_since_fault=since_fault,
            )
            _record_runbook(history, runbook)
            if runbook.infrastructure:  # e.g. the engine died under the step: exit 3, not 1
                raise InfrastructureError(f"runbook step {runbook.failed_step}: {runbook.error}")
            if not runbook.ok:
                self.progress(f"runbook step {runbook.failed_step} failed: {runbook.error}")
            nemesis.wait()
            for fault_error in nemesis.errors:
                history.append(DRILL_PROCESS, OpType.INFO, FAULT_ERROR, error=fault_error)
            self.progress(f"observing recovery for {spec.workload.observe_seconds:g}s")
            sleep(spec.workload.observe_seconds)
            writer.stop()
            if writer.error is not None:
                raise RuntimeError(f"writer crashed: {writer.error!r}")
            nemesis.heal_all()
            self.progress("final read of surviving writes")
            _final_read(client, history)

    def _dispose(self, client: Disposable, history: History) -> None:
        """Drop the client's data (a probe table); a leftover is reported and recorded."""
        leftover = client.dispose()
        if leftover is not None:
            self.progress(f"{leftover}; drop it with drillkit cleanup --external DRILL")
            history.append(DRILL_PROCESS, OpType.INFO, "dispose", error=leftover)


def _record_runbook(history: History, result: RunbookResult) -> None:
    """The runbook's outcome, for the report's context (its steps are recorded one by one)."""
    history.append(
        DRILL_PROCESS,
        OpType.OK if result.ok else OpType.FAIL,
        RUNBOOK,
        {"completed": result.completed, "failed_step": result.failed_step, "error": result.error},
    )


def new_run_id(drill: str, started: datetime | None = None) -> str:
    """``failover-20261130T212223Z-1a2b3c``: the drill, the start (UTC) and 3 random bytes."""
    started = started or datetime.now(UTC)
    return f"{drill}-{started:%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"


def run_drill(
    spec: DrillSpec,
    *,
    drill_file: str,
    report_root: Path = Path("reports"),
    progress: Progress = _log.info,
    sleep: Callable[[float], None] = time.sleep,
    keep: bool = False,
    platform: Platform | None = None,
    run_id: str | None = None,
    report_dir: Path | None = None,
    target: str | Sequence[str] = (),
) -> DrillResult:
    """Run ``spec`` and return its result; ``report.json`` is written in every case.

    With ``keep`` the topology is left running (labelled ``drillkit.keep=1``, so sweeps of dead
    runs spare it) and its connection details are printed; ``drillkit cleanup --run ID``
    removes it.
    ``platform`` is where the topology runs (default: Docker); ``run_id`` defaults to
    :func:`new_run_id`; ``report_dir`` (default: ``<report_root>/<drill>-<start time>``) is
    the evidence folder, e.g. ``reports/<sweep>/<cell>/<n>`` for ``drillkit sweep``. The runner
    only records what happened (errors included, see :mod:`drillkit.checkers.run_ops`);
    ``analyze`` judges it.

    A stack drillkit did not create (``kind: compose``/``containers``) is struck only when
    ``target`` (``drillkit run --target``) names its ``external.confirm``; otherwise
    :class:`~drillkit.spec.external.UnconfirmedTarget` is raised before anything is touched
    (no engine call, no report directory).
    """
    targets = [target] if isinstance(target, str) else list(target)
    confirm = spec.external.confirm if spec.external is not None else None
    unconfirmed = target_problem(drill_file, spec.topology, confirm, targets)
    if unconfirmed is not None:
        raise UnconfirmedTarget(unconfirmed)
    platform = DockerPlatform() if platform is None else platform
    started = datetime.now(UTC)
    run_id = run_id or new_run_id(spec.name, started)
    report_dir = report_dir or _report_dir(report_root, spec.name, started)
    history = History(report_dir / "history.jsonl")
    history.append(
        DRILL_PROCESS,
        OpType.OK,
        "start",
        {"run_id": run_id, "drill": spec.name},
        wall_time_ns=time.time_ns(),
    )
    heartbeat = Heartbeat(run_id).start()  # ownership of the run's resources (cleanup)
    if heartbeat.problem is not None:
        progress(f"warning: {heartbeat.problem}; leftovers need drillkit cleanup --run {run_id}")
    error: str | None = None
    infra = interrupted = False
    error_ns: int | None = None
    run: _Run | None = None
    try:
        run = _Run(spec, progress, platform, keep=keep)
        labels = labels_for(run_id, spec.name, keep=keep, owner=heartbeat.labels())
        run.execute(history, labels, run_id, sleep)
    except InfrastructureError as e:
        error, infra = str(e), True
    except KeyboardInterrupt:
        error, interrupted = "interrupted (SIGINT/SIGTERM) before the drill finished", True
    except Exception:
        error = "drill crashed:\n" + traceback.format_exc()
    finally:
        error_ns = None if error is None else history.now()
        swept = True
        if not keep:
            try:
                platform.sweep(run_id)
            except Exception as e:  # reported; `drillkit cleanup` sweeps what is left
                error = (error + "\n" if error else "") + f"cleanup failed: {e}"
                swept = False
        for problem in _infrastructure_problems(platform, history):
            error, infra = (error + "\n" if error else "") + problem, True
        redact = run.secrets.redact if run is not None else _no_redaction
        if error is not None:
            error = redact(error)
            history.append(DRILL_PROCESS, OpType.FAIL, ERROR, error=error, time_ns=error_ns)
        heartbeat.stop(forget=swept)  # a stale heartbeat marks leftovers as dead
        history.close()
    ops = history.ops()
    analysis = analyze(ops, spec.targets, spec.workload.stable_window_seconds)
    report = build_report(
        spec,
        ops,
        analysis,
        run_id=run_id,
        drill_file=drill_file,
        started_at=started,
        finished_at=datetime.now(UTC),
        versions=run.versions if run is not None else {},
        context=run_context(ops),
        error=error,
    )
    bundle = finalize_evidence(report_dir, report, ops, secrets_redact=redact)
    if bundle.write_errors:  # the evidence is incomplete: an infrastructure failure (exit 3)
        infra = True
        unwritten = "evidence not fully written: " + "; ".join(bundle.write_errors)
        error = f"{error}\n{unwritten}" if error else unwritten
    return DrillResult(
        run_id, report_dir, analysis.verdict, analysis, bundle.report, error, infra, interrupted
    )


def _infrastructure_problems(platform: Platform, history: History) -> list[str]:
    """What made this run an infrastructure failure whatever the verdict: the engine stopped
    answering (a step or fault may have failed for that reason), the history could not be
    written (the report is built from the complete history kept in memory)."""
    problems = []
    if isinstance(platform, EngineProbe):
        lost = platform.engine_problem()
        if lost is not None:
            problems.append(f"the engine stopped answering during the run: {lost}")
    if history.write_error is not None:
        problems.append(
            f"history.jsonl could not be written: {history.write_error} "
            "(the report is judged from the complete history kept in memory)"
        )
    return problems


def _no_redaction(text: str) -> str:
    return text
