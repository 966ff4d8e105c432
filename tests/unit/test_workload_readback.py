"""The read-back probe: samples of pre-fault acknowledged ids, each read under its deadline.

A fake client stands in for the database (no Docker); the real loop, lanes and history run.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from drillkit.history import History, Op, OpType
from drillkit.spec import DrillFileError, WorkloadSpec, load_drill
from drillkit.workload.base import Workload as WorkloadProtocol
from drillkit.workload.deadline import DeadlineWriter
from drillkit.workload.pg_writer import classify_error
from drillkit.workload.readback import PROCESS, READ_BACK


class FakePgError(Exception):
    def __init__(self, sqlstate: str | None, message: str = "") -> None:
        super().__init__(message or f"sqlstate {sqlstate}")
        self.sqlstate = sqlstate


class FakeConn:
    closed = False


class FakeClient(DeadlineWriter[FakeConn]):
    """Writes go to ``rows`` unless ``refuse_writes``; reads are ``read_fn`` (default: lookup)."""

    def __init__(self, history: History, spec: WorkloadSpec, **kwargs: Any) -> None:
        super().__init__(history, spec, rng=random.Random(7), **kwargs)
        self.rows: set[int] = set()
        self.refuse_writes = False
        self.read_fn: Callable[[list[int]], Any] | None = None
        self.connect_error: BaseException | None = None

    async def connect(self) -> FakeConn:
        if self.connect_error is not None:
            raise self.connect_error
        return FakeConn()

    async def write(self, conn: FakeConn, wid: int, process: str) -> None:
        if self.refuse_writes:
            raise FakePgError("25006", "cannot execute INSERT in a read-only transaction")
        self.rows.add(wid)

    async def read(self, conn: FakeConn, ids: list[int]) -> list[int]:
        if self.read_fn is not None:
            result = self.read_fn(ids)
            return list(await result if asyncio.iscoroutine(result) else result)
        return [i for i in reversed(ids) if i in self.rows]  # any order: the probe sorts

    def classify(self, error: BaseException, *, sent: bool) -> OpType:
        return classify_error(error, sent=sent)

    def classify_read(self, error: BaseException) -> OpType:
        return classify_error(error, sent=True)

    async def close(self, conn: FakeConn) -> None:
        conn.closed = True


SPEC = WorkloadSpec(rate=1000, op_timeout_seconds=0.1, read_rate=100, read_sample=5)


def reads(history: History, *, running: bool = False) -> list[tuple[Op, Op]]:
    """(invoke, completion) pairs of the read-back probe, in order (``running``: one may be
    still in flight)."""
    ops = [op for op in history.ops() if op.process == PROCESS]
    if running and len(ops) % 2:
        ops.pop()
    assert all(op.f == READ_BACK for op in ops)
    invokes, completions = ops[0::2], ops[1::2]
    assert all(op.type is OpType.INVOKE for op in invokes)
    assert all(op.type is not OpType.INVOKE for op in completions)
    return list(zip(invokes, completions, strict=True))


def acked(history: History) -> set[int]:
    return {op.value for op in history.ops() if op.f == "write" and op.type is OpType.OK}


def wait_for(condition: Callable[[], bool], timeout: float = 3.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.01)


def test_the_workload_protocol_includes_start_reads() -> None:
    client = FakeClient(History(), SPEC)
    assert isinstance(client, WorkloadProtocol)


def test_reads_sample_only_ids_acknowledged_before_start_reads() -> None:
    history = History()
    client = FakeClient(history, SPEC)
    with client:
        wait_for(lambda: client.ok_count >= 30)
        client.refuse_writes = True  # some writes now fail: never acknowledged, never sampled
        time.sleep(0.05)
        before = acked(history)
        client.start_reads()
        time.sleep(0.05)
        client.refuse_writes = False  # acknowledged after start_reads: never sampled either
        wait_for(lambda: len(reads(history, running=True)) >= 20)
    pairs = reads(history)
    assert len(acked(history)) > len(before)
    assert any(op.type is OpType.FAIL for op in history.ops() if op.f == "write")
    sampled: set[int] = set()
    for invoke, done in pairs:
        assert invoke.value == sorted(set(invoke.value))
        assert len(invoke.value) == SPEC.read_sample
        assert all(isinstance(i, int) for i in invoke.value)
        sampled |= set(invoke.value)
        assert done.type is OpType.OK
        assert done.value == invoke.value  # all there, sorted
        assert done.extra == {"found": SPEC.read_sample}
    assert sampled <= before
    assert len(sampled) > SPEC.read_sample  # a fresh sample each time


def test_a_pool_smaller_than_the_sample_is_read_whole() -> None:
    history = History()
    client = FakeClient(history, SPEC.model_copy(update={"rate": 50, "read_sample": 1000}))
    with client:
        wait_for(lambda: client.ok_count >= 3)
        client.refuse_writes = True
        time.sleep(0.05)
        before = acked(history)
        client.start_reads()
        wait_for(lambda: len(reads(history, running=True)) >= 3)
    assert all(invoke.value == sorted(before) for invoke, _ in reads(history))


def test_missing_ids_are_an_ok_read_with_what_was_found() -> None:
    history = History()
    client = FakeClient(history, SPEC)
    with client:
        wait_for(lambda: client.ok_count >= 30)
        client.start_reads()
        wait_for(lambda: len(reads(history, running=True)) >= 3)
        client.rows.clear()  # the data-loss incident
        n = len(reads(history, running=True))
        wait_for(lambda: len(reads(history, running=True)) >= n + 3)
        client.rows.update(range(1, 1000))  # restored
        n = len(reads(history, running=True))
        wait_for(lambda: len(reads(history, running=True)) >= n + 3)
    outcomes = [(done.type, len(done.value), done.extra["found"]) for _, done in reads(history)]
    assert (OpType.OK, 0, 0) in outcomes
    assert outcomes[0] == outcomes[-1] == (OpType.OK, 5, 5)
    assert {t for t, _, _ in outcomes} == {OpType.OK}


def test_nothing_acknowledged_before_start_reads_records_nothing() -> None:
    history = History()
    client = FakeClient(history, SPEC)
    client.refuse_writes = True
    with client:
        wait_for(lambda: len(history.ops()) >= 10)
        client.start_reads()
        client.refuse_writes = False
        wait_for(lambda: client.ok_count >= 20)
        time.sleep(0.1)
    assert reads(history) == []


def test_read_rate_zero_disables_reads() -> None:
    history = History()
    client = FakeClient(history, SPEC.model_copy(update={"read_rate": 0}))
    with client:
        wait_for(lambda: client.ok_count >= 20)
        client.start_reads()
        time.sleep(0.1)
    assert reads(history) == []


def test_start_reads_before_the_loop_runs_is_picked_up() -> None:
    history = History()
    client = FakeClient(history, SPEC)
    client._acked.add(41)  # as if acknowledged earlier
    client.rows.add(41)
    client.start_reads()
    with client:
        wait_for(lambda: len(reads(history, running=True)) >= 2)
    assert reads(history)[0][1].value == [41]


def test_a_late_read_is_info_and_never_stalls_the_reader_or_the_writer() -> None:
    history = History()
    client = FakeClient(history, SPEC)

    async def hang(ids: list[int]) -> list[int]:
        await asyncio.sleep(30)
        return ids

    with client:
        wait_for(lambda: client.ok_count >= 30)
        client.read_fn = hang
        client.start_reads()
        started = time.monotonic()
        wait_for(lambda: len(reads(history, running=True)) >= 4)
        elapsed = time.monotonic() - started
        writes_before = client.ok_count
        time.sleep(0.1)
        assert client.ok_count > writes_before + 20  # the writer kept going meanwhile
    pairs = reads(history)
    assert elapsed < 4 * SPEC.op_timeout_seconds + 0.5
    for invoke, done in pairs:
        assert done.type is OpType.INFO
        assert done.error == "deadline of 0.1s passed while awaiting the server"
        assert done.value == invoke.value
        assert 0.09 < (done.time_ns - invoke.time_ns) / 1e9 < 1.0  # abandoned at ~0.1 s, not 30 s


def test_a_read_past_its_deadline_while_connecting_is_info() -> None:
    history = History()
    client = FakeClient(history, SPEC)

    with client:
        wait_for(lambda: client.ok_count >= 30)
        client.connect_error = OSError("connection refused")  # the writer keeps its connection
        client.start_reads()
        wait_for(lambda: len(reads(history, running=True)) >= 2)
    for _, done in reads(history):
        assert done.type is OpType.INFO
        assert done.error == "OSError: connection refused"


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (FakePgError("42P01", 'relation "drillkit_writes" does not exist'), OpType.FAIL),
        (FakePgError("57P01", "terminating connection due to administrator command"), OpType.INFO),
        (OSError("server closed the connection unexpectedly"), OpType.INFO),
    ],
)
def test_a_server_error_fails_a_read_and_a_broken_connection_is_unknown(
    error: BaseException, expected: OpType
) -> None:
    history = History()
    client = FakeClient(history, SPEC)

    def broken(ids: list[int]) -> list[int]:
        raise error

    with client:
        wait_for(lambda: client.ok_count >= 30)
        client.read_fn = broken
        client.start_reads()
        wait_for(lambda: len(reads(history, running=True)) >= 2)
    for invoke, done in reads(history):
        assert done.type is expected
        assert done.error == f"{type(error).__name__}: {error}"
        assert done.value == invoke.value


def drill_file(tmp_path: Path, workload: dict[str, Any]) -> Path:
    path = tmp_path / "drill.yaml"
    doc = {
        "name": "unit",
        "topology": {"kind": "postgres"},
        "faults": [{"kind": "kill"}],
        "targets": {"rpo_seconds": 1},
        "workload": workload,
    }
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    return path


def test_read_fields_default_and_validate(tmp_path: Path) -> None:
    spec = load_drill(drill_file(tmp_path, {}))
    assert (spec.workload.read_rate, spec.workload.read_sample) == (100, 20)
    for field, bad, problem in [
        ("read_rate", -1, "greater than or equal to 0"),
        ("read_rate", 1001, "less than or equal to 1000"),
        ("read_sample", 0, "greater than or equal to 1"),
        ("read_sample", 1001, "less than or equal to 1000"),
    ]:
        path = drill_file(tmp_path, {field: bad})
        with pytest.raises(DrillFileError) as info:
            load_drill(path)
        assert str(info.value) == f"{path}: workload.{field}: Input should be {problem}"
