"""Prometheus metrics of drill runs, labelled by drill.

Delivered to a Pushgateway (``push_metrics``: one group per drill, ``job="drillkit"``,
``drill=<name>``, replaced by each run) or written in the node_exporter textfile-collector
format (``write_metrics_file``, atomic). A value that was not measured (RTO of a run whose
service never came back) is left out rather than exported as a number that looks real; the
``drillkit_target_met`` series carries such a verdict instead.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from pathlib import Path

from prometheus_client import CollectorRegistry, Gauge, push_to_gateway, write_to_textfile

from drillkit.report.model import Measured, Report, Targets

__all__ = ["JOB", "METRICS", "build_registry", "push_metrics", "write_metrics_file"]

JOB = "drillkit"

# name -> (help, extra label names); every metric also has the label "drill"
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
    "drillkit_rto_target_seconds": ("declared RTO target", ()),
    "drillkit_rpo_target_seconds": ("declared RPO target", ()),
    "drillkit_lost_writes_target": ("declared maximum of lost writes", ()),
    "drillkit_run_duration_seconds": ("wall-clock duration of the last run", ()),
    "drillkit_step_duration_seconds": ("duration of each runbook step in the last run", ("step",)),
    "drillkit_last_run_timestamp_seconds": ("when the last run finished (Unix time)", ()),
    "drillkit_last_success_timestamp_seconds": ("when a run last passed (Unix time)", ()),
}

_MEASURED: dict[str, Callable[[Measured], float | None]] = {
    "drillkit_rto_seconds": lambda m: m.rto_seconds,
    "drillkit_rpo_seconds": lambda m: m.rpo_seconds,
    "drillkit_lost_writes": lambda m: m.lost_writes,
    "drillkit_acknowledged_writes": lambda m: m.acknowledged_writes,
    "drillkit_indeterminate_writes": lambda m: m.indeterminate_writes,
    "drillkit_detection_seconds": lambda m: m.detection_seconds,
    "drillkit_rpo_resolution_seconds": lambda m: m.rpo_resolution_seconds,
    "drillkit_rto_resolution_seconds": lambda m: m.rto_resolution_seconds,
}
_TARGETS: dict[str, Callable[[Targets], float | None]] = {
    "drillkit_rto_target_seconds": lambda t: t.rto_seconds,
    "drillkit_rpo_target_seconds": lambda t: t.rpo_seconds,
    "drillkit_lost_writes_target": lambda t: t.max_lost_writes,
}


def _ts(iso: str) -> float | None:
    try:
        return datetime.fromisoformat(iso).timestamp()
    except ValueError:
        return None


def build_registry(
    reports: Iterable[Report], *, last_success: Mapping[str, float | None] | None = None
) -> CollectorRegistry:
    """A registry holding the metrics of ``reports`` (the last report of a drill wins).

    ``last_success`` maps a drill to when it last passed (from the trends database); a report
    that passed is its own last success.
    """
    registry = CollectorRegistry()
    gauges = {
        name: Gauge(name, doc, ("drill", *labels), registry=registry)
        for name, (doc, labels) in METRICS.items()
    }
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


def write_metrics_file(path: Path, registry: CollectorRegistry) -> Path:
    """Write the textfile-collector format atomically (node_exporter never reads half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
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
