"""The read-back probe: is data acknowledged before the fault phase being served?

A reader (``process`` ``reader-*``, ``f`` ``read-back``) reads a sample of ids the writer had
acknowledged before the fault phase began: the invocation's value is the sampled ids, an ``ok``
completion's value the ids found. Each read is judged against the ids that survived (are in
the final read):

- ``served``: it answered and found every sampled id that survived;
- ``missing``: it answered but some surviving sampled id was not there, or the server answered
  with an error (``fail``: e.g. the table is gone): the data was not served;
- ``unavailable``: it went unanswered (``info``: deadline, broken or refused connection), which
  says the service was down, as the writes already show, not that the data was gone.

Ids that are not in the final read are lost writes, which RPO and the lost-write count judge, so
their absence does not hold back recovery (a read whose sampled ids were all lost says nothing and
is left out). Without a final read every sampled id must be found.
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
    kind: str  # served | missing | unavailable
    missing: int  # surviving sampled ids not found (0 for fail/info reads)

    @property
    def served(self) -> bool:
        return self.kind == "served"


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
            kind = "served" if missing == 0 else "missing"
            reads.append(Read(inv.time_ns, op.time_ns, kind, missing))
        else:
            kind = "missing" if op.type is OpType.FAIL else "unavailable"
            reads.append(Read(inv.time_ns, op.time_ns, kind, 0))
    reads += [
        Read(inv.time_ns, None, "unavailable", 0)
        for inv in pending.values()
        if alive is None or _ids(inv.value) & alive
    ]
    reads.sort(key=lambda r: r.invoked_ns)
    return reads
