"""The typed model of ``report.json`` (schema_version 1), and the schema generated from it.

One :class:`Report` is built per run (:func:`drillkit.report.evidence.build_report`), completed by
:func:`drillkit.report.finalize.finalize_evidence` and written once. Every renderer (console,
Markdown, HTML, JUnit, metrics, trends, JSON logs) reads its attributes; a ``report.json`` from
disk is read back with :func:`load_report`.

Serialisation rule: :meth:`Report.as_json` dumps the fields that were *set* (``exclude_unset``).
A field that is optional in older files, or that only some timeline events carry, is absent
from the JSON unless it was given, exactly as the dict it replaces; a field given as ``None`` is
written as ``null``. Numbers keep their type (an ``int`` stays ``0``, not ``0.0``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema

__all__ = [
    "SCHEMA_ID",
    "SCHEMA_VERSION",
    "Audit",
    "Cache",
    "CheckRow",
    "ControlRow",
    "Evidence",
    "FaultRow",
    "Files",
    "Incident",
    "Measured",
    "Phase",
    "ProductionComparison",
    "ReaderPhase",
    "Readers",
    "Report",
    "SettingDifference",
    "Targets",
    "TimelineEvent",
    "load_report",
    "report_schema",
]

SCHEMA_VERSION: Literal[1] = 1
SCHEMA_ID = f"urn:drillkit:report:{SCHEMA_VERSION}"
VerdictName = Literal["pass", "fail", "unknown"]
Status = Literal["ok", "fail", "info"]
# int or float, kept as given (pydantic would turn an int 0 into 0.0); JSON Schema "number"
Number = Annotated[int | float, WithJsonSchema({"type": "number"})]
NonNegative = Annotated[int | float, WithJsonSchema({"type": "number", "minimum": 0})]
Count = Annotated[int, Field(ge=0)]
Timestamp = Annotated[
    str,
    Field(pattern=r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$"),
]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class CheckRow(_Model):
    """One judged target."""

    name: str = Field(description="the target judged, e.g. rpo_seconds, max_lost_writes")
    target: Number | None
    measured: Number | None
    verdict: VerdictName
    reason: str


class Targets(_Model):
    rpo_seconds: NonNegative | None = None
    rto_seconds: NonNegative | None = None
    max_lost_writes: Count | None = None
    max_staleness_seconds: NonNegative | None = None
    max_monotonic_violations: Count | None = None
    max_convergence_seconds: NonNegative | None = None
    max_ghost_reads: Count | None = None
    max_ghost_window_seconds: NonNegative | None = None
    max_stale_reads: Count | None = None
    max_cache_stale_window_seconds: NonNegative | None = None


class Measured(_Model):
    """What the checkers measured; ``None`` means it could not be measured."""

    rpo_seconds: NonNegative | None
    rto_seconds: NonNegative | None
    lost_writes: Count | None
    acknowledged_writes: Count | None
    indeterminate_writes: Count | None
    failed_writes: Count | None
    indeterminate_survived: Count | None = None
    indeterminate_vanished: Count | None = None
    lost_after_fault: Count | None = None
    lost_window_seconds: Annotated[list[Number], Field(min_length=2, max_length=2)] | None = None
    lost_ids_sample: list[int] | None = None
    never_written: Count | None = None
    failed_but_present: Count | None = None
    detection_seconds: Number | None = None
    observed_after_fault_seconds: Number | None = None
    writes_restored_seconds: Number | None = None
    data_restored_seconds: Number | None = None
    read_back_probe: bool = False  # read-backs showed the data gone, so they decided RTO too
    write_interval_seconds: NonNegative | None = None
    write_latency_seconds: NonNegative | None = None
    read_interval_seconds: NonNegative | None = None
    steady_writes_per_second: NonNegative | None = Field(
        None,
        description="acknowledged writes per second before the incident took effect "
        "(throughput in steady state)",
    )
    rpo_resolution_seconds: NonNegative | None = Field(
        None, description="null when exact (nothing lost)"
    )
    rto_resolution_seconds: NonNegative | None = None
    staleness_seconds: NonNegative | None = Field(
        None, description="the largest staleness of any reader's read (present when readers ran)"
    )
    staleness_resolution_seconds: NonNegative | None = None
    monotonic_violations: Count | None = None
    convergence_seconds: NonNegative | None = None
    convergence_resolution_seconds: NonNegative | None = None
    ghost_reads: Count | None = Field(
        None,
        description="cache reads after recovery that returned a version the database no longer "
        "has (present when the workload read through a cache)",
    )
    ghost_window_seconds: NonNegative | None = Field(
        None, description="recovery to the last ghost read; null: a ghost still cached at the end"
    )
    ghost_window_resolution_seconds: NonNegative | None = None
    stale_reads: Count | None = None
    cache_stale_window_seconds: NonNegative | None = Field(
        None,
        description="first to last stale cache read after recovery (present when the workload "
        "read through a cache)",
    )
    cache_stale_window_resolution_seconds: NonNegative | None = Field(
        None,
        description="a cache reader's interval: either end of the stale window is known "
        "to within it",
    )


class Cache(_Model):
    """What reads through the cache saw after recovery (docs/consistency.md, Cache drills)."""

    strategy: str | None = Field(description="ttl, delete-on-write, write-through or versioned")
    ttl_seconds: NonNegative | None
    keys: Count | None
    reads_after: Count = Field(description="answered cache reads invoked at or after recovery")
    unanswered_after: Count
    hits_after: Count = Field(description="of reads_after, those served from the cache")
    ghost_reads: Count | None = Field(
        description="reads after recovery of a version the database no longer has"
    )
    ghost_reads_after_write: Count | None = Field(
        description="ghost reads of a key after its first write acknowledged since recovery"
    )
    ghost_keys: Count | None
    stale_reads: Count | None = Field(
        description="reads after recovery older than the key's newest surviving write "
        "acknowledged before the read"
    )
    stale_reads_before: Count = Field(description="stale reads before the incident")
    max_stale_seconds: NonNegative | None
    ghost_window_seconds: NonNegative | None
    ghost_window_at_least_seconds: NonNegative | None = Field(
        description="set when a lost version was still cached at the end-of-run audit"
    )
    ghost_window_resolution_seconds: NonNegative | None
    ghosts_at_end: Count | None = Field(description="keys caching a lost version at the audit")
    stale_at_end: Count | None = Field(description="keys caching an older version at the audit")
    stale_window_seconds: NonNegative | None = Field(
        None, description="from the first to the last stale read after recovery; 0 if none"
    )
    stale_window_resolution_seconds: NonNegative | None = Field(
        None, description="a reader's interval (the median gap between its successive reads)"
    )
    stale_first_after_fault_seconds: Number | None = Field(
        None, description="the first stale read after recovery, after the incident took effect"
    )
    stale_last_after_fault_seconds: Number | None = Field(
        None, description="the end of the last stale read, after the incident took effect"
    )


class ReaderPhase(_Model):
    """Staleness of the readers' answered reads in one phase (docs/consistency.md)."""

    reads: Count = Field(description="answered (ok) reads judged")
    unanswered: Count = Field(description="reads that failed or went unanswered")
    p50_seconds: NonNegative | None = None
    p95_seconds: NonNegative | None = None
    max_seconds: NonNegative | None = None
    p50_writes: Count | None = None
    p95_writes: Count | None = None
    max_writes: Count | None = None


class Readers(_Model):
    """What the readers saw: staleness per phase, monotonic reads, convergence."""

    sources: list[str] = Field(description="replica node names, and client for the app path")
    phases: dict[Literal["steady", "fault", "after"], ReaderPhase]
    fault_phase_seconds: Annotated[list[Number | None], Field(min_length=2, max_length=2)] = Field(
        description="[start, end] of the fault phase relative to the incident (0 and the "
        "later of the heal and the RTO restoration; end null if neither is known)"
    )
    max_staleness_by_source: dict[str, NonNegative] = Field(
        description="the largest staleness of each source's answered reads"
    )
    read_interval_seconds: NonNegative | None
    staleness_resolution_seconds: NonNegative | None
    monotonic_violations: Count
    monotonic_regressions: Count
    violations_by_reader: dict[str, Count]
    convergence_seconds: NonNegative | None
    convergence_by_source: dict[str, NonNegative | None]
    convergence_needed_id: int | None = Field(
        description="the highest surviving id acknowledged before recovery"
    )


class Incident(_Model):
    """The fault RPO and RTO are measured from, and why it was chosen."""

    fault: str | None
    kind: str | None = None
    entry: int | None = None
    rule: Literal[
        "marked", "only fault", "worst outage", "before first failure", "no failure", "none"
    ]
    reason: str
    ambiguous: bool
    requested_at: Timestamp | None = None
    effective_at: Timestamp | None = None
    effective_by: str | None = None


class FaultRow(_Model):
    """One injection: its times, the schedule achieved, what happened to writes meanwhile."""

    fault: str
    kind: str
    entry: int | None = None
    incident: bool
    status: Literal["ok", "fail"]
    requested_at: Timestamp | None = None
    effective_at: Timestamp | None = None
    effective_by: str | None = None
    injection_latency_seconds: Number | None = None
    healed_at: Timestamp | None = None
    heal_status: str | None = None
    t_effective_seconds: Number | None = None
    declared_at_seconds: Number | None = None
    actual_at_seconds: Number | None = None
    declared_duration_seconds: Number | None = None
    actual_duration_seconds: Number | None = None
    acknowledged_writes: Count = 0
    lost_writes: Count | None = None
    failed_writes: Count = 0
    error: str | None = None


class Phase(_Model):
    """A named span relative to the incident (seconds)."""

    name: str
    start_s: Number
    end_s: Number | None
    status: str


class TimelineEvent(_Model):
    """One event of the timeline. Operations (``fault:*``, ``runbook:*``, ``steady-state:*``,
    ``final-read:*``) carry ``status`` and start/finish times; faults add requested/effective
    times, ``detail`` and ``value``; runbook steps add ``duration_seconds`` and ``value``.
    Markers (``detection``, ``recovered``) carry ``at``, ``t_seconds`` and ``meaning``. Only the
    fields an event has are written."""

    event: str
    status: Status | None = None
    started_at: str | None = None
    finished_at: str | None = None
    t_start_seconds: Number | None = None
    t_end_seconds: Number | None = None
    requested_at: str | None = None
    effective_at: str | None = None
    reported_effective_at: str | None = None
    detail: dict[str, Any] | None = None
    duration_seconds: NonNegative | None = None
    value: Any = None
    error: str | None = None
    at: str | None = None
    t_seconds: Number | None = None
    meaning: str | None = None

    @property
    def step(self) -> str | None:
        """The runbook step's name, if this is a runbook step."""
        return self.event.removeprefix("runbook:") if self.is_step else None

    @property
    def is_step(self) -> bool:
        return self.event.startswith("runbook:")


class Files(_Model):
    history: Literal["history.jsonl"] = "history.jsonl"
    runbook: list[str] | None = None
    node_logs: dict[str, str] | None = None
    configuration: str | None = None
    html: str | None = None
    markdown: str | None = None
    manifest: str | None = None


class Evidence(_Model):
    signed: bool
    algorithm: Literal["ed25519"] | None = None
    signature: str | None = None
    public_key: str | None = None
    key_fingerprint: Annotated[str, Field(pattern=r"^sha256:[0-9a-f]{64}$")] | None = None
    manifest: Literal["manifest.sha256"] = "manifest.sha256"
    redacted_secrets: Count | None = None
    errors: list[str] = []


class SettingDifference(_Model):
    """A setting whose drilled value is not production's."""

    setting: str = Field(description="its name; Patroni's PostgreSQL ones as parameters.NAME")
    drilled: str | None = Field(description="as the drilled server reported it; null: absent")
    production: str | None = Field(description="as the production dump has it; null: absent")
    critical: bool = Field(description="it decides data loss or recovery time")


class ProductionComparison(_Model):
    """The drilled system's settings against one production dump (--production-config)."""

    source: str = Field(description="the dump's file name")
    engine: Literal["postgresql", "redis", "sentinel", "patroni"]
    node: str | None = Field(description="the drilled node compared (the primary at the end)")
    compared: Count = Field(description="settings compared")
    not_compared: list[str] = Field(
        [], description="host-specific settings (paths, addresses, names) left out"
    )
    differences: list[SettingDifference]

    @property
    def critical(self) -> list[SettingDifference]:
        return [d for d in self.differences if d.critical]


class Audit(_Model):
    """Who ran the drill, where, from what, and what it stands in for (audit fields)."""

    operator: str | None = Field(description="who ran it: --operator, else the OS user")
    host: str | None = Field(description="the host name drillkit ran on")
    drill_file_sha256: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")] | None = Field(
        None, description="SHA-256 of the drill file's bytes; null for a drill built in code"
    )
    drillkit_version: str
    git_commit: str | None = Field(
        None, description="the commit of the drillkit checkout it ran from; null if installed"
    )
    git_dirty: bool | None = Field(
        None, description="the checkout had uncommitted changes; null if not from a checkout"
    )
    environment: str | None = Field(None, description="--environment: e.g. staging, dr-lab")
    stands_in_for: str | None = Field(
        None, description="--stands-in-for: the production system this drill rehearses"
    )


class ControlRow(_Model):
    """What this run is evidence for under one control, and what still needs a person."""

    framework: str = Field(description="e.g. SOC 2, ISO/IEC 27001:2022, DORA")
    control: str = Field(description="the control or article, e.g. A1.3, CP-4, Art. 11")
    title: str
    evidences: str = Field(description="what this run's bundle is evidence for")
    needs_human: str = Field(description="what the run cannot evidence: left to people")


class Report(_Model):
    """The audit evidence of one drill run."""

    schema_version: Literal[1] = SCHEMA_VERSION
    drill: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]*$")]
    description: str = ""
    run_id: Annotated[str, Field(min_length=1)]
    drill_file: str = ""
    overrides: dict[str, Any] = Field(
        default_factory=dict,
        description="--set KEY=VALUE overrides applied to the drill file for this run",
    )
    started_at: Timestamp
    finished_at: Timestamp
    duration_seconds: NonNegative
    verdict: VerdictName
    expected: Literal["pass", "fail"] = Field(
        "pass", description="the verdict the drill file declares it should reach (expect:)"
    )
    checks: list[CheckRow]
    notes: list[str]
    error: str | None
    targets: Targets
    measured: Measured
    fault_effective_at: Timestamp | None
    incident: Incident | None = None
    faults: list[FaultRow] = []
    readers: Readers | None = Field(None, description="present when the workload had readers")
    cache: Cache | None = Field(
        None, description="present when the workload read through a cache (workload.cache)"
    )
    phases: list[Phase]
    timeline: list[TimelineEvent]
    definitions: dict[str, str]
    spec: dict[str, Any] = Field(json_schema_extra={"required": ["name"]})
    context: dict[str, Any]
    versions: dict[str, str | None] = Field(json_schema_extra={"required": ["drillkit"]})
    files: Files
    configuration: dict[str, Any] | None = Field(
        None,
        description="Configuration fingerprint: image ids, server versions and the settings "
        "that decide data loss, per node; null if the topology could not provide it.",
    )
    evidence: Evidence | None = None
    production: list[ProductionComparison] | None = Field(
        None,
        description="where the drilled settings differ from production's (--production-config)",
    )
    audit: Audit | None = None
    controls: list[ControlRow] = Field(
        [],
        description="the control mapping asked for with --controls (evidence for, not "
        "certification of, each control)",
    )

    @property
    def as_expected(self) -> bool:
        """The verdict is the one the drill declares (``expect:``): what decides the exit code."""
        return self.verdict == self.expected

    @property
    def outcome(self) -> str:
        """``pass``, ``fail``, ``unknown``, or ``failed as expected`` / ``passed unexpectedly``."""
        if self.expected == "fail" and self.verdict in ("pass", "fail"):
            return "failed as expected" if self.verdict == "fail" else "passed unexpectedly"
        return self.verdict

    def check(self, name: str) -> CheckRow | None:
        """The check of target ``name`` (rpo_seconds, rto_seconds, max_lost_writes), if judged."""
        return next((c for c in self.checks if c.name == name), None)

    def steps(self) -> list[TimelineEvent]:
        """The runbook steps of the timeline, in order."""
        return [e for e in self.timeline if e.is_step]

    def as_json(self) -> dict[str, Any]:
        """The JSON object written to ``report.json`` (fields that were set, in schema order)."""
        return self.model_dump(mode="json", exclude_unset=True, fallback=str)

    def to_json_text(self) -> str:
        """The text of ``report.json`` (before redaction)."""
        return json.dumps(self.as_json(), indent=2, default=str)

    def with_evidence_errors(self, *errors: str) -> Report:
        """A copy whose ``evidence.errors`` lists ``errors`` too (a bundle step that failed)."""
        evidence = self.evidence or Evidence(signed=False, errors=[])
        return self.model_copy(
            update={"evidence": evidence.model_copy(update={"errors": [*evidence.errors, *errors]})}
        )


def load_report(path: Path) -> Report:
    """Read a ``report.json`` (``path`` is the file or its folder); raises ``ValidationError``."""
    if path.is_dir():
        path = path / "report.json"
    return Report.model_validate_json(path.read_text(encoding="utf-8"))


_TITLE = f"drillkit report.json, schema_version {SCHEMA_VERSION}"
_DESCRIPTION = (
    "The audit evidence of one drill run. New optional fields may be added within a "
    "schema_version; removing or changing the meaning of a field bumps schema_version (and "
    "this file's $id)."
)


def report_schema() -> dict[str, Any]:
    """The JSON Schema of report.json, generated from :class:`Report` (checked in as
    ``report.schema.json``; a unit test fails when that file is stale)."""
    generated = Report.model_json_schema(mode="serialization")
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": _TITLE,
        "description": _DESCRIPTION,
        **{k: v for k, v in generated.items() if k not in ("title", "description")},
    }


def schema_text() -> str:
    return json.dumps(report_schema(), indent=2) + "\n"
