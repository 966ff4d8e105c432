"""What readers through a cache saw after recovery: ghost reads, stale reads and the ghost
window (docs/consistency.md, "Cache drills"; the reads are :mod:`drillkit.workload.cache`'s).

Every write sets ``version`` = its id for one key (``extra.key`` of its invocation); a key's
version in the database is the highest id written to it that the database still holds.
*Recovery* is the instant the readers' checker uses
(:func:`~drillkit.checkers.analysis.recovered_ns`: the RTO restoration, or the incident's
declared heal if later).

- **ghost read**: an ``ok`` cache read invoked at or after recovery that returned a version
  (> 0) the database no longer has: not among the surviving ids of the final read. Unknown
  (None) without a final read.
- **ghost read after a write**: a ghost read of a key invoked after the first write of that key
  acknowledged since recovery (and surviving): what delete-on-write and write-through promise
  never to serve.
- **stale read**: an ``ok`` read invoked at or after recovery, not a ghost, that returned a
  version older than the key's newest surviving write acknowledged before the read was invoked;
  its staleness is the read's invocation minus the acknowledgement of the oldest such newer
  write (how long the newer version had been there to read). Counted before the incident too
  (``stale_reads_before``): a TTL cache is stale in steady state as well.
- **stale window**: from the invocation of the first stale read to the completion of the last
  one, both after recovery; 0 if none (``stale_first_s``/``stale_last_s``: those two instants
  after the incident took effect). Each reader reads every ``1 / reader_rate`` seconds, so
  either end is known to within one reader's interval (the median gap between two successive
  reads of one reader), or that end's read's own latency if larger (a read is served somewhere
  between its invocation and its completion): the larger is the window's resolution. A cache
  that fails over (topology.cache with Sentinels) loses the last deletes and sets its old
  master acknowledged: the stale window is how long readers were served the older versions
  left behind.
- **ghost window**: from recovery to the completion of the last ghost read; 0 if none. The
  end-of-run audit (``cache-audit``) compares what the cache would serve for every key with the
  database: a ghost still cached then makes the window unknown (at least ``audit - recovery``),
  never a pass, and so does a missing audit.

Resolution of the window: a key is learned about only when a reader picks it, so the window's
end is known to within the median interval between two reads of one key (plus a read's median
latency), or, when longer, the largest gap between a ghost key's last ghost read and its next
read.
"""

from __future__ import annotations

import bisect
import statistics
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from drillkit.checkers.writes import WriteOutcomes
from drillkit.history import Op, OpType

__all__ = [
    "AUDIT",
    "CACHE_READ",
    "CacheCheck",
    "CacheRead",
    "StaleWindow",
    "cache_check",
    "cache_reads",
    "stale_window",
]

CACHE_READ = "cache-read"
CACHE_SETUP = "cache-setup"
AUDIT = "cache-audit"
NS = 1_000_000_000


@dataclass(frozen=True, slots=True)
class CacheRead:
    """One cache read: ``version`` and ``hit`` are set for ``ok`` reads only."""

    process: str
    key: int
    invoked_ns: int
    completed_ns: int | None
    type: OpType
    version: int | None
    hit: bool | None


@dataclass(frozen=True)
class CacheCheck:
    strategy: str | None
    ttl_seconds: float | None
    keys: int | None
    recovered_ns: int | None
    reads_after: int  # ok reads invoked at or after recovery
    unanswered_after: int
    hits_after: int
    ghost_reads: int | None  # None: no final read, or no recovery
    ghost_reads_after_write: int | None
    ghost_keys: int | None
    stale_reads: int | None  # after recovery
    stale_reads_before: int  # invoked before the incident took effect
    max_stale_seconds: float | None
    window_s: float | None  # None: unknown
    window_at_least_s: float | None  # set when a ghost was still cached at the audit
    resolution_s: float | None
    ghosts_at_end: int | None  # None: no audit
    stale_at_end: int | None
    notes: list[str] = field(default_factory=list)
    stale_window_s: float | None = None  # None: no recovery, or no answered read after it
    stale_window_resolution_s: float | None = None
    stale_first_s: float | None = None  # after the incident took effect
    stale_last_s: float | None = None


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def cache_reads(ops: Iterable[Op]) -> list[CacheRead]:
    """Every cache read in invocation order (one never completed is ``info``)."""
    pending: dict[str, Op] = {}
    reads: list[CacheRead] = []
    for op in ops:
        if op.f != CACHE_READ:
            continue
        if op.type is OpType.INVOKE:
            pending[op.process] = op
            continue
        inv = pending.pop(op.process, None)
        if inv is None:
            continue
        key = _int(inv.extra.get("key"))
        if key is None:
            continue
        version = _int(op.value) if op.type is OpType.OK else None
        kind = OpType.INFO if op.type is OpType.OK and version is None else op.type
        hit = bool(op.extra.get("hit")) if version is not None else None
        reads.append(CacheRead(op.process, key, inv.time_ns, op.time_ns, kind, version, hit))
    for inv in pending.values():
        key = _int(inv.extra.get("key"))
        if key is not None:
            reads.append(CacheRead(inv.process, key, inv.time_ns, None, OpType.INFO, None, None))
    reads.sort(key=lambda r: r.invoked_ns)
    return reads


def _setup(ops: list[Op]) -> dict[str, Any]:
    for op in ops:
        if op.f == CACHE_SETUP and op.type is OpType.OK and isinstance(op.value, dict):
            return op.value
    return {}


def _audit(ops: list[Op]) -> tuple[int, dict[int, int], dict[int, int]] | None:
    """(time, cached, db) of the last successful audit, or None."""
    found = None
    for op in ops:
        if op.f == AUDIT and op.type is OpType.OK and isinstance(op.value, dict):
            cached = op.value.get("cached") or {}
            db = op.value.get("db") or {}
            found = (
                op.time_ns,
                {int(k): int(v) for k, v in cached.items()},
                {int(k): int(v) for k, v in db.items()},
            )
    return found


def _write_keys(ops: list[Op]) -> dict[int, int]:
    return {
        op.value: op.extra["key"]
        for op in ops
        if op.f == "write"
        and op.type is OpType.INVOKE
        and isinstance(op.value, int)
        and isinstance(op.extra.get("key"), int)
    }


class _KeyWrites:
    """Per key: the surviving acknowledged writes in ack order, with running maxima."""

    def __init__(
        self, outcomes: WriteOutcomes, keys: dict[int, int], survivors: set[int] | None
    ) -> None:
        by_key: dict[int, list[tuple[int, int]]] = defaultdict(list)
        for wid in outcomes.acknowledged:
            key = keys.get(wid)
            done = outcomes.completed_ns.get(wid)
            if key is None or done is None or (survivors is not None and wid not in survivors):
                continue
            by_key[key].append((done, wid))
        self.acks: dict[int, list[int]] = {}
        self.wids: dict[int, list[int]] = {}
        self.newest: dict[int, list[int]] = {}
        for key, rows in by_key.items():
            rows.sort()
            self.acks[key] = [t for t, _ in rows]
            self.wids[key] = [w for _, w in rows]
            running, high = [], 0
            for _, w in rows:
                high = max(high, w)
                running.append(high)
            self.newest[key] = running

    def behind(self, key: int, before_ns: int, version: int) -> float | None:
        """Seconds since the oldest write of ``key`` newer than ``version`` acknowledged before
        ``before_ns`` (None: the read was not behind)."""
        acks = self.acks.get(key)
        if not acks:
            return None
        n = bisect.bisect_left(acks, before_ns)
        newest = self.newest[key]
        if n == 0 or newest[n - 1] <= version:
            return None
        # the running maximum first exceeds ``version`` at the first write newer than it
        first = bisect.bisect_right(newest, version, 0, n)
        return (before_ns - acks[first]) / NS

    def first_after(self, key: int, since_ns: int) -> int | None:
        """The first surviving write of ``key`` acknowledged at or after ``since_ns`` (its id)."""
        acks = self.acks.get(key)
        if not acks:
            return None
        i = bisect.bisect_left(acks, since_ns)
        return self.wids[key][i] if i < len(acks) else None


def _settled(ops: list[Op]) -> dict[int, int]:
    """Per acknowledged write: when its process invoked its next operation. The writer updates
    the cache (delete-on-write, write-through) after the ack is recorded and before it invokes
    again, so that invocation bounds when the write's cache update had finished; a write with
    no later invocation has no bound."""
    waiting: dict[str, int] = {}  # process -> its last acknowledged write
    settled: dict[int, int] = {}
    for op in ops:
        if op.f == "write" and op.type is OpType.OK and isinstance(op.value, int):
            waiting[op.process] = op.value
        elif op.type is OpType.INVOKE and op.process in waiting:
            settled[waiting.pop(op.process)] = op.time_ns
    return settled


def _key_interval(reads: list[CacheRead]) -> float | None:
    """The median gap between two reads of one key, plus the median read latency (seconds)."""
    last: dict[int, int] = {}
    gaps: list[int] = []
    for r in reads:
        if r.key in last:
            gaps.append(r.invoked_ns - last[r.key])
        last[r.key] = r.invoked_ns
    if not gaps:
        return None
    lat = [r.completed_ns - r.invoked_ns for r in reads if r.completed_ns is not None]
    return (statistics.median(gaps) + (statistics.median(lat) if lat else 0)) / NS


def _reader_interval(reads: list[CacheRead]) -> float | None:
    """The median gap between two successive reads of one reader (seconds)."""
    last: dict[str, int] = {}
    gaps: list[int] = []
    for r in reads:
        if r.process in last:
            gaps.append(r.invoked_ns - last[r.process])
        last[r.process] = r.invoked_ns
    return statistics.median(gaps) / NS if gaps else None


@dataclass(frozen=True)
class StaleWindow:
    """First to last stale read after recovery (seconds), its ends after the incident."""

    seconds: float | None
    resolution_s: float | None
    first_s: float | None
    last_s: float | None


def stale_window(
    stale: list[CacheRead], after: list[CacheRead], fault_ns: int | None
) -> StaleWindow:
    """The stale window of ``stale`` (stale reads after recovery, in invocation order) among
    ``after`` (every read after recovery); see the module docstring."""
    resolution = _reader_interval(after)
    res = None if resolution is None else round(resolution, 6)
    if not any(r.type is OpType.OK for r in after):
        return StaleWindow(None, res, None, None)
    if not stale:
        return StaleWindow(0.0, res, None, None)
    opening = min(stale, key=lambda r: r.invoked_ns)
    closing = max(stale, key=lambda r: r.completed_ns or r.invoked_ns)
    first = opening.invoked_ns
    last = closing.completed_ns or closing.invoked_ns
    # A read was served somewhere between its invocation and its completion: an end is known to
    # within that read's latency too (a read waiting on the cache's failover can take tens of
    # milliseconds), whichever is larger.
    for r in (opening, closing):
        if r.completed_ns is not None:
            latency = (r.completed_ns - r.invoked_ns) / NS
            resolution = latency if resolution is None else max(resolution, latency)
    res = None if resolution is None else round(resolution, 6)

    def since_fault(t: int) -> float | None:
        return None if fault_ns is None else round((t - fault_ns) / NS, 6)

    return StaleWindow(round((last - first) / NS, 6), res, since_fault(first), since_fault(last))


def cache_check(
    ops: list[Op],
    outcomes: WriteOutcomes,
    survivors: Iterable[int] | None,
    *,
    fault_ns: int | None,
    recovered_ns: int | None,
) -> CacheCheck | None:
    """Ghost and stale reads, and the ghost window (see the module docstring); None when the
    history has no cache reads."""
    reads = cache_reads(ops)
    if not reads:
        return None
    setup = _setup(ops)
    notes: list[str] = []
    alive = None if survivors is None else set(survivors)
    writes = _KeyWrites(outcomes, _write_keys(ops), alive)
    before = [
        r for r in reads if r.type is OpType.OK and fault_ns is not None and r.invoked_ns < fault_ns
    ]
    stale_before = sum(
        1 for r in before if writes.behind(r.key, r.invoked_ns, r.version or 0) is not None
    )
    audit = _audit(ops)
    if recovered_ns is None:
        notes.append("no recovery time: ghost and stale reads after recovery not judged")
        return CacheCheck(
            setup.get("strategy"), setup.get("ttl_seconds"), setup.get("keys"), None, 0, 0, 0,
            None, None, None, None, stale_before, None, None, None, None, None, None, notes,
        )  # fmt: skip
    after = [r for r in reads if r.invoked_ns >= recovered_ns]
    ok = [r for r in after if r.type is OpType.OK and r.version is not None]
    ghosts: list[CacheRead] = []
    stale: list[float] = []
    stale_reads: list[CacheRead] = []
    for r in ok:
        version = r.version or 0
        if alive is not None and version > 0 and version not in alive:
            ghosts.append(r)
            continue
        age = writes.behind(r.key, r.invoked_ns, version)
        if age is not None:
            stale.append(age)
            stale_reads.append(r)
    sw = stale_window(stale_reads, after, fault_ns)
    after_write = 0
    settled = _settled(ops)
    for g in ghosts:
        # after the key's first post-recovery write has updated the cache: its ack is recorded
        # before the update, so a read between the two (~1 ms) is not after it
        first = writes.first_after(g.key, recovered_ns)
        done = None if first is None else settled.get(first)
        if done is not None and done <= g.invoked_ns:
            after_write += 1
    resolution = _key_interval(after)
    ghost_ids = {id(g) for g in ghosts}
    for key in {g.key for g in ghosts}:
        mine = [r for r in ok if r.key == key]
        last = max(i for i, r in enumerate(mine) if id(r) in ghost_ids)
        if last + 1 < len(mine):
            gap = (mine[last + 1].invoked_ns - mine[last].invoked_ns) / NS
            resolution = gap if resolution is None else max(resolution, gap)
    ghosts_end = stale_end = None
    at_least = None
    if audit is None:
        notes.append("no cache audit at the end of the run: the ghost window is unknown")
    else:
        at, cached, db = audit
        ghosts_end = sum(
            1
            for k, v in cached.items()
            if v > 0 and (v not in alive if alive is not None else v > db.get(k, 0))
        )
        stale_end = sum(1 for k, v in cached.items() if v < db.get(k, 0))
        if ghosts_end:
            at_least = round(max(0, at - recovered_ns) / NS, 6)
            notes.append(
                f"{ghosts_end} key(s) still cached a lost version at the end of the run: the "
                f"ghost window is at least {at_least:g}s, its end unknown"
            )
    if alive is None:
        notes.append("no final read: ghost reads unknown")
        window = None
    elif audit is None or ghosts_end:
        window = None
    elif not ghosts:
        window = 0.0
    else:
        last_ns = max(g.completed_ns or g.invoked_ns for g in ghosts)
        window = round((last_ns - recovered_ns) / NS, 6)
    return CacheCheck(
        strategy=setup.get("strategy"),
        ttl_seconds=setup.get("ttl_seconds"),
        keys=setup.get("keys"),
        recovered_ns=recovered_ns,
        reads_after=len(ok),
        unanswered_after=len(after) - len(ok),
        hits_after=sum(1 for r in ok if r.hit),
        ghost_reads=None if alive is None else len(ghosts),
        ghost_reads_after_write=None if alive is None else after_write,
        ghost_keys=None if alive is None else len({g.key for g in ghosts}),
        stale_reads=len(stale),
        stale_reads_before=stale_before,
        max_stale_seconds=round(max(stale), 6) if stale else (0.0 if ok else None),
        window_s=window,
        window_at_least_s=at_least,
        resolution_s=None if resolution is None else round(resolution, 6),
        ghosts_at_end=ghosts_end,
        stale_at_end=stale_end,
        notes=notes,
        stale_window_s=sw.seconds,
        stale_window_resolution_s=sw.resolution_s,
        stale_first_s=sw.first_s,
        stale_last_s=sw.last_s,
    )
