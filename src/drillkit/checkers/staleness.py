"""What readers saw: staleness, monotonic-read violations and convergence (docs/consistency.md).

A reader (:mod:`drillkit.workload.latest`, ``f="read-latest"``) records the highest write id its
source served and how many rows it holds. A read *sees* every id up to that highest one, less
what the row count proves missing: exact with one writer (ids commit in order); with several, of
the ``below`` writes acknowledged before the read with an id up to its highest, at least
``below - rows`` are missing (the source holds ``rows`` rows, all up to its highest), and those
are counted (a read without a row count: none). What remains uncounted is at most the rows the
source held that were not acknowledged before the read (a write in flight, an unknown outcome).

- **staleness** of an ``ok`` read invoked at ``t``: the writes acknowledged before ``t`` that it
  did not see: how many (``writes``), and ``t`` minus the acknowledgement of the oldest of them
  (``seconds``; 0 when it saw them all; for the ``k`` missing below the highest, whose ids are
  unknown, the ``k``-th latest acknowledgement among the ids up to the highest: a lower
  bound). A write later lost is owed until recovery (clients were told it was committed; a
  replica cut off from it is that far behind), not after it (it is RPO's then, and no source
  can ever serve it). Reported as p50/p95/max per phase:
  ``steady`` (invoked before the incident took effect), ``fault`` (from then until recovery:
  the later of the incident's heal, when it had a declared ``duration``, and the RTO
  restoration; :func:`drillkit.checkers.analysis.recovered_ns`) and ``after`` (from then on).
- **monotonic reads**: a violation is one (reader process, id) pair: an id the process had seen
  and a later read of the same process no longer saw (its highest fell below it). Ids whose
  write certainly failed are never counted. ``regressions`` counts the reads that went back.
- **convergence**: for each replica source, from recovery (the ``after`` phase start) to the
  completion of its first read invoked since then that saw every *surviving* write acknowledged
  before recovery; the drill's convergence is the slowest source's, unknown if any never did.

Resolution: a reader learns the state only when a read runs, so staleness and convergence are
known to within a reader's interval plus a read's latency (medians), and staleness's clock
starts at acknowledgements, one write interval apart: ``staleness_s`` adds the write interval.
"""

from __future__ import annotations

import bisect
import itertools
import statistics
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TypeVar

from drillkit.checkers.writes import WriteOutcomes
from drillkit.history import Op, OpType

__all__ = [
    "PHASES",
    "READ_LATEST",
    "Convergence",
    "LatestRead",
    "Monotonic",
    "PhaseStaleness",
    "Staleness",
    "convergence",
    "latest_reads",
    "monotonic",
    "staleness",
]

T = TypeVar("T", int, float)
READ_LATEST = "read-latest"
PHASES = ("steady", "fault", "after")
NS = 1_000_000_000


@dataclass(frozen=True, slots=True)
class LatestRead:
    """One reader operation: ``highest`` is set for ``ok`` reads only."""

    process: str
    source: str
    via: str  # replica | client
    invoked_ns: int
    completed_ns: int | None
    type: OpType
    highest: int | None
    rows: int | None = None  # rows the source held (counting readers)
    upto: int | None = None  # the reader's highest id before this read
    present: int | None = None  # rows with id <= upto the source held


def latest_reads(ops: Iterable[Op]) -> list[LatestRead]:
    """Every reader operation in invocation order (one never completed is ``info``)."""
    pending: dict[str, Op] = {}
    reads: list[LatestRead] = []
    for op in ops:
        if op.f != READ_LATEST:
            continue
        if op.type is OpType.INVOKE:
            pending[op.process] = op
            continue
        inv = pending.pop(op.process, None)
        if inv is None:
            continue
        highest = op.value if op.type is OpType.OK and isinstance(op.value, int) else None
        kind = OpType.INFO if op.type is OpType.OK and highest is None else op.type
        extra = op.extra if highest is not None else {}
        reads.append(_read(inv, op.time_ns, kind, highest, extra))
    reads += [_read(inv, None, OpType.INFO, None, {}) for inv in pending.values()]
    reads.sort(key=lambda r: r.invoked_ns)
    return reads


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _read(
    inv: Op, done: int | None, kind: OpType, highest: int | None, extra: dict[str, object]
) -> LatestRead:
    source = str(inv.extra.get("source", inv.process))
    via = str(inv.extra.get("via", "replica"))
    counts = (_int(extra.get("rows")), _int(extra.get("upto")), _int(extra.get("present")))
    return LatestRead(inv.process, source, via, inv.time_ns, done, kind, highest, *counts)


@dataclass(frozen=True)
class PhaseStaleness:
    reads: int  # ok reads judged
    unanswered: int  # reads that failed or went unanswered
    p50_s: float | None = None
    p95_s: float | None = None
    max_s: float | None = None
    p50_writes: int | None = None
    p95_writes: int | None = None
    max_writes: int | None = None


@dataclass(frozen=True)
class Staleness:
    phases: dict[str, PhaseStaleness]
    max_s: float | None  # over every ok read; None when no read was answered
    max_writes: int | None
    fault_ns: int | None
    recovered_ns: int | None  # the after phase's start
    resolution_s: float | None
    read_interval_s: float | None
    sources: list[str] = field(default_factory=list)
    max_by_source: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Monotonic:
    violations: int  # (process, id) pairs seen, then no longer seen
    regressions: int  # reads whose highest fell below the process's earlier highest
    per_process: dict[str, int]
    readers: int


@dataclass(frozen=True)
class Convergence:
    seconds: float | None  # the slowest replica source; None if any never converged
    recovered_ns: int | None
    needed_id: int | None  # the highest surviving id acknowledged before recovery
    per_source: dict[str, float | None]
    resolution_s: float | None
    notes: list[str] = field(default_factory=list)


class _Counts:
    """A Fenwick tree over id ranks: how many acknowledged ids above a bound are in so far."""

    def __init__(self, size: int) -> None:
        self._tree = [0] * (size + 1)
        self.total = 0

    def add(self, rank: int) -> None:
        self.total += 1
        i = rank + 1
        while i < len(self._tree):
            self._tree[i] += 1
            i += i & -i

    def up_to(self, rank: int) -> int:
        """How many added have a rank below ``rank``."""
        total, i = 0, rank
        while i > 0:
            total += self._tree[i]
            i -= i & -i
        return total


def _acked(outcomes: WriteOutcomes, survivors: set[int] | None) -> list[tuple[int, int]]:
    """(ack time, id) of every surviving acknowledged write, in ack order."""
    return sorted(
        (outcomes.completed_ns[i], i)
        for i in outcomes.acknowledged
        if i in outcomes.completed_ns and (survivors is None or i in survivors)
    )


def _pct(values: list[T], q: float) -> T:
    """The nearest-rank quantile: always one of ``values``."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _phase(t: int, fault_ns: int | None, recovered_ns: int | None) -> str:
    if fault_ns is None or t < fault_ns:
        return "steady"
    if recovered_ns is None or t < recovered_ns:
        return "fault"
    return "after"


def read_interval(reads: list[LatestRead]) -> float | None:
    """The median gap between consecutive reads of one process, plus the median latency."""
    gaps: list[int] = []
    for _, group in itertools.groupby(
        sorted(reads, key=lambda r: (r.process, r.invoked_ns)), key=lambda r: r.process
    ):
        times = [r.invoked_ns for r in group]
        gaps += [b - a for a, b in itertools.pairwise(times)]
    if not gaps:
        return None
    latency = [r.completed_ns - r.invoked_ns for r in reads if r.completed_ns is not None]
    return (statistics.median(gaps) + (statistics.median(latency) if latency else 0)) / NS


def _behind(
    reads: list[LatestRead], acked: list[tuple[int, int]]
) -> list[tuple[LatestRead, int, float]]:
    """(read, writes behind, seconds behind) of each ok read against ``acked`` ((ack time, id)
    in ack order): a Fenwick sweep over the reads in invocation order."""
    ids = sorted(i for _, i in acked)
    ack_of = {i: t for t, i in acked}
    oldest_above = [2**63] * (len(ids) + 1)  # the earliest ack among ids of rank >= r
    for r in range(len(ids) - 1, -1, -1):
        oldest_above[r] = min(oldest_above[r + 1], ack_of[ids[r]])
    counts = _Counts(len(ids))
    out: list[tuple[LatestRead, int, float]] = []
    nxt = 0
    for read in sorted(reads, key=lambda r: r.invoked_ns):
        while nxt < len(acked) and acked[nxt][0] < read.invoked_ns:
            counts.add(bisect.bisect_left(ids, acked[nxt][1]))
            nxt += 1
        rank = bisect.bisect_right(ids, read.highest or 0)  # ids of rank >= this: not seen
        below = counts.up_to(rank)  # acknowledged before the read, id <= its highest
        above = counts.total - below
        oldest = oldest_above[rank] if above else None
        # Several writers: an id below the highest may still be missing. The source holds
        # ``rows`` rows, all with ids <= highest, so at least ``below - rows`` of those
        # acknowledged ids are missing; the oldest missing one was acknowledged no later than
        # the ``gap``-th latest acknowledgement among them.
        gap = 0 if read.rows is None else max(0, below - read.rows)
        if gap:
            ack = _kth_latest_ack_at_or_below(acked, nxt, read.highest or 0, gap)
            oldest = ack if oldest is None else min(oldest, ack)
        missed = above + gap
        age = max(0, read.invoked_ns - oldest) / NS if oldest is not None else 0.0
        out.append((read, missed, age))
    return out


def _kth_latest_ack_at_or_below(
    acked: list[tuple[int, int]], end: int, highest: int, k: int
) -> int:
    """The ``k``-th latest acknowledgement time among ``acked[:end]`` (ack order) with an id
    at or below ``highest`` (there are at least ``k`` of them)."""
    found = 0
    for j in range(end - 1, -1, -1):
        t, i = acked[j]
        if i <= highest:
            found += 1
            if found == k:
                return t
    raise ValueError(f"fewer than {k} acknowledged ids at or below {highest}")


def staleness(
    reads: list[LatestRead],
    outcomes: WriteOutcomes,
    survivors: Iterable[int] | None,
    *,
    fault_ns: int | None,
    recovered_ns: int | None,
    write_interval_s: float | None,
) -> Staleness:
    """Each ok read's staleness, summarised per phase (see the module docstring)."""
    answered = [r for r in reads if r.type is OpType.OK and r.highest is not None]
    if survivors is None or recovered_ns is None:
        judged = _behind(answered, _acked(outcomes, None))
    else:  # lost writes are owed until recovery, then gone for good (RPO's)
        before = [r for r in answered if r.invoked_ns < recovered_ns]
        after = [r for r in answered if r.invoked_ns >= recovered_ns]
        judged = _behind(before, _acked(outcomes, None))
        judged += _behind(after, _acked(outcomes, set(survivors)))
    seconds: dict[str, list[float]] = {p: [] for p in PHASES}
    behind: dict[str, list[int]] = {p: [] for p in PHASES}
    unanswered = dict.fromkeys(PHASES, 0)
    by_source: dict[str, float] = {}
    for read in reads:
        if read.type is not OpType.OK or read.highest is None:
            unanswered[_phase(read.invoked_ns, fault_ns, recovered_ns)] += 1
    for read, missed, age in judged:
        phase = _phase(read.invoked_ns, fault_ns, recovered_ns)
        behind[phase].append(missed)
        seconds[phase].append(age)
        by_source[read.source] = max(by_source.get(read.source, 0.0), round(age, 6))
    phases = {
        p: PhaseStaleness(
            len(seconds[p]),
            unanswered[p],
            *(
                (
                    round(_pct(seconds[p], 0.5), 6),
                    round(_pct(seconds[p], 0.95), 6),
                    round(max(seconds[p]), 6),
                    _pct(behind[p], 0.5),
                    _pct(behind[p], 0.95),
                    max(behind[p]),
                )
                if seconds[p]
                else ()
            ),
        )
        for p in PHASES
    }
    every = [s for p in PHASES for s in seconds[p]]
    interval = read_interval(reads)
    res = None if interval is None else interval + (write_interval_s or 0.0)
    return Staleness(
        phases=phases,
        max_s=round(max(every), 6) if every else None,
        max_writes=max((b for p in PHASES for b in behind[p]), default=None) if every else None,
        fault_ns=fault_ns,
        recovered_ns=recovered_ns,
        resolution_s=None if res is None else round(res, 6),
        read_interval_s=None if interval is None else round(interval, 6),
        sources=sorted({r.source for r in reads}),
        max_by_source=dict(sorted(by_source.items())),
    )


def monotonic(reads: list[LatestRead], outcomes: WriteOutcomes) -> Monotonic:
    """Ids each reader process saw and later no longer saw (see the module docstring)."""
    written = sorted(i for i, t in outcomes.outcome.items() if t is not OpType.FAIL)
    per: dict[str, int] = {}
    regressions = 0
    done = [r for r in reads if r.type is OpType.OK and r.highest is not None]
    done.sort(key=lambda r: (r.process, r.completed_ns or r.invoked_ns))
    for process, group in itertools.groupby(done, key=lambda r: r.process):
        mine = list(group)
        counted = all(r.present is not None and r.rows is not None for r in mine)
        found, back = _counted(mine) if counted else _by_highest(mine, written)
        per[process] = found
        regressions += back
    per = dict(sorted(per.items()))
    return Monotonic(sum(per.values()), regressions, per, len({r.process for r in reads}))


def _counted(reads: list[LatestRead]) -> tuple[int, int]:
    """Exact, from row counts: the read that first saw highest id ``H`` held ``rows(H)`` rows,
    all with ids up to ``H``; a later read holding only ``present`` of the rows up to ``H`` no
    longer sees ``rows(H) - present`` of them (the largest such deficit per ``H`` counts)."""
    baseline: dict[int, int] = {}
    deficit: dict[int, int] = {}
    high, back = -1, 0
    for read in reads:
        seen = read.highest or 0
        upto = read.upto if read.upto is not None else high
        if upto in baseline and read.present is not None:
            missing = baseline[upto] - read.present
            if missing > 0:
                back += 1
                deficit[upto] = max(deficit.get(upto, 0), missing)
            elif seen < upto:
                back += 1
        if seen > high:
            high = seen
            baseline[seen] = read.rows or 0
    return sum(deficit.values()), back


def _by_highest(reads: list[LatestRead], written: list[int]) -> tuple[int, int]:
    """From highest ids alone (no counts): a read whose highest fell below the process's
    earlier highest no longer sees the written ids in between."""
    ids: set[int] = set()
    high, back = None, 0
    for read in reads:
        seen = read.highest or 0
        if high is not None and seen < high:
            back += 1
            lo, hi = bisect.bisect_right(written, seen), bisect.bisect_right(written, high)
            ids.update(written[lo:hi])
        high = seen if high is None else max(high, seen)
    return len(ids), back


def convergence(
    reads: list[LatestRead],
    outcomes: WriteOutcomes,
    survivors: Iterable[int] | None,
    recovered_ns: int | None,
) -> Convergence:
    """From recovery until every replica source served every surviving write acknowledged
    before it (see the module docstring)."""
    replica = [r for r in reads if r.via == "replica"]
    res = read_interval(replica)
    resolution = None if res is None else round(res, 6)
    sources = sorted({r.source for r in replica})
    if not sources:
        return Convergence(None, recovered_ns, None, {}, resolution, ["no replica readers"])
    if recovered_ns is None:
        note = "no recovery time (the incident was neither healed nor recovered from)"
        return Convergence(None, None, None, dict.fromkeys(sources), resolution, [note])
    needed = max((i for t, i in _acked(outcomes, _set(survivors)) if t < recovered_ns), default=0)
    per: dict[str, float | None] = {}
    notes: list[str] = []
    for source in sources:
        after = [r for r in replica if r.source == source and r.invoked_ns >= recovered_ns]
        hit = next(
            (
                r
                for r in after
                if r.type is OpType.OK and (r.highest or 0) >= needed and r.completed_ns
            ),
            None,
        )
        if hit is None or hit.completed_ns is None:
            per[source] = None
            best = max((r.highest or 0 for r in after if r.type is OpType.OK), default=None)
            notes.append(
                f"{source} never served every surviving write acknowledged before recovery "
                f"(needed id {needed}; {len(after)} reads after recovery, highest seen {best})"
            )
        else:
            per[source] = round((hit.completed_ns - recovered_ns) / NS, 6)
    values = list(per.values())
    worst = None if any(v is None for v in values) else max(v for v in values if v is not None)
    return Convergence(worst, recovered_ns, needed, per, resolution, notes)


def _set(ids: Iterable[int] | None) -> set[int] | None:
    return None if ids is None else set(ids)
