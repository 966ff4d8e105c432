"""What happened to every write: acknowledged, failed, unknown, and which of them survived.

Only ``ok`` writes count toward lost writes: an ``info`` write is neither proven durable nor proven
lost, so it is reported separately as survived or vanished.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from drillkit.history import Op, OpType

__all__ = ["LostWrites", "WriteOutcomes", "lost_writes", "write_outcomes"]


@dataclass(frozen=True)
class WriteOutcomes:
    """Per-id outcome of every ``write`` in a history."""

    invoked_ns: dict[int, int] = field(default_factory=dict)
    completed_ns: dict[int, int] = field(default_factory=dict)
    outcome: dict[int, OpType] = field(default_factory=dict)

    def ids(self, kind: OpType) -> set[int]:
        return {i for i, t in self.outcome.items() if t is kind}

    @property
    def acknowledged(self) -> set[int]:
        return self.ids(OpType.OK)


def write_outcomes(ops: Iterable[Op]) -> WriteOutcomes:
    """Pair invocations with completions; an invocation never completed counts as ``info``."""
    invoked: dict[int, int] = {}
    completed: dict[int, int] = {}
    outcome: dict[int, OpType] = {}
    for op in ops:
        if op.f != "write" or not isinstance(op.value, int):
            continue
        if op.type is OpType.INVOKE:
            invoked[op.value] = op.time_ns
            outcome.setdefault(op.value, OpType.INFO)
        else:
            completed[op.value] = op.time_ns
            outcome[op.value] = op.type
    return WriteOutcomes(invoked, completed, outcome)


@dataclass(frozen=True)
class LostWrites:
    acknowledged: int
    lost: list[int]
    indeterminate: int
    indeterminate_survived: int
    indeterminate_vanished: int
    failed_but_present: list[int]
    never_written: list[int]

    @property
    def count(self) -> int:
        return len(self.lost)


def lost_writes(outcomes: WriteOutcomes, final_ids: Iterable[int]) -> LostWrites:
    """Compare the history with the ids that survived recovery."""
    present = set(final_ids)
    acked = outcomes.acknowledged
    info = outcomes.ids(OpType.INFO)
    failed = outcomes.ids(OpType.FAIL)
    return LostWrites(
        acknowledged=len(acked),
        lost=sorted(acked - present),
        indeterminate=len(info),
        indeterminate_survived=len(info & present),
        indeterminate_vanished=len(info - present),
        failed_but_present=sorted(failed & present),
        never_written=sorted(present - set(outcomes.outcome)),
    )
