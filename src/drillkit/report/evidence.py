"""report.json: the audit evidence of one run, built only from the history and the analysis.

:func:`build_report` returns the typed :class:`~drillkit.report.model.Report`;
:func:`~drillkit.report.finalize.finalize_evidence` completes and writes it (once).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from drillkit import __version__
from drillkit.checkers import Analysis
from drillkit.history import Op, OpType
from drillkit.queries import FAULT_PROCESS, FINAL_READ_PROCESS, GATE_PROCESS, RUNBOOK_PROCESS
from drillkit.report.audit import collect_audit, current_audit_input
from drillkit.report.controls import controls_for
from drillkit.report.format import NS, fmt
from drillkit.report.model import (
    SCHEMA_VERSION,
    Cache,
    CheckRow,
    FaultRow,
    Files,
    Incident,
    Measured,
    Phase,
    ReaderPhase,
    Readers,
    Report,
    Targets,
    TimelineEvent,
)
from drillkit.spec import DrillSpec

__all__ = [
    "SCHEMA_VERSION",
    "WallClock",
    "build_report",
    "steady_writes_per_second",
    "write_report",
]


class WallClock:
    """Maps the history's monotonic nanoseconds to UTC, from the run's start marker."""

    def __init__(self, ops: list[Op]) -> None:
        self.mono0: int | None = None
        self.wall0: int | None = None
        for op in ops:
            if op.process == "drill" and op.f == "start":
                self.mono0 = op.time_ns
                self.wall0 = int(op.extra["wall_time_ns"])
                break

    def iso(self, mono_ns: int | None) -> str | None:
        if mono_ns is None or self.mono0 is None or self.wall0 is None:
            return None
        wall = self.wall0 + (mono_ns - self.mono0)
        return datetime.fromtimestamp(wall / NS, UTC).isoformat(timespec="milliseconds")


def _rel(t: int | None, fault_ns: int | None) -> float | None:
    if t is None or fault_ns is None:
        return None
    return round((t - fault_ns) / NS, 6)


def _timeline(ops: list[Op], analysis: Analysis, clock: WallClock) -> list[TimelineEvent]:
    events: list[dict[str, Any]] = []
    invocations: dict[tuple[str, str], Op] = {}
    fault_ns = analysis.fault_ns
    # the effective time of each injection, corrected by earlier evidence (checkers.injections)
    corrected = iter([w.injection.effective_ns for w in analysis.faults])
    for op in ops:
        if op.process not in (FAULT_PROCESS, RUNBOOK_PROCESS, GATE_PROCESS, FINAL_READ_PROCESS):
            continue
        key = (op.process, op.f)
        if op.type is OpType.INVOKE:
            invocations[key] = op
            continue
        start = invocations.pop(key, op)
        event: dict[str, Any] = {
            "event": f"{op.process}:{op.f}",
            "status": op.type.value,
            "started_at": clock.iso(start.time_ns),
            "finished_at": clock.iso(op.time_ns),
            "t_start_seconds": _rel(start.time_ns, fault_ns),
            "t_end_seconds": _rel(op.time_ns, fault_ns),
        }
        if op.process == FAULT_PROCESS:
            event["requested_at"] = clock.iso(op.extra.get("requested_ns", start.time_ns))
            effective = op.extra.get("effective_ns")
            if not op.f.startswith("heal-"):
                effective = next(corrected, effective)
            event["effective_at"] = clock.iso(effective if op.type is OpType.OK else None)
            event["reported_effective_at"] = clock.iso(op.extra.get("effective_ns"))
            event["detail"] = {k: v for k, v in op.extra.items() if not k.endswith("_ns")}
            event["value"] = op.value
        elif op.process == RUNBOOK_PROCESS:
            event["duration_seconds"] = round((op.time_ns - start.time_ns) / NS, 6)
            event["value"] = op.value if op.type is OpType.OK else start.value
        if op.error:
            event["error"] = op.error
        events.append(event)
    rto = analysis.rto
    if rto is not None and rto.detection_s is not None and fault_ns is not None:
        detected = fault_ns + int(rto.detection_s * NS)
        events.append(
            {
                "event": "detection",
                "at": clock.iso(detected),
                "t_seconds": rto.detection_s,
                "meaning": "first write that failed or went unanswered after the fault",
            }
        )
    if rto is not None and rto.restored_ns is not None:
        events.append(
            {
                "event": "recovered",
                "at": clock.iso(rto.restored_ns),
                "t_seconds": _rel(rto.restored_ns, fault_ns),
                "meaning": "first acknowledged write of a stable run of successes",
            }
        )
    events.sort(key=lambda e: e.get("t_start_seconds", e.get("t_seconds")) or 0.0)
    # only the keys an event has are set, so only those are written (Report.as_json)
    return [TimelineEvent.model_validate(e) for e in events]


def _incident(analysis: Analysis, clock: WallClock) -> Incident | None:
    inc = analysis.incident
    if inc is None:
        return None
    inj = inc.injection
    return Incident(
        fault=None if inj is None else inj.label,
        kind=None if inj is None else inj.kind,
        entry=None if inj is None else inj.entry,
        rule=inc.rule,
        reason=inc.reason,
        ambiguous=inc.ambiguous,
        requested_at=None if inj is None else clock.iso(inj.requested_ns),
        effective_at=None if inj is None else clock.iso(inj.effective_ns),
        effective_by=None if inj is None else inj.effective_by,
    )


def _faults(analysis: Analysis, clock: WallClock) -> list[FaultRow]:
    out: list[FaultRow] = []
    for w in analysis.faults:
        inj = w.injection
        ok = inj.status == "ok"
        out.append(
            FaultRow(
                fault=inj.label,
                kind=inj.kind,
                entry=inj.entry,
                incident=w.incident,
                status=inj.status,
                requested_at=clock.iso(inj.requested_ns),
                effective_at=clock.iso(inj.effective_ns) if ok else None,
                effective_by=inj.effective_by,
                injection_latency_seconds=(
                    round((inj.effective_ns - inj.requested_ns) / NS, 6) if ok else None
                ),
                healed_at=clock.iso(inj.healed_ns),
                heal_status=inj.heal_status,
                t_effective_seconds=_rel(inj.effective_ns, analysis.fault_ns) if ok else None,
                declared_at_seconds=inj.declared_at,
                actual_at_seconds=None if w.at_s is None else round(w.at_s, 6),
                declared_duration_seconds=inj.declared_duration,
                actual_duration_seconds=None if w.duration_s is None else round(w.duration_s, 6),
                acknowledged_writes=w.acknowledged,
                lost_writes=w.lost if analysis.lost is not None else None,
                failed_writes=w.failed,
                error=inj.error,
            )
        )
    return out


def steady_writes_per_second(ops: list[Op], incident_ns: int | None) -> float | None:
    """Acknowledged writes per second before the incident: the ``ok`` writes acknowledged
    before it took effect (every ``ok`` write if none did), counted from the first to the last
    acknowledgement, ``(count - 1) / (last - first)``; None with fewer than two."""
    acks = sorted(
        op.time_ns
        for op in ops
        if op.f == "write"
        and op.type is OpType.OK
        and (incident_ns is None or op.time_ns < incident_ns)
    )
    if len(acks) < 2 or acks[-1] == acks[0]:
        return None
    return round((len(acks) - 1) * NS / (acks[-1] - acks[0]), 1)


def _measured(ops: list[Op], analysis: Analysis) -> Measured:
    lost = analysis.lost
    rpo = analysis.rpo
    rto = analysis.rto
    res = analysis.resolution
    writes = [op for op in ops if op.f == "write" and op.type is not OpType.INVOKE]
    return Measured(
        rpo_seconds=rpo.seconds if rpo else None,
        rto_seconds=rto.seconds if rto else None,
        lost_writes=lost.count if lost else None,
        acknowledged_writes=(
            lost.acknowledged if lost else sum(1 for op in writes if op.type is OpType.OK)
        ),
        indeterminate_writes=(
            lost.indeterminate if lost else sum(1 for op in writes if op.type is OpType.INFO)
        ),
        failed_writes=sum(1 for op in writes if op.type is OpType.FAIL),
        indeterminate_survived=lost.indeterminate_survived if lost else None,
        indeterminate_vanished=lost.indeterminate_vanished if lost else None,
        lost_after_fault=rpo.lost_after_fault if rpo else None,
        lost_window_seconds=(
            [rpo.lost_window_start_s, rpo.lost_window_end_s]
            if rpo and rpo.lost_window_start_s is not None
            else None
        ),
        lost_ids_sample=lost.lost[:50] if lost else None,
        never_written=len(lost.never_written) if lost else None,
        failed_but_present=len(lost.failed_but_present) if lost else None,
        detection_seconds=rto.detection_s if rto else None,
        observed_after_fault_seconds=rto.observed_s if rto else None,
        writes_restored_seconds=_rel(rto.writes_restored_ns, analysis.fault_ns) if rto else None,
        data_restored_seconds=_rel(rto.data_restored_ns, analysis.fault_ns) if rto else None,
        read_back_probe=rto.data_probe if rto else False,
        write_interval_seconds=res.write_interval_s if res else None,
        write_latency_seconds=res.write_latency_s if res else None,
        read_interval_seconds=res.read_interval_s if res else None,
        steady_writes_per_second=steady_writes_per_second(ops, analysis.fault_ns),
        rpo_resolution_seconds=analysis.measured.rpo_resolution_s,
        rto_resolution_seconds=analysis.measured.rto_resolution_s,
        **_reader_measures(analysis),
        **_cache_measures(analysis),
    )


def _cache_measures(analysis: Analysis) -> dict[str, Any]:
    """The cache's headline numbers, only when the workload read through a cache."""
    if analysis.cache is None:
        return {}
    m = analysis.measured
    return {
        "ghost_reads": m.ghost_reads,
        "ghost_window_seconds": m.ghost_window_seconds,
        "ghost_window_resolution_seconds": m.ghost_window_resolution_s,
        "stale_reads": m.stale_reads,
        "cache_stale_window_seconds": m.cache_stale_window_seconds,
        "cache_stale_window_resolution_seconds": m.cache_stale_window_resolution_s,
    }


def _cache(analysis: Analysis) -> Cache | None:
    c = analysis.cache
    if c is None:
        return None
    return Cache(
        strategy=c.strategy,
        ttl_seconds=c.ttl_seconds,
        keys=c.keys,
        reads_after=c.reads_after,
        unanswered_after=c.unanswered_after,
        hits_after=c.hits_after,
        ghost_reads=c.ghost_reads,
        ghost_reads_after_write=c.ghost_reads_after_write,
        ghost_keys=c.ghost_keys,
        stale_reads=c.stale_reads,
        stale_reads_before=c.stale_reads_before,
        max_stale_seconds=c.max_stale_seconds,
        ghost_window_seconds=c.window_s,
        ghost_window_at_least_seconds=c.window_at_least_s,
        ghost_window_resolution_seconds=c.resolution_s,
        ghosts_at_end=c.ghosts_at_end,
        stale_at_end=c.stale_at_end,
        stale_window_seconds=c.stale_window_s,
        stale_window_resolution_seconds=c.stale_window_resolution_s,
        stale_first_after_fault_seconds=c.stale_first_s,
        stale_last_after_fault_seconds=c.stale_last_s,
    )


def _reader_measures(analysis: Analysis) -> dict[str, Any]:
    """The readers' headline numbers, only when readers ran (older reports stay unchanged)."""
    if analysis.staleness is None:
        return {}
    m = analysis.measured
    return {
        "staleness_seconds": m.staleness_seconds,
        "staleness_resolution_seconds": m.staleness_resolution_s,
        "monotonic_violations": m.monotonic_violations,
        "convergence_seconds": m.convergence_seconds,
        "convergence_resolution_seconds": m.convergence_resolution_s,
    }


def _readers(analysis: Analysis) -> Readers | None:
    stale, mono, conv = analysis.staleness, analysis.monotonic, analysis.convergence
    if stale is None or mono is None or conv is None:
        return None
    end = _rel(stale.recovered_ns, stale.fault_ns) if stale.fault_ns is not None else None
    return Readers(
        sources=stale.sources,
        phases={
            name: ReaderPhase(
                reads=p.reads,
                unanswered=p.unanswered,
                p50_seconds=p.p50_s,
                p95_seconds=p.p95_s,
                max_seconds=p.max_s,
                p50_writes=p.p50_writes,
                p95_writes=p.p95_writes,
                max_writes=p.max_writes,
            )
            for name, p in stale.phases.items()
            if name in ("steady", "fault", "after")
        },
        fault_phase_seconds=[0 if stale.fault_ns is not None else None, end],
        max_staleness_by_source=stale.max_by_source,
        read_interval_seconds=stale.read_interval_s,
        staleness_resolution_seconds=stale.resolution_s,
        monotonic_violations=mono.violations,
        monotonic_regressions=mono.regressions,
        violations_by_reader=mono.per_process,
        convergence_seconds=conv.seconds,
        convergence_by_source=conv.per_source,
        convergence_needed_id=conv.needed_id,
    )


def _definitions(spec: DrillSpec) -> dict[str, str]:
    return {
        "incident": "the fault RPO and RTO are measured from: the entry marked incident: "
        "true, else the only fault, else the fault of the longest outage (the one that took "
        "effect between the last successful operation and that outage's first failure; "
        "ambiguous, hence unknown, if several did), else the first fault",
        "rpo_seconds": "0 if no acknowledged write was lost, else the incident's effective "
        "time minus the acknowledgement time of the earliest lost write",
        "rto_seconds": "incident's effective time to the completion of the first "
        "acknowledged write that begins a stable run of successes "
        f"({spec.workload.stable_window_seconds:g}s with no failed or unknown write), and, "
        "when answered read-backs showed pre-incident data gone, of the first read-back that "
        "begins a stable run of reads serving every surviving pre-incident id sampled; the "
        "later of the two",
        "lost_writes": "acknowledged (ok) writes absent from the final read",
        "steady_writes_per_second": "acknowledged writes per second before the incident: "
        "the ok writes acknowledged before it took effect (all of them if no fault did), "
        "(count - 1) / (last acknowledgement - first acknowledgement)",
        "resolution": "RPO: write interval + write latency (exact when nothing was lost); "
        "RTO: the larger of that and the read-back interval + latency when read-backs "
        "decide; a target tighter than the resolution, or a value within one resolution of "
        "the target, is unknown",
    }


def _facts(verdict: str, measured: Measured, targets: Targets) -> str:
    """One line on what the run measured, for the control mapping."""
    return (
        f"verdict {verdict}; RPO {fmt(measured.rpo_seconds, 's')} "
        f"(target {fmt(targets.rpo_seconds, 's')}), RTO {fmt(measured.rto_seconds, 's')} "
        f"(target {fmt(targets.rto_seconds, 's')}), {fmt(measured.lost_writes)} of "
        f"{fmt(measured.acknowledged_writes)} acknowledged writes lost"
    )


_READER_TARGETS = (
    "max_staleness_seconds",
    "max_monotonic_violations",
    "max_convergence_seconds",
    "max_ghost_reads",
    "max_ghost_window_seconds",
    "max_stale_reads",
    "max_cache_stale_window_seconds",
)


def _declared(spec: DrillSpec) -> dict[str, Any]:
    """The targets as the drill file declares them; the readers' only when declared."""
    targets = spec.targets.model_dump()
    return {k: v for k, v in targets.items() if v is not None or k not in _READER_TARGETS}


def build_report(
    spec: DrillSpec,
    ops: list[Op],
    analysis: Analysis,
    *,
    run_id: str,
    drill_file: str,
    started_at: datetime,
    finished_at: datetime,
    versions: dict[str, str],
    context: dict[str, Any],
    error: str | None,
) -> Report:
    """The report of one run, without the bundle's parts (``configuration``, ``evidence``, the
    bundle's ``files``) that :func:`~drillkit.report.finalize.finalize_evidence` adds."""
    clock = WallClock(ops)
    rto = analysis.rto
    measured = _measured(ops, analysis)
    targets = Targets.model_validate(_declared(spec))
    declared = current_audit_input()
    facts = _facts(analysis.verdict.value, measured, targets)
    return Report(
        schema_version=SCHEMA_VERSION,
        drill=spec.name,
        description=spec.description,
        run_id=run_id,
        drill_file=drill_file,
        overrides=spec.overrides,
        started_at=started_at.isoformat(timespec="milliseconds"),
        finished_at=finished_at.isoformat(timespec="milliseconds"),
        duration_seconds=round((finished_at - started_at).total_seconds(), 3),
        verdict=analysis.verdict.value,
        expected=spec.expect,
        checks=[
            CheckRow(
                name=c.name,
                target=c.target,
                measured=c.measured,
                verdict=c.verdict.value,
                reason=c.reason,
            )
            for c in analysis.checks
        ],
        notes=list(analysis.notes),
        error=error,
        targets=targets,
        measured=measured,
        fault_effective_at=clock.iso(analysis.fault_ns),
        incident=_incident(analysis, clock),
        faults=_faults(analysis, clock),
        **({"readers": readers} if (readers := _readers(analysis)) is not None else {}),
        **({"cache": cache} if (cache := _cache(analysis)) is not None else {}),
        phases=[
            Phase(name=p.name, start_s=p.start_s, end_s=p.end_s, status=p.status)
            for p in (rto.phases if rto else [])
        ],
        timeline=_timeline(ops, analysis, clock),
        definitions=_definitions(spec),
        spec=spec.model_dump(mode="json"),
        context=context,
        versions={"drillkit": __version__, **versions},
        files=Files(history="history.jsonl"),
        audit=collect_audit(drill_file, declared),
        controls=controls_for(declared.controls, facts),
    )


def write_report(
    report_dir: Path, report: Report, *, redact: Callable[[str], str] = lambda s: s
) -> Path:
    """Write report.json atomically (a crash never leaves half a report), secrets redacted."""
    report_dir.mkdir(parents=True, exist_ok=True)
    path = report_dir / "report.json"
    tmp = path.with_suffix(".json.tmp")
    text = redact(report.to_json_text())
    tmp.write_text(text + "\n", encoding="utf-8")
    tmp.replace(path)
    return path
