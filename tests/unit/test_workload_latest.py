"""Readers of the newest visible write: each read under its deadline, recorded with what it saw.

A fake client stands in for the database (no Docker); the real loop, lanes and history run.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from test_workload_readback import FakeClient, FakeConn, FakePgError

from drillkit.checkers.staleness import latest_reads
from drillkit.history import History, OpType
from drillkit.spec import WorkloadSpec
from drillkit.workload.latest import LatestReader, Seen, reader_process

SPEC = WorkloadSpec(rate=500, op_timeout_seconds=0.1, read_rate=0, readers=1, reader_rate=100)


class _Conns:
    connecting = "connecting"

    async def connect(self) -> FakeConn:
        return FakeConn()

    async def close(self, conn: FakeConn) -> None:
        conn.closed = True

    def usable(self, conn: FakeConn) -> bool:
        return not conn.closed

    def keeps_connection(self, error: BaseException) -> bool:
        return False


class Readers(FakeClient):
    """Three sources: ``good`` sees every row, ``frozen`` never answers, ``broken`` errors."""

    async def latest_readers(self) -> list[LatestReader[Any]]:
        async def good(conn: FakeConn, upto: int) -> Seen:
            present = sum(1 for i in self.rows if i <= upto)
            return Seen(max(self.rows, default=0), True, len(self.rows), present)

        async def frozen(conn: FakeConn, upto: int) -> Seen:
            await asyncio.sleep(10)
            return Seen(0)

        async def broken(conn: FakeConn, upto: int) -> Seen:
            raise FakePgError("42P01", 'relation "drillkit_writes" does not exist')

        return [
            LatestReader(
                self._history,
                self.lane(_Conns()),
                process=reader_process(name, 0),
                source=name,
                read=read,
                classify=self.classify_read,
                rate=self._spec.reader_rate,
                stop=self._stop,
            )
            for name, read in (("good", good), ("frozen", frozen), ("broken", broken))
        ]


def test_readers_record_what_they_saw_under_the_deadline() -> None:
    history = History()
    client = Readers(history, SPEC)
    client.start()
    time.sleep(0.6)
    client.stop()

    reads = latest_reads(history.ops())
    by = {s: [r for r in reads if r.source == s] for s in ("good", "frozen", "broken")}
    good = [r for r in by["good"] if r.type is OpType.OK]
    assert len(good) >= 20  # ~100/s for 0.6 s
    highs = [r.highest or 0 for r in good]
    assert highs == sorted(highs) and highs[-1] > 0  # it saw the writes, never going back
    assert all(r.type is OpType.INFO for r in by["frozen"])  # abandoned at 0.1 s each
    assert 3 <= len(by["frozen"]) <= 7
    assert by["broken"] and all(r.type is OpType.FAIL for r in by["broken"])
    first = next(op for op in history.ops() if op.f == "read-latest" and op.type is OpType.OK)
    assert first.process == "reader-good-0"
    assert first.extra["source"] == "good" and first.extra["in_recovery"] is True
    assert first.extra["upto"] == 0 and first.extra["present"] == 0
    later = [op for op in history.ops() if op.process == "reader-good-0" and op.type is OpType.OK]
    assert later[-1].extra["upto"] == later[-2].value  # the highest seen before it
    assert later[-1].extra["present"] == later[-1].extra["upto"]  # every row up to it is there


def test_no_readers_unless_asked() -> None:
    history = History()
    client = FakeClient(history, SPEC)
    client.start()
    time.sleep(0.2)
    client.stop()

    assert not [op for op in history.ops() if op.f == "read-latest"]


def test_pg_readers_per_source_as_read_from_says() -> None:
    from drillkit.endpoints import PgEndpoints
    from drillkit.workload.pg_writer import PgWriter

    endpoints = PgEndpoints(
        client=lambda: "host=a",
        running_client=lambda: "host=a",
        node=lambda name: f"host={name}",
        replicas=lambda: ["pg1", "pg2"],
    )
    spec = SPEC.model_copy(update={"readers": 2, "read_from": ["replicas", "client"]})
    writer = PgWriter(endpoints.client, History(), spec, endpoints=endpoints)

    readers = asyncio.run(writer.latest_readers())
    assert [(r.process, r.source, r.via) for r in readers] == [
        ("reader-pg1-0", "pg1", "replica"),
        ("reader-pg1-1", "pg1", "replica"),
        ("reader-pg2-0", "pg2", "replica"),
        ("reader-pg2-1", "pg2", "replica"),
        ("reader-client-0", "client", "client"),
        ("reader-client-1", "client", "client"),
    ]
    assert asyncio.run(PgWriter(endpoints.client, History(), SPEC).latest_readers()) == []


def test_replicas_that_cannot_be_found_are_recorded_not_fatal() -> None:
    from drillkit.endpoints import PgEndpoints
    from drillkit.workload.pg_writer import PgWriter

    def boom() -> list[str]:
        raise OSError("engine gone")

    endpoints = PgEndpoints(
        client=lambda: "host=a",
        running_client=lambda: "host=a",
        node=lambda name: f"host={name}",
        replicas=boom,
    )
    history = History()
    spec = SPEC.model_copy(update={"read_from": ["replicas", "client"]})
    readers = asyncio.run(
        PgWriter(endpoints.client, history, spec, endpoints=endpoints).latest_readers()
    )

    assert [r.source for r in readers] == ["client"]
    [op] = history.ops()
    assert (op.f, op.type, op.error) == ("find-replicas", OpType.INFO, "OSError('engine gone')")
