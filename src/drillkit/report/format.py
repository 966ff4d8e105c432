"""Small formatting helpers shared by the renderers (console, Markdown, HTML)."""

from __future__ import annotations

from dataclasses import dataclass

from drillkit.report.model import Cache, Report

__all__ = [
    "NS",
    "READER_PHASE_HEADERS",
    "TargetRow",
    "cache_summary",
    "cache_target_rows",
    "cell",
    "fmt",
    "reader_phase_rows",
    "reader_summary",
    "reader_target_rows",
    "target_rows",
]

NS = 1_000_000_000  # nanoseconds per second: the history's monotonic times are in ns


def fmt(value: object, unit: str = "") -> str:
    """``-`` for a value not measured, three decimals for a float, else the value; then ``unit``."""
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3f}{unit}"
    return f"{value}{unit}"


def cell(text: str) -> str:
    """Text safe inside one Markdown table cell."""
    return text.replace("|", "\\|").replace("\n", " ")


@dataclass(frozen=True)
class TargetRow:
    """One target beside its measurement, formatted: what every renderer's table shows."""

    label: str  # RPO, RTO, lost writes
    target: str
    measured: str
    resolution: str  # "exact", or the measurement's resolution as "±0.110s"
    verdict: str  # the check's verdict, or "not judged"
    reason: str  # the check's reason ("" when not judged)


def target_rows(report: Report) -> list[TargetRow]:
    """RPO, RTO and lost writes, then the readers' rows (:func:`reader_target_rows`): target,
    measurement, resolution and the check's verdict."""
    return [*_core_rows(report), *reader_target_rows(report)]


def _core_rows(report: Report) -> list[TargetRow]:
    measured, targets = report.measured, report.targets
    rows = []
    for label, key, target, value, res, unit in (
        (
            "RPO",
            "rpo_seconds",
            targets.rpo_seconds,
            measured.rpo_seconds,
            measured.rpo_resolution_seconds,
            "s",
        ),
        (
            "RTO",
            "rto_seconds",
            targets.rto_seconds,
            measured.rto_seconds,
            measured.rto_resolution_seconds,
            "s",
        ),
        ("lost writes", "max_lost_writes", targets.max_lost_writes, measured.lost_writes, None, ""),
    ):
        check = report.check(key)
        resolution = "exact" if res is None and key != "rto_seconds" else f"±{fmt(res, unit)}"
        verdict = check.verdict if check else "not judged"
        reason = check.reason if check else ""
        rows.append(
            TargetRow(label, fmt(target, unit), fmt(value, unit), resolution, verdict, reason)
        )
    return rows


def reader_target_rows(report: Report) -> list[TargetRow]:
    """Staleness, monotonic violations and convergence, when readers ran (judged or not)."""
    measured, targets = report.measured, report.targets
    rows: list[TargetRow] = []
    if report.readers is not None:
        for label, key, target, value, res, unit in (
            (
                "staleness",
                "max_staleness_seconds",
                targets.max_staleness_seconds,
                measured.staleness_seconds,
                measured.staleness_resolution_seconds,
                "s",
            ),
            (
                "monotonic violations",
                "max_monotonic_violations",
                targets.max_monotonic_violations,
                measured.monotonic_violations,
                None,
                "",
            ),
            (
                "convergence",
                "max_convergence_seconds",
                targets.max_convergence_seconds,
                measured.convergence_seconds,
                measured.convergence_resolution_seconds,
                "s",
            ),
        ):
            check = report.check(key)
            rows.append(
                TargetRow(
                    label,
                    fmt(target, unit),
                    fmt(value, unit),
                    "exact" if not unit else f"±{fmt(res, unit)}",
                    check.verdict if check else "not judged",
                    check.reason if check else "",
                )
            )
    return rows + cache_target_rows(report)


def cache_target_rows(report: Report) -> list[TargetRow]:
    """Ghost reads, the ghost window and stale reads, when the workload read through a cache."""
    measured, targets, cache = report.measured, report.targets, report.cache
    if cache is None:
        return []
    rows: list[TargetRow] = []
    window = measured.ghost_window_seconds
    for label, key, target, value, res, unit in (
        ("ghost reads", "max_ghost_reads", targets.max_ghost_reads, measured.ghost_reads, None, ""),
        (
            "ghost window",
            "max_ghost_window_seconds",
            targets.max_ghost_window_seconds,
            window,
            measured.ghost_window_resolution_seconds,
            "s",
        ),
        ("stale reads", "max_stale_reads", targets.max_stale_reads, measured.stale_reads, None, ""),
        (
            "cache stale window",
            "max_cache_stale_window_seconds",
            targets.max_cache_stale_window_seconds,
            measured.cache_stale_window_seconds,
            measured.cache_stale_window_resolution_seconds,
            "s",
        ),
    ):
        check = report.check(key)
        shown = fmt(value, unit)
        if key == "max_ghost_window_seconds" and window is None:
            least = cache.ghost_window_at_least_seconds
            shown = f">= {fmt(least, 's')}" if least is not None else shown
        rows.append(
            TargetRow(
                label,
                fmt(target, unit),
                shown,
                "exact" if not unit else f"±{fmt(res, unit)}",
                check.verdict if check else "not judged",
                check.reason if check else "",
            )
        )
    return rows


def cache_summary(report: Report) -> str:
    """One line: the strategy, reads after recovery, ghosts, staleness and the audit."""
    c = report.cache
    if c is None:
        return ""
    return (
        f"cache ({c.strategy or '?'}, ttl {fmt(c.ttl_seconds, 's')}, {fmt(c.keys)} keys): "
        f"{c.reads_after} reads after recovery ({c.hits_after} hits, {c.unanswered_after} "
        f"unanswered); ghost reads {fmt(c.ghost_reads)} on {fmt(c.ghost_keys)} keys "
        f"({fmt(c.ghost_reads_after_write)} after a post-recovery write of the key); "
        f"stale reads {fmt(c.stale_reads)} (largest {fmt(c.max_stale_seconds, 's')}; "
        f"{c.stale_reads_before} before the incident; stale window "
        f"{fmt(c.stale_window_seconds, 's')} ±{fmt(c.stale_window_resolution_seconds, 's')}"
        f"{_stale_span(c)}); at the end-of-run audit "
        f"{fmt(c.ghosts_at_end)} keys cached a lost version, {fmt(c.stale_at_end)} an older one"
    )


def _stale_span(c: Cache) -> str:
    """`` from +a to +b s after the incident`` when a stale read was seen, else nothing."""
    first, last = c.stale_first_after_fault_seconds, c.stale_last_after_fault_seconds
    if first is None or last is None:
        return ""
    return f", from +{fmt(first, 's')} to +{fmt(last, 's')} after the incident"


def reader_phase_rows(report: Report) -> list[list[str]]:
    """Per phase: reads, unanswered, staleness p50/p95/max in seconds and in writes."""
    readers = report.readers
    if readers is None:
        return []
    return [
        [
            name,
            fmt(p.reads),
            fmt(p.unanswered),
            f"{fmt(p.p50_seconds, 's')} / {fmt(p.p95_seconds, 's')} / {fmt(p.max_seconds, 's')}",
            f"{fmt(p.p50_writes)} / {fmt(p.p95_writes)} / {fmt(p.max_writes)}",
        ]
        for name, p in readers.phases.items()
    ]


READER_PHASE_HEADERS = [
    "phase",
    "reads",
    "unanswered",
    "staleness p50 / p95 / max",
    "writes behind p50 / p95 / max",
]


def reader_summary(report: Report) -> str:
    """One line: sources, monotonic reads and convergence per replica."""
    r = report.readers
    if r is None:
        return ""
    conv = ", ".join(f"{k} {fmt(v, 's')}" for k, v in r.convergence_by_source.items())
    worst = ", ".join(f"{k} {fmt(v, 's')}" for k, v in r.max_staleness_by_source.items())
    end = r.fault_phase_seconds[1]
    return (
        f"readers of {', '.join(r.sources) or 'nothing'} every "
        f"{fmt(r.read_interval_seconds, 's')}; fault phase 0 to {fmt(end, 's')}; "
        f"largest staleness {worst or '-'}; "
        f"monotonic-read violations {r.monotonic_violations} "
        f"({r.monotonic_regressions} reads went back); "
        f"convergence {conv or '-'}"
    )
