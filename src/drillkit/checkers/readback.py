"""The read-back probe: is data acknowledged before the fault phase being served?

A reader (``process`` ``reader-*``, ``f`` ``read-back``) reads a sample of ids the writer had
acknowledged before the fault phase began: the invocation's value is the sampled ids, an ``ok``
completion's value the ids found. A read *served* the data when every sampled id that survived
(is in the final read) was found; ids that are not in the final read are lost writes, which RPO
and the lost-write count judge, so their absence does not hold back recovery. A ``fail`` or
``info`` read did not serve the data. Without a final read every sampled id must be found.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from drillkit.history import Op, OpType

__all__ = ["READ_BACK", "Read", "read_backs"]

READ_BACK = "read-back"


@dataclass(frozen=True)
class Read:
    invoked_ns: int
    completed_ns: int | None  # None: never completed (unknown)
    served: bool
    missing: int  # surviving sampled ids not found (0 for fail/info reads)


def _ids(value: object) -> set[int]:
    if not isinstance(value, list):
        return set()
    return {int(v) for v in value if isinstance(v, int) and not isinstance(v, bool)}


def read_backs(ops: Iterable[Op], survivors: Iterable[int] | None) -> list[Read]:
    """Every read-back in invocation order, judged against the surviving ids."""
    alive = None if survivors is None else set(survivors)
    pending: dict[str, Op] = {}
    reads: list[Read] = []
    for op in ops:
        if op.f != READ_BACK or not op.process.startswith("reader"):
            continue
        if op.type is OpType.INVOKE:
            pending[op.process] = op
            continue
        inv = pending.pop(op.process, None)
        if inv is None:
            continue
        sampled = _ids(inv.value)
        wanted = sampled if alive is None else sampled & alive
        if not wanted:
            continue  # every sampled id was lost for good: this read says nothing of recovery
        if op.type is OpType.OK:
            missing = len(wanted - _ids(op.value))
            reads.append(Read(inv.time_ns, op.time_ns, missing == 0, missing))
        else:
            reads.append(Read(inv.time_ns, op.time_ns, False, 0))
    reads += [
        Read(inv.time_ns, None, False, 0)
        for inv in pending.values()
        if alive is None or _ids(inv.value) & alive
    ]
    reads.sort(key=lambda r: r.invoked_ns)
    return reads
