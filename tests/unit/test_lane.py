"""Lane: the deadline discipline; a patient lane keeps one connection attempt in flight."""

from __future__ import annotations

import asyncio
from typing import Any

from drillkit.history import OpType
from drillkit.workload.deadline import Lane, late_write


class FrozenServer:
    """connect() hangs until ``thaw`` is set (a paused server: TCP accepts, nothing answers)."""

    connecting = "connecting"

    def __init__(self) -> None:
        self.thaw = asyncio.Event()
        self.attempts = 0
        self.closed: list[int] = []

    async def connect(self) -> int:
        self.attempts += 1
        n = self.attempts
        await self.thaw.wait()
        return n

    async def close(self, conn: int) -> None:
        self.closed.append(conn)

    def usable(self, conn: int) -> bool:
        return True

    def keeps_connection(self, error: BaseException) -> bool:
        return False


async def _op(conn: int) -> int:
    return conn


def _classify(error: BaseException, sent: bool) -> OpType:
    return OpType.INFO


async def _scenario(patient: bool) -> tuple[FrozenServer, list[Any]]:
    server = FrozenServer()
    abandoned: set[asyncio.Task[Any]] = set()
    lane: Lane[int] = Lane(server, 0.02, abandoned, patient_connect=patient)
    outcomes = [await lane.run(_op, _classify, late_write) for _ in range(3)]
    server.thaw.set()
    outcomes.append(await lane.run(_op, _classify, late_write))
    await lane.close()
    for task in list(abandoned):
        task.cancel()
    return server, outcomes


def test_a_patient_lane_waits_on_its_one_attempt_instead_of_opening_more() -> None:
    server, outcomes = asyncio.run(_scenario(patient=True))

    assert [o.type for o in outcomes] == [OpType.FAIL] * 3 + [OpType.OK]
    assert server.attempts == 1  # one attempt queued at the frozen server, not three
    assert outcomes[-1].result == 1  # the operation after the thaw got that very connection


def test_an_impatient_lane_opens_a_fresh_connection_for_every_operation() -> None:
    server, outcomes = asyncio.run(_scenario(patient=False))

    assert [o.type for o in outcomes] == [OpType.FAIL] * 3 + [OpType.OK]
    assert server.attempts == 4


def test_patience_bounds_how_long_the_lane_waits_on_one_attempt() -> None:
    async def scenario() -> tuple[FrozenServer, list[Any]]:
        server = FrozenServer()
        abandoned: set[asyncio.Task[Any]] = set()
        # deadline 20 ms, patience 50 ms: ops 1-3 share attempt 1, op 4 (at ~60 ms) starts
        # attempt 2, which ops 4-6 share.
        lane: Lane[int] = Lane(server, 0.02, abandoned, patient_connect=True, patience=0.05)
        outcomes = [await lane.run(_op, _classify, late_write) for _ in range(6)]
        server.thaw.set()
        outcomes.append(await lane.run(_op, _classify, late_write))
        await asyncio.sleep(0.01)  # the replaced attempt connects now and is closed
        await lane.close()
        for task in list(abandoned):
            task.cancel()
        return server, outcomes

    server, outcomes = asyncio.run(scenario())
    # Ideally 2 (a loaded machine may stretch the deadlines into a third): never one per op.
    assert 2 <= server.attempts < 6
    assert outcomes[-1].type is OpType.OK and outcomes[-1].result == server.attempts
    assert 1 in server.closed  # the attempt the lane stopped waiting for is not leaked
