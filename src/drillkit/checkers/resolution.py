"""How finely the history can place RPO and RTO.

The probe only learns the state of the service when an operation completes, so a recovery, or the
boundary between the last surviving and the first lost write, is known only to within the time
between two operations plus the time one takes:

- ``write_interval_s``: the median gap between consecutive write invocations (all writers);
- ``write_latency_s``: the median time from invocation to acknowledgement of ``ok`` writes;
- ``read_interval_s``: the same gap for read-backs, when they ran;
- RPO resolution = write interval + write latency (exact, 0, when nothing was lost);
- RTO resolution = the larger of the write and (when read-backs decide RTO) read resolutions.

Timestamps themselves are monotonic nanoseconds, far finer than any of these.
"""

from __future__ import annotations

import itertools
import statistics
from dataclasses import dataclass

from drillkit.checkers.readback import Read
from drillkit.checkers.writes import WriteOutcomes
from drillkit.history import OpType

__all__ = ["Resolution", "resolution"]

NS = 1_000_000_000


@dataclass(frozen=True)
class Resolution:
    write_interval_s: float | None
    write_latency_s: float | None
    read_interval_s: float | None
    rpo_s: float | None
    rto_s: float | None


def _median_gap(times: list[int]) -> float | None:
    times = sorted(times)
    gaps = [b - a for a, b in itertools.pairwise(times)]
    return statistics.median(gaps) / NS if gaps else None


def resolution(outcomes: WriteOutcomes, reads: list[Read], *, data_probe: bool) -> Resolution:
    interval = _median_gap(list(outcomes.invoked_ns.values()))
    latencies = [
        outcomes.completed_ns[i] - outcomes.invoked_ns[i]
        for i, t in outcomes.outcome.items()
        if t is OpType.OK and i in outcomes.completed_ns and i in outcomes.invoked_ns
    ]
    latency = statistics.median(latencies) / NS if latencies else None
    writes = None if interval is None else interval + (latency or 0.0)
    read_interval = _median_gap([r.invoked_ns for r in reads])
    read_latencies = [r.completed_ns - r.invoked_ns for r in reads if r.completed_ns is not None]
    reads_res = (
        None
        if read_interval is None
        else read_interval + (statistics.median(read_latencies) / NS if read_latencies else 0.0)
    )
    rto_res = writes
    if data_probe and reads_res is not None:
        rto_res = reads_res if writes is None else max(writes, reads_res)
    return Resolution(
        write_interval_s=None if interval is None else round(interval, 6),
        write_latency_s=None if latency is None else round(latency, 6),
        read_interval_s=None if read_interval is None else round(read_interval, 6),
        rpo_s=None if writes is None else round(writes, 6),
        rto_s=None if rto_res is None else round(rto_res, 6),
    )
