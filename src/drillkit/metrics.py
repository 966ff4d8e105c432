"""Prometheus metrics of drill runs, labelled by drill.

Delivered to a Pushgateway (``push_metrics``: one group per drill, ``job="drillkit"``,
``drill=<name>``, replaced by each run) or written in the node_exporter textfile-collector
format (``write_metrics_file``, atomic). One file serves many invocations: the series of drills
that this invocation did not run are read back from the file and kept, so a drill that stopped
running keeps its old timestamps (and the "not run" alert fires) instead of vanishing.

A value that was not measured (RTO of a run whose service never came back) is left out rather
than exported as a number that looks real; the ``drillkit_target_met`` series carries such a
verdict instead. A declared target is ``drillkit_target_<name>`` where ``<name>`` is the
``target`` label of ``drillkit_target_met`` (``rto_seconds``, ``rpo_seconds``,
``max_lost_writes``, ``max_staleness_seconds``, ...), so a target and its verdict always pair up
by name.

A run with readers (docs/consistency.md) also exports what they saw: the largest staleness and
its resolution, the staleness of each phase (``steady``, ``fault``, ``after``) at the quantiles
0.5, 0.95 and 1 (the max; nearest rank, as the report), the monotonic-read violations and the
convergence time; a run without readers exports none of them. A cache drill exports its ghost
reads, ghost window (and its resolution) and stale reads; other runs export none of them.
"""

from __future__ import annotations

import contextlib
import fcntl
import platform
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import datetime
from pathlib import Path

from prometheus_client import CollectorRegistry, Gauge, push_to_gateway, write_to_textfile
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from drillkit import __version__
from drillkit.report.model import Measured, ReaderPhase, Report, Targets

__all__ = [
    "BUILD_INFO",
    "JOB",
    "METRICS",
    "build_registry",
    "kept_samples",
    "push_metrics",
    "write_metrics_file",
]

JOB = "drillkit"
BUILD_INFO = "drillkit_build_info"

# name -> (help, extra label names); every metric but BUILD_INFO also has the label "drill"
METRICS: dict[str, tuple[str, tuple[str, ...]]] = {
    "drillkit_drill_success": (
        "1 if the last run reached the verdict its drill declares (expect:, default pass), else 0",
        (),
    ),
    "drillkit_drill_verdict": (
        "1 for the verdict of the last run (pass, fail, unknown)",
        ("verdict",),
    ),
    "drillkit_target_met": (
        "1 if the last run met the target, 0 if it missed it; absent when unknown",
        ("target",),
    ),
    "drillkit_rto_seconds": ("achieved recovery time of the last run", ()),
    "drillkit_rpo_seconds": ("achieved recovery point of the last run", ()),
    "drillkit_lost_writes": ("acknowledged writes lost in the last run", ()),
    "drillkit_acknowledged_writes": ("writes acknowledged in the last run", ()),
    "drillkit_indeterminate_writes": ("writes with unknown outcome in the last run", ()),
    "drillkit_detection_seconds": ("fault to first failed or unanswered write", ()),
    "drillkit_rpo_resolution_seconds": (
        "resolution of the RPO of the last run (absent when exact: nothing lost)",
        (),
    ),
    "drillkit_rto_resolution_seconds": ("resolution of the RTO of the last run", ()),
    "drillkit_target_rto_seconds": ("declared RTO target", ()),
    "drillkit_target_rpo_seconds": ("declared RPO target", ()),
    "drillkit_target_max_lost_writes": ("declared maximum of lost writes", ()),
    "drillkit_staleness_seconds": (
        "the largest staleness of any reader's read in the last run (readers only)",
        (),
    ),
    "drillkit_staleness_resolution_seconds": (
        "resolution of the staleness: a reader's interval plus the write interval",
        (),
    ),
    "drillkit_staleness_phase_seconds": (
        "staleness of the readers' answered reads per phase (steady, fault, after); "
        "quantile 0.5, 0.95 and 1 (the max), nearest rank",
        ("phase", "quantile"),
    ),
    "drillkit_monotonic_violations": (
        "monotonic-read violations of the last run: (reader, row) pairs seen, then no longer seen",
        (),
    ),
    "drillkit_convergence_seconds": (
        "recovery until every replica served every surviving acknowledged write "
        "(absent if one never did)",
        (),
    ),
    "drillkit_convergence_resolution_seconds": ("resolution of the convergence time", ()),
    "drillkit_target_max_staleness_seconds": ("declared maximum staleness", ()),
    "drillkit_target_max_monotonic_violations": (
        "declared maximum of monotonic-read violations",
        (),
    ),
    "drillkit_target_max_convergence_seconds": ("declared maximum convergence time", ()),
    "drillkit_ghost_reads": (
        "cache reads after recovery that returned a version the database no longer has "
        "(cache drills only)",
        (),
    ),
    "drillkit_ghost_window_seconds": (
        "recovery to the last ghost read (absent if a lost version was still cached at the end)",
        (),
    ),
    "drillkit_ghost_window_resolution_seconds": ("resolution of the ghost window", ()),
    "drillkit_stale_reads": (
        "cache reads after recovery older than the newest surviving write acknowledged before them",
        (),
    ),
    "drillkit_cache_stale_window_seconds": (
        "first to last stale cache read after recovery (cache drills only)",
        (),
    ),
    "drillkit_cache_stale_window_resolution_seconds": (
        "resolution of the cache's stale window (a reader's interval)",
        (),
    ),
    "drillkit_target_max_ghost_reads": ("declared maximum of ghost reads", ()),
    "drillkit_target_max_ghost_window_seconds": ("declared maximum ghost window", ()),
    "drillkit_target_max_stale_reads": ("declared maximum of stale cache reads", ()),
    "drillkit_target_max_cache_stale_window_seconds": (
        "declared maximum stale window of the cache",
        (),
    ),
    "drillkit_run_duration_seconds": ("wall-clock duration of the last run", ()),
    "drillkit_step_duration_seconds": ("duration of each runbook step in the last run", ("step",)),
    "drillkit_last_run_timestamp_seconds": ("when the last run finished (Unix time)", ()),
    "drillkit_last_success_timestamp_seconds": ("when a run last passed (Unix time)", ()),
    BUILD_INFO: ("always 1: the drillkit and Python versions that wrote these metrics", ()),
}
_BUILD_LABELS = ("version", "python")

_MEASURED: dict[str, Callable[[Measured], float | None]] = {
    "drillkit_rto_seconds": lambda m: m.rto_seconds,
    "drillkit_rpo_seconds": lambda m: m.rpo_seconds,
    "drillkit_lost_writes": lambda m: m.lost_writes,
    "drillkit_acknowledged_writes": lambda m: m.acknowledged_writes,
    "drillkit_indeterminate_writes": lambda m: m.indeterminate_writes,
    "drillkit_detection_seconds": lambda m: m.detection_seconds,
    "drillkit_rpo_resolution_seconds": lambda m: m.rpo_resolution_seconds,
    "drillkit_rto_resolution_seconds": lambda m: m.rto_resolution_seconds,
    "drillkit_staleness_seconds": lambda m: m.staleness_seconds,
    "drillkit_staleness_resolution_seconds": lambda m: m.staleness_resolution_seconds,
    "drillkit_monotonic_violations": lambda m: m.monotonic_violations,
    "drillkit_convergence_seconds": lambda m: m.convergence_seconds,
    "drillkit_convergence_resolution_seconds": lambda m: m.convergence_resolution_seconds,
    "drillkit_ghost_reads": lambda m: m.ghost_reads,
    "drillkit_ghost_window_seconds": lambda m: m.ghost_window_seconds,
    "drillkit_ghost_window_resolution_seconds": lambda m: m.ghost_window_resolution_seconds,
    "drillkit_stale_reads": lambda m: m.stale_reads,
    "drillkit_cache_stale_window_seconds": lambda m: m.cache_stale_window_seconds,
    "drillkit_cache_stale_window_resolution_seconds": (
        lambda m: m.cache_stale_window_resolution_seconds
    ),
}
# quantile label -> the phase's field
_STALENESS_QUANTILES: dict[str, Callable[[ReaderPhase], float | None]] = {
    "0.5": lambda p: p.p50_seconds,
    "0.95": lambda p: p.p95_seconds,
    "1": lambda p: p.max_seconds,
}
_TARGETS: dict[str, Callable[[Targets], float | None]] = {
    "drillkit_target_rto_seconds": lambda t: t.rto_seconds,
    "drillkit_target_rpo_seconds": lambda t: t.rpo_seconds,
    "drillkit_target_max_lost_writes": lambda t: t.max_lost_writes,
    "drillkit_target_max_staleness_seconds": lambda t: t.max_staleness_seconds,
    "drillkit_target_max_monotonic_violations": lambda t: t.max_monotonic_violations,
    "drillkit_target_max_convergence_seconds": lambda t: t.max_convergence_seconds,
    "drillkit_target_max_ghost_reads": lambda t: t.max_ghost_reads,
    "drillkit_target_max_ghost_window_seconds": lambda t: t.max_ghost_window_seconds,
    "drillkit_target_max_stale_reads": lambda t: t.max_stale_reads,
    "drillkit_target_max_cache_stale_window_seconds": lambda t: t.max_cache_stale_window_seconds,
}


def _ts(iso: str) -> float | None:
    try:
        return datetime.fromisoformat(iso).timestamp()
    except ValueError:
        return None


def _label_names(name: str) -> tuple[str, ...]:
    return _BUILD_LABELS if name == BUILD_INFO else ("drill", *METRICS[name][1])


def build_registry(
    reports: Iterable[Report],
    *,
    last_success: Mapping[str, float | None] | None = None,
    keep: Iterable[Sample] = (),
) -> CollectorRegistry:
    """A registry holding the metrics of ``reports`` (the last report of a drill wins).

    ``last_success`` maps a drill to when it last passed (from the trends database); a report
    that passed is its own last success. ``keep``: earlier samples (``kept_samples``) of drills
    that are not among ``reports``; a sample whose name or labels drillkit no longer exports is
    dropped, so a renamed metric does not linger.
    """
    registry = CollectorRegistry()
    gauges = {
        name: Gauge(name, doc, _label_names(name), registry=registry)
        for name, (doc, _labels) in METRICS.items()
    }
    gauges[BUILD_INFO].labels(__version__, platform.python_version()).set(1)
    for sample in keep:
        known = sample.name in gauges and sample.name != BUILD_INFO
        if known and set(sample.labels) == set(_label_names(sample.name)):
            gauges[sample.name].labels(**sample.labels).set(sample.value)
    for report in reports:
        drill = report.drill
        verdict = report.verdict
        gauges["drillkit_drill_success"].labels(drill).set(1 if report.as_expected else 0)
        for v in ("pass", "fail", "unknown"):
            gauges["drillkit_drill_verdict"].labels(drill, v).set(1 if v == verdict else 0)
        for check in report.checks:
            if check.verdict in ("pass", "fail"):
                met = gauges["drillkit_target_met"].labels(drill, check.name)
                met.set(1 if check.verdict == "pass" else 0)
        for name, measured in _MEASURED.items():
            if (value := measured(report.measured)) is not None:
                gauges[name].labels(drill).set(value)
        for name, target in _TARGETS.items():
            if (value := target(report.targets)) is not None:
                gauges[name].labels(drill).set(value)
        if report.readers is not None:
            staleness = gauges["drillkit_staleness_phase_seconds"]
            for phase, row in report.readers.phases.items():
                for quantile, of in _STALENESS_QUANTILES.items():
                    if (value := of(row)) is not None:
                        staleness.labels(drill, phase, quantile).set(value)
        gauges["drillkit_run_duration_seconds"].labels(drill).set(report.duration_seconds)
        seen: dict[str, int] = {}
        for event in report.steps():
            if event.duration_seconds is not None:
                step = event.step or ""
                seen[step] = seen.get(step, 0) + 1
                label = step if seen[step] == 1 else f"{step}#{seen[step]}"
                gauges["drillkit_step_duration_seconds"].labels(drill, label).set(
                    event.duration_seconds
                )
        finished = _ts(report.finished_at)
        if finished is not None:
            gauges["drillkit_last_run_timestamp_seconds"].labels(drill).set(finished)
        success = finished if verdict == "pass" else (last_success or {}).get(drill)
        if success is not None:
            gauges["drillkit_last_success_timestamp_seconds"].labels(drill).set(success)
    return registry


def kept_samples(text: str, replaced: Iterable[str]) -> list[Sample]:
    """The samples in ``text`` (the textfile format) of drills not in ``replaced``.

    Raises ``ValueError`` if ``text`` is not the Prometheus text format.
    """
    gone = set(replaced)
    return [
        sample
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if "drill" in sample.labels and sample.labels["drill"] not in gone
    ]


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Serialise writers of one metrics file (two suites finishing at once must not lose a drill).
    The lock is a sibling ``.lock`` file, which the textfile collector (``*.prom``) ignores."""
    with open(path.with_name(path.name + ".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def write_metrics_file(
    path: Path,
    reports: Iterable[Report],
    *,
    last_success: Mapping[str, float | None] | None = None,
) -> Path:
    """Merge ``reports`` into the textfile at ``path`` and write it atomically.

    The series of the drills in ``reports`` are replaced (a step that is gone disappears); those
    of every other drill already in the file are kept. An unreadable old file is replaced, not
    merged. The write goes to a temporary file renamed over ``path``, so node_exporter never
    reads half a file.
    """
    reports = list(reports)
    path.parent.mkdir(parents=True, exist_ok=True)
    with _locked(path):
        keep: list[Sample] = []
        with contextlib.suppress(FileNotFoundError, ValueError, UnicodeDecodeError):
            keep = kept_samples(path.read_text(encoding="utf-8"), (r.drill for r in reports))
        registry = build_registry(reports, last_success=last_success, keep=keep)
        write_to_textfile(str(path), registry)
    return path


def push_metrics(
    url: str,
    reports: Iterable[Report],
    *,
    last_success: Mapping[str, float | None] | None = None,
    timeout: float = 10,
    push: Callable[..., None] = push_to_gateway,
) -> list[str]:
    """Push each drill's metrics to the Pushgateway at ``url`` as group ``job/drill``.

    Returns the grouping keys pushed. Raises ``OSError`` (e.g. ``URLError``) if the gateway
    cannot be reached.
    """
    pushed = []
    for report in reports:
        registry = build_registry([report], last_success=last_success)
        drill = report.drill
        push(url, job=JOB, registry=registry, grouping_key={"drill": drill}, timeout=timeout)
        pushed.append(f"job={JOB},drill={drill}")
    return pushed
