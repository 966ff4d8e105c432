"""Scheduled runs: several drills in sequence with one summary and one exit code, under a lock.

Every drill file is validated before any drill starts. Drills run one after another (never in
parallel: they would disturb each other's timings on one Docker host); Ctrl-C stops the suite
after the current drill has cleaned up. A host lock (:mod:`drillkit.hostlock`: a file named
after the Docker daemon's ID in a private directory) keeps two scheduled runs from overlapping;
the second exits at once with :data:`EXIT_LOCKED` (75, "try again later") unless told to wait.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from drillkit import hostlock
from drillkit.drill import EXIT_INTERRUPTED, DrillResult, run_drill
from drillkit.errors import (
    EXIT_BAD_INPUT,
    EXIT_FAIL,
    EXIT_INFRA,
    EXIT_LOCKED,
    EXIT_PASS,
)
from drillkit.hostlock import LOCK_ENV, LockHeld, lock_path
from drillkit.metrics import push_metrics, write_metrics_file
from drillkit.report.bundle import signing
from drillkit.report.junit import write_junit
from drillkit.resources import daemon_key
from drillkit.spec import DrillFileError, DrillSpec, load_drill, resolve_drill_path
from drillkit.spec.reader import InputRejected, read_yaml
from drillkit.trends import default_db, last_success, record_run

__all__ = [
    "EXIT_LOCKED",
    "LOCK_ENV",
    "LockHeld",
    "Outputs",
    "SuiteResult",
    "all_drills",
    "load_suite",
    "lock_path",
    "merge_exit_codes",
    "run_lock",
    "run_suite",
]

Progress = Callable[[str], None]
Runner = Callable[..., DrillResult]


@contextlib.contextmanager
def run_lock(
    path: Path | None = None,
    *,
    wait_seconds: float = 0.0,
    sleep: Callable[[float], None] = time.sleep,
) -> Iterator[Path]:
    """The host lock of :mod:`drillkit.hostlock`, keyed by the Docker daemon's ID."""
    with hostlock.run_lock(path, wait_seconds=wait_seconds, sleep=sleep, key=daemon_key) as held:
        yield held


def load_suite(path: Path, drills_dir: Path) -> list[Path]:
    """A suite file: ``drills: [NAME or PATH, ...]`` (YAML). Returns the drill files, in order."""
    try:  # the limits of drill files: regular file, size cap, UTF-8, no duplicate keys, ...
        doc = read_yaml(path)
    except InputRejected as e:
        raise DrillFileError(path, e.field, e.problem) from None
    drills = doc.get("drills") if isinstance(doc, dict) else None
    if not isinstance(drills, list) or not drills or not all(isinstance(d, str) for d in drills):
        raise DrillFileError(path, "drills", "expected a non-empty list of drill names or paths")
    extra = {str(k) for k in doc} - {"drills", "description"}
    if extra:
        raise DrillFileError(path, sorted(extra)[0], "unknown field; expected drills, description")
    # A name is looked up in the drills directory; a path is relative to the suite file.
    return [
        path.parent / d
        if resolve_drill_path(d, drills_dir) == Path(d)
        else resolve_drill_path(d, drills_dir)
        for d in drills
    ]


def all_drills(drills_dir: Path) -> list[Path]:
    files = sorted(drills_dir.glob("*.yaml"))
    if not files:
        raise DrillFileError(drills_dir, "", "no drills (*.yaml) in this directory")
    return files


def merge_exit_codes(codes: list[int]) -> int:
    """Interrupted beats infrastructure error beats a missed target beats pass."""
    for code in (EXIT_INTERRUPTED, EXIT_BAD_INPUT, EXIT_INFRA):
        if code in codes:
            return code
    return EXIT_FAIL if any(c != EXIT_PASS for c in codes) else EXIT_PASS


@dataclass
class Outputs:
    """Where the results of a run go besides the evidence bundle."""

    junit: Path | None = None
    metrics_file: Path | None = None
    pushgateway: str | None = None


@dataclass
class SuiteResult:
    results: list[DrillResult] = field(default_factory=list)
    delivery_errors: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        codes = [r.exit_code for r in self.results]
        if self.delivery_errors:  # JUnit or metrics not delivered: the schedule must notice
            codes.append(EXIT_INFRA)
        return merge_exit_codes(codes) if codes else EXIT_PASS


def deliver(results: list[DrillResult], outputs: Outputs, report_root: Path) -> list[str]:
    """Write JUnit XML and metrics, push to the Pushgateway. Returns what failed (never raises)."""
    errors: list[str] = []
    reports = [r.model for r in results]
    db = default_db(report_root)
    successes = {}
    for report in reports:
        with contextlib.suppress(Exception):
            successes[report.drill] = last_success(db, report.drill)
    if outputs.junit is not None:
        try:
            write_junit(outputs.junit, [(r.model, str(r.report_dir)) for r in results])
        except OSError as e:
            errors.append(f"--junit {outputs.junit}: {e}")
    if outputs.metrics_file is not None:
        try:
            write_metrics_file(outputs.metrics_file, reports, last_success=successes)
        except OSError as e:
            errors.append(f"--metrics-file {outputs.metrics_file}: {e}")
    if outputs.pushgateway:
        try:
            push_metrics(outputs.pushgateway, reports, last_success=successes)
        except Exception as e:
            errors.append(f"--pushgateway {outputs.pushgateway}: {type(e).__name__}: {e}")
    return errors


def record(result: DrillResult, report_root: Path) -> DrillResult:
    """Record the run in the trends database under ``report_root``. A failure to do so is an
    evidence error of that run (shown with it, as before), never an exception."""
    try:
        record_run(default_db(report_root), result.model, result.report_dir)
    except Exception:
        problem = f"trends database failed:\n{traceback.format_exc()}"
        return dataclasses.replace(result, model=result.model.with_evidence_errors(problem))
    return result


def run_suite(
    drills: list[tuple[Path, DrillSpec]],
    *,
    report_root: Path = Path("reports"),
    outputs: Outputs | None = None,
    signing_key: Any = None,
    progress: Progress = print,
    on_result: Callable[[DrillResult], None] = lambda _r: None,
    runner: Runner = run_drill,
    keep: bool = False,
) -> SuiteResult:
    """Run already validated drills in order; deliver JUnit and metrics for all of them."""
    suite = SuiteResult()
    with signing(signing_key):
        for path, spec in drills:
            if len(drills) > 1:
                progress(f"drill {spec.name} ({path})")
            result = record(
                runner(
                    spec,
                    drill_file=str(path),
                    report_root=report_root,
                    progress=progress,
                    keep=keep,
                ),
                report_root,
            )
            suite.results.append(result)
            on_result(result)
            if result.interrupted:
                break
    suite.delivery_errors = deliver(suite.results, outputs or Outputs(), report_root)
    return suite


def load_drills(paths: list[Path]) -> tuple[list[tuple[Path, DrillSpec]], list[str]]:
    """Validate every drill file; return the specs and the error messages (all of them)."""
    specs, errors = [], []
    for path in paths:
        try:
            specs.append((path, load_drill(path)))
        except DrillFileError as e:
            errors.append(str(e))
    return specs, errors
