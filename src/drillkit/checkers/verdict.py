"""Verdicts: pass, fail or unknown, per target and merged (fail beats unknown beats pass)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from drillkit.spec import Targets

__all__ = ["Check", "Measured", "Verdict", "judge", "merge"]


class Verdict(StrEnum):
    PASS = "pass"
    FAIL = "fail"
    UNKNOWN = "unknown"


_RANK = {Verdict.PASS: 0, Verdict.UNKNOWN: 1, Verdict.FAIL: 2}


def merge(verdicts: Iterable[Verdict]) -> Verdict:
    """The worst of the verdicts; no verdicts at all is unknown, never pass."""
    worst: Verdict | None = None
    for v in verdicts:
        if worst is None or _RANK[v] > _RANK[worst]:
            worst = v
    return worst or Verdict.UNKNOWN


@dataclass(frozen=True)
class Check:
    name: str
    target: float | None
    measured: float | None
    verdict: Verdict
    reason: str


@dataclass(frozen=True)
class Measured:
    """What the checkers found; None means it could not be measured."""

    rpo_seconds: float | None
    rto_seconds: float | None
    lost_writes: int | None
    observed_after_fault_s: float | None = None  # last write invoked, relative to the fault
    stable_window_s: float = 0.0
    rpo_resolution_s: float | None = None  # None: exact (e.g. RPO 0 because nothing was lost)
    rto_resolution_s: float | None = None
    staleness_seconds: float | None = None  # the largest over every reader's ok reads
    staleness_resolution_s: float | None = None
    monotonic_violations: int | None = None
    convergence_seconds: float | None = None
    convergence_resolution_s: float | None = None
    ghost_reads: int | None = None  # cache reads after recovery of a version since lost
    ghost_window_seconds: float | None = None  # None: unknown (a ghost still cached at the end)
    ghost_window_at_least_s: float | None = None
    ghost_window_resolution_s: float | None = None
    stale_reads: int | None = None
    cache_stale_window_seconds: float | None = None  # first to last stale read after recovery
    cache_stale_window_resolution_s: float | None = None  # a reader's interval


def _bound(
    name: str,
    target: float | None,
    value: float | None,
    unit: str,
    resolution: float | None = None,
) -> Check | None:
    """Judge ``value`` against ``target``, honestly about ``resolution`` (None: exact).

    Certainly above the target (by more than the resolution) fails; a target tighter than the
    resolution, or a value within one resolution of the target, is unknown; else pass or fail.
    """
    if target is None:
        return None
    if value is None:
        return Check(name, target, None, Verdict.UNKNOWN, f"{name} could not be measured")
    if resolution is not None and resolution > 0:
        res = f"{resolution:g}{unit}"
        if value > target + resolution:
            return Check(
                name, target, value, Verdict.FAIL, f"{value:g}{unit} > target {target:g}{unit}"
            )
        if target < resolution:
            return Check(
                name,
                target,
                value,
                Verdict.UNKNOWN,
                f"target {target:g}{unit} is tighter than the measurement resolution {res}",
            )
        if abs(value - target) < resolution:
            return Check(
                name,
                target,
                value,
                Verdict.UNKNOWN,
                f"{value:g}{unit} is within the measurement resolution ({res}) of the target "
                f"{target:g}{unit}: pass and fail cannot be told apart",
            )
    if value <= target:
        return Check(name, target, value, Verdict.PASS, f"{value:g}{unit} <= {target:g}{unit}")
    return Check(name, target, value, Verdict.FAIL, f"{value:g}{unit} > target {target:g}{unit}")


def judge(targets: Targets, measured: Measured) -> list[Check]:
    """One check per declared target."""
    checks = [
        _bound(
            "rpo_seconds", targets.rpo_seconds, measured.rpo_seconds, "s", measured.rpo_resolution_s
        ),
        _bound("max_lost_writes", targets.max_lost_writes, measured.lost_writes, ""),
    ]
    rto = _bound(
        "rto_seconds", targets.rto_seconds, measured.rto_seconds, "s", measured.rto_resolution_s
    )
    observed = measured.observed_after_fault_s
    if (
        rto is not None
        and rto.verdict is Verdict.UNKNOWN
        and measured.rto_seconds is None
        and observed is not None
        and targets.rto_seconds is not None
        and observed > targets.rto_seconds + measured.stable_window_s
    ):
        # Writes were watched long enough that a recovery within the target would have been
        # confirmed as stable; none was, so the target was missed.
        rto = Check(
            "rto_seconds",
            targets.rto_seconds,
            None,
            Verdict.FAIL,
            f"service not stably restored in the {observed:.1f}s observed after the fault "
            f"(target {targets.rto_seconds:g}s)",
        )
    checks.append(rto)
    checks += [
        _bound(
            "max_staleness_seconds",
            targets.max_staleness_seconds,
            measured.staleness_seconds,
            "s",
            measured.staleness_resolution_s,
        ),
        _bound(
            "max_monotonic_violations",
            targets.max_monotonic_violations,
            measured.monotonic_violations,
            "",
        ),
        _bound(
            "max_convergence_seconds",
            targets.max_convergence_seconds,
            measured.convergence_seconds,
            "s",
            measured.convergence_resolution_s,
        ),
        _bound("max_ghost_reads", targets.max_ghost_reads, measured.ghost_reads, ""),
        _ghost_window(targets, measured),
        _bound("max_stale_reads", targets.max_stale_reads, measured.stale_reads, ""),
        _bound(
            "max_cache_stale_window_seconds",
            targets.max_cache_stale_window_seconds,
            measured.cache_stale_window_seconds,
            "s",
            measured.cache_stale_window_resolution_s,
        ),
    ]
    return [c for c in checks if c is not None]


def _ghost_window(targets: Targets, measured: Measured) -> Check | None:
    """The ghost window; a ghost still cached at the end fails a target the window already
    exceeded (by more than the resolution), else it is unknown, never a pass."""
    target = targets.max_ghost_window_seconds
    check = _bound(
        "max_ghost_window_seconds",
        target,
        measured.ghost_window_seconds,
        "s",
        measured.ghost_window_resolution_s,
    )
    least = measured.ghost_window_at_least_s
    if check is None or target is None or measured.ghost_window_seconds is not None:
        return check
    if least is not None and least > target + (measured.ghost_window_resolution_s or 0.0):
        return Check(
            "max_ghost_window_seconds",
            target,
            None,
            Verdict.FAIL,
            f"a lost version was still cached at the end, {least:g}s after recovery "
            f"(target {target:g}s)",
        )
    if least is not None:
        return Check(
            "max_ghost_window_seconds",
            target,
            None,
            Verdict.UNKNOWN,
            f"a lost version was still cached at the end ({least:g}s after recovery): the "
            "window's end is unknown",
        )
    return check
