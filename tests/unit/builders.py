"""Literal drill histories in milliseconds of test time.

A :class:`Script` collects events in any order and replays them into a real
:class:`~drillkit.history.History` in time order, each appended with an explicit ``time_ns``,
recorded exactly as the drill records them (fault: invoke then ``ok`` with ``requested_ns`` and
``effective_ns``; final read: process ``final-read``, f ``read``, value ``encode_ids(ids)``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from drillkit.checkers import encode_ids
from drillkit.history import History, Op, OpType

MS = 1_000_000
NS = 1_000_000_000

OK, FAIL, INFO, INVOKE = OpType.OK, OpType.FAIL, OpType.INFO, OpType.INVOKE


def ms(t: float) -> int:
    """Milliseconds of test time as monotonic nanoseconds."""
    return round(t * MS)


@dataclass(order=True)
class _Event:
    time_ns: int
    seq: int
    process: str = field(compare=False)
    type: OpType = field(compare=False)
    f: str = field(compare=False)
    value: Any = field(compare=False, default=None)
    error: str | None = field(compare=False, default=None)
    extra: dict[str, Any] = field(compare=False, default_factory=dict)


class Script:
    """What happened in a drill, in test milliseconds; ``ops()`` returns it as a history."""

    def __init__(self) -> None:
        self._events: list[_Event] = []

    def add(
        self,
        at: float,
        process: str,
        type: OpType,
        f: str,
        value: Any = None,
        *,
        error: str | None = None,
        **extra: Any,
    ) -> Script:
        self._events.append(
            _Event(ms(at), len(self._events), process, type, f, value, error, extra)
        )
        return self

    def write(
        self,
        wid: int,
        invoked: float,
        done: float | None,
        outcome: OpType = OK,
        *,
        process: str = "writer-0",
    ) -> Script:
        """One write; ``done=None`` means it was invoked and never completed."""
        self.add(invoked, process, INVOKE, "write", wid)
        if done is not None:
            error = None if outcome is OK else f"write {wid} {outcome.value}"
            self.add(done, process, outcome, "write", wid, error=error)
        return self

    def writes(
        self,
        ids: Iterable[int],
        start: float,
        every: float = 100,
        outcome: OpType = OK,
        latency: float = 10,
    ) -> Script:
        """Evenly spaced writes: the k-th at ``start + k * every``, done ``latency`` later."""
        for k, wid in enumerate(ids):
            self.write(wid, start + k * every, start + k * every + latency, outcome)
        return self

    def fault(self, requested: float, effective: float, *, f: str = "kill") -> Script:
        """A fault requested at ``requested`` that the injector saw take effect at ``effective``."""
        self.add(requested, "fault", INVOKE, f, {"node": "pg-0", "target": "primary"})
        return self.add(
            effective,
            "fault",
            OK,
            f,
            {"node": "pg-0", "target": "primary"},
            requested_ns=ms(requested),
            effective_ns=ms(effective),
            evidence="container exited with status 137",
        )

    def final_read(self, ids: Iterable[int], at: float) -> Script:
        ids = list(ids)
        self.add(at, "final-read", INVOKE, "read")
        return self.add(at + 5, "final-read", OK, "read", encode_ids(ids), count=len(ids))

    def step(
        self, name: str, start: float, end: float, outcome: OpType = OK, value: Any = None
    ) -> Script:
        self.add(start, "runbook", INVOKE, name)
        error = None if outcome is OK else f"{name} failed"
        return self.add(end, "runbook", outcome, name, value, error=error)

    def history(self) -> History:
        history = History()
        for e in sorted(self._events):
            history.append(
                e.process, e.type, e.f, e.value, error=e.error, time_ns=e.time_ns, **e.extra
            )
        return history

    def ops(self) -> list[Op]:
        return self.history().ops()


SURVIVORS = [1, 2, 3, 4, 5, *range(7, 13)]


def failover() -> Script:
    """A failover drill without its final read (add one with ``.final_read(...)``).

    Writes 1-5 are acked at 10..410 ms; the primary is killed at 450 and seen dead at 500;
    write 6 (invoked 460) gets no answer; a replica is promoted (600-900); writes 7-12 are acked
    at 1010..1510, so with a 0.3 s stable window service is restored at 1010 (RTO 0.51 s).
    ``SURVIVORS`` is what a final read finds if nothing acknowledged was lost.
    """
    return (
        Script()
        .writes([1, 2, 3, 4, 5], start=0)
        .fault(requested=450, effective=500)
        .write(6, invoked=460, done=960, outcome=INFO)
        .step("promote", start=600, end=900, value={"promoted": "pg1"})
        .writes(range(7, 13), start=1000)
    )
