"""Achieved RPO: how far back in time the recovered data reaches, from the lost writes.

RPO = 0 when no acknowledged write was lost; otherwise the fault-effective time minus the
acknowledgement time of the earliest lost write (never negative). Lost writes acknowledged after
the fault took effect (a deposed primary that kept accepting writes) are counted separately.
"""

from __future__ import annotations

from dataclasses import dataclass

from drillkit.checkers.writes import LostWrites, WriteOutcomes

__all__ = ["Rpo", "rpo"]

NS = 1_000_000_000


@dataclass(frozen=True)
class Rpo:
    seconds: float
    lost_window_start_s: float | None  # ack time of the earliest lost write, relative to the fault
    lost_window_end_s: float | None  # ack time of the latest lost write, relative to the fault
    lost_after_fault: int


def rpo(outcomes: WriteOutcomes, lost: LostWrites, fault_ns: int) -> Rpo:
    if not lost.lost:
        return Rpo(0.0, None, None, 0)
    acks = [outcomes.completed_ns[i] for i in lost.lost]
    earliest, latest = min(acks), max(acks)
    return Rpo(
        seconds=max(0, fault_ns - earliest) / NS,
        lost_window_start_s=(earliest - fault_ns) / NS,
        lost_window_end_s=(latest - fault_ns) / NS,
        lost_after_fault=sum(1 for t in acks if t > fault_ns),
    )
