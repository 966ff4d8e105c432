"""Configuration sweeps: one drill over the cartesian product of ``--set`` alternatives.

``--set topology.replication=async,sync --set topology.synchronous_commit=on,remote_apply``
is a matrix of four *cells*; each cell is the drill with those overrides, run ``repeat`` times.
This module is the pure part: parsing the axes (:func:`parse_axes`), expanding the matrix
(:func:`expand`), the columns of the summary (:data:`COLUMNS`, read from ``report.json`` fields)
and the aggregation of runs into per-cell statistics (:class:`CellSummary`). Running the cells is
:mod:`drillkit.sweep_run`; rendering the summary is :mod:`drillkit.report.sweep`.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from drillkit.trends import percentile

__all__ = [
    "COLUMNS",
    "Axis",
    "Cell",
    "CellSummary",
    "Column",
    "RunRow",
    "Stat",
    "SweepError",
    "column_value",
    "expand",
    "parse_axes",
]

VERDICTS = ("pass", "fail", "unknown")


class SweepError(ValueError):
    """A ``--set`` of a sweep that cannot be expanded; ``str()`` says why."""


@dataclass(frozen=True)
class Column:
    """One measured quantity of the summary: a ``report.json`` field, aggregated per cell.

    ``field`` is a dotted path into ``report.json`` (``measured.rpo_seconds``); a run whose
    report lacks it, or holds ``null``, is left out of that column's ``n``."""

    key: str
    label: str
    field: str
    unit: str
    definition: str


# The summary's columns, in order. A new measurement is one more entry.
COLUMNS: tuple[Column, ...] = (
    Column(
        "rpo",
        "RPO",
        "measured.rpo_seconds",
        "s",
        "achieved RPO of each run (report.json measured.rpo_seconds): 0 if no acknowledged "
        "write was lost, else the incident's effective time minus the acknowledgement time of "
        "the earliest lost write",
    ),
    Column(
        "rto",
        "RTO",
        "measured.rto_seconds",
        "s",
        "achieved RTO of each run (measured.rto_seconds): from the incident's effective time "
        "to the first acknowledged write that begins a stable run of successes",
    ),
    Column(
        "lost_writes",
        "lost writes",
        "measured.lost_writes",
        "",
        "acknowledged (ok) writes absent from the final read (measured.lost_writes)",
    ),
    Column(
        "throughput",
        "throughput",
        "measured.steady_writes_per_second",
        "writes/s",
        "acknowledged writes per second before the incident took effect "
        "(measured.steady_writes_per_second): (count - 1) / (last - first acknowledgement)",
    ),
    Column(
        "staleness",
        "staleness",
        "measured.staleness_seconds",
        "s",
        "the largest staleness of any reader's read (measured.staleness_seconds; only when the "
        "drill runs readers, see docs/consistency.md)",
    ),
)


@dataclass(frozen=True)
class Axis:
    """One ``--set KEY=V1,V2,...``: the key and its alternatives (raw text, parsed as YAML by
    the drill loader)."""

    key: str
    values: tuple[str, ...]


@dataclass(frozen=True)
class Cell:
    """One configuration: the fixed overrides plus one value of every axis."""

    index: int
    settings: tuple[tuple[str, str], ...]  # (key, value) of each axis, in axis order
    fixed: tuple[str, ...] = ()  # KEY=VALUE applied to every cell

    @property
    def name(self) -> str:
        """``replication=sync synchronous_commit=on`` (each key's last part, unless that
        repeats); ``baseline`` for a sweep without axes."""
        if not self.settings:
            return "baseline"
        lasts = [k.rsplit(".", 1)[-1] for k, _ in self.settings]
        short = len(set(lasts)) == len(lasts)
        return " ".join(
            f"{last if short else k}={v}" for last, (k, v) in zip(lasts, self.settings, strict=True)
        )

    @property
    def slug(self) -> str:
        """The cell's folder name: ``01-replication-sync_synchronous_commit-on``."""
        safe = re.sub(r"[^A-Za-z0-9._-]+", "-", self.name.replace(" ", "_").replace("=", "-"))
        return f"{self.index + 1:02d}-{safe.strip('-')[:80] or 'cell'}"

    @property
    def overrides(self) -> list[str]:
        """The ``--set`` items of this cell, as ``drillkit run`` takes them."""
        return [*self.fixed, *(f"{k}={v}" for k, v in self.settings)]


def _split(text: str) -> list[str]:
    """Split at commas outside brackets, braces and quotes (``[a, b],c`` is two values)."""
    parts, depth, quote, start = [], 0, "", 0
    for i, ch in enumerate(text):
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch in "[{":
            depth += 1
        elif ch in "]}":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return [p.strip() for p in parts]


def parse_axes(items: Sequence[str]) -> tuple[list[Axis], list[str]]:
    """``--set`` items -> the axes (two or more values) and the fixed ``KEY=VALUE`` items."""
    axes: list[Axis] = []
    fixed: list[str] = []
    seen: set[str] = set()
    for item in items:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise SweepError(f"--set {item!r}: expected KEY=V1,V2,... like topology.replication")
        if key in seen:
            raise SweepError(f"--set {key}: given twice; list its values once, comma-separated")
        seen.add(key)
        values = _split(text)
        if len(values) > 1 and any(v == "" for v in values):
            raise SweepError(f"--set {key}: an empty value in {text!r}")
        if len(values) != len(set(values)):
            raise SweepError(f"--set {key}: a value repeats in {text!r}")
        if len(values) == 1:
            fixed.append(f"{key}={values[0]}")
        else:
            axes.append(Axis(key, tuple(values)))
    return axes, fixed


def expand(axes: Sequence[Axis], fixed: Sequence[str] = ()) -> list[Cell]:
    """The cartesian product of the axes (the first axis varies slowest)."""
    combos = itertools.product(*[[(a.key, v) for v in a.values] for a in axes])
    return [Cell(i, tuple(combo), tuple(fixed)) for i, combo in enumerate(combos)]


def column_value(report: dict[str, Any], column: Column) -> float | None:
    """The column's field of one ``report.json``; None if absent, null or not a number."""
    value: Any = report
    for part in column.field.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


@dataclass(frozen=True)
class RunRow:
    """One finished run of a cell: where its evidence is and what its report says."""

    n: int  # 1-based repetition
    report_dir: str  # relative to the sweep's folder
    verdict: str
    exit_code: int
    values: dict[str, float | None]

    @classmethod
    def of(cls, n: int, report_dir: str, report: dict[str, Any], exit_code: int) -> RunRow:
        values = {c.key: column_value(report, c) for c in COLUMNS}
        return cls(n, report_dir, str(report.get("verdict", "unknown")), exit_code, values)


@dataclass(frozen=True)
class Stat:
    n: int
    p50: float | None
    p95: float | None


@dataclass
class CellSummary:
    """A cell, why it was skipped (if it was) and its runs; the statistics derive from them."""

    cell: Cell
    skipped: str | None = None
    runs: list[RunRow] = field(default_factory=list)

    @property
    def verdicts(self) -> dict[str, int]:
        return {v: sum(1 for r in self.runs if r.verdict == v) for v in VERDICTS}

    def stat(self, column: Column) -> Stat:
        values = [v for r in self.runs if (v := r.values.get(column.key)) is not None]
        return Stat(len(values), percentile(values, 50), percentile(values, 95))

    def as_json(self) -> dict[str, Any]:
        return {
            "cell": self.cell.name,
            "folder": self.cell.slug,
            "overrides": dict(self.cell.settings),
            "skipped": self.skipped,
            "verdicts": self.verdicts,
            "stats": {c.key: vars(self.stat(c)) for c in COLUMNS},
            "runs": [vars(r) for r in self.runs],
        }
