"""Redis readers: one round trip per read (a read-only script and ROLE), parsed into what the
read saw; sources are the replicas when the workload starts and the Sentinels' master. A fake
connection stands in for the node (no Docker)."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest
from redis.exceptions import ResponseError

from drillkit.endpoints import RedisEndpoints
from drillkit.history import History, OpType
from drillkit.spec import WorkloadSpec
from drillkit.workload.latest import Seen
from drillkit.workload.redis_writer import LATEST_SCRIPT, RedisWriter


class FakeConn:
    """Answers each packed command in order: the script's reply, then ROLE's."""

    def __init__(self, *replies: Any) -> None:
        self.replies = list(replies)
        self.sent: list[Any] = []

    def pack_commands(self, commands: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
        return commands

    async def send_packed_command(self, packed: list[tuple[Any, ...]]) -> None:
        self.sent += packed

    async def read_response(self) -> Any:
        reply = self.replies.pop(0)
        if isinstance(reply, Exception):
            raise reply
        return reply


def _endpoints(replicas: list[str]) -> RedisEndpoints:
    return RedisEndpoints(
        sentinels=[("127.0.0.1", 1)],
        master_name="m",
        password="secret",
        publish=lambda ip, port: (ip, port),
        node=lambda name: ("127.0.0.1", 100 + int(name[1:])),
        master=lambda: "r0",
        replicas=lambda: replicas,
    )


def _writer(replicas: list[str], **workload: Any) -> RedisWriter:
    spec = WorkloadSpec(**{"readers": 1, "read_from": ["replicas", "client"], **workload})
    return RedisWriter(_endpoints(replicas), History(), spec, key="drillkit:ids")


def test_a_read_is_one_script_and_role_in_one_round_trip() -> None:
    conn = FakeConn([1500, 1490, 1200], [b"slave", "10.0.0.2", 6379, "connected", 99])
    seen = asyncio.run(_writer([]).read_latest(conn, 1200))  # type: ignore[arg-type]

    assert seen == Seen(1500, True, 1490, 1200)
    assert conn.sent == [("EVAL_RO", LATEST_SCRIPT, 1, "drillkit:ids", 1200), ("ROLE",)]


def test_a_master_answers_not_in_recovery_and_an_empty_set_is_zero() -> None:
    conn = FakeConn([0, 0, 0], [b"master", 0, []])
    seen = asyncio.run(_writer([]).read_latest(conn, 0))  # type: ignore[arg-type]

    assert seen == Seen(0, False, 0, 0)


def test_an_error_reply_still_reads_roles_reply_so_the_connection_stays_in_step() -> None:
    conn = FakeConn(ResponseError("NOSCRIPT"), [b"master", 0, []])
    with pytest.raises(ResponseError):
        asyncio.run(_writer([]).read_latest(conn, 0))  # type: ignore[arg-type]

    assert conn.replies == []


def test_a_malformed_reply_is_an_error_not_a_read() -> None:
    conn = FakeConn([1, 2], [b"master", 0, []])
    with pytest.raises(RuntimeError, match="the reader's script answered"):
        asyncio.run(_writer([]).read_latest(conn, 0))  # type: ignore[arg-type]


def test_the_script_reports_the_highest_id_the_count_and_those_up_to_the_readers_highest() -> None:
    # The Lua is run by Redis; here its contract: SMEMBERS of the key, three integers back.
    assert "redis.call('SMEMBERS', KEYS[1])" in LATEST_SCRIPT
    assert "return {top, rows, present}" in LATEST_SCRIPT
    assert "id <= upto" in LATEST_SCRIPT


def test_readers_read_each_replica_and_the_sentinels_master() -> None:
    writer = _writer(["r1", "r2"], readers=2)
    writer._stop = threading.Event()

    readers = asyncio.run(writer.latest_readers())

    assert [(r.process, r.source, r.via) for r in readers] == [
        ("reader-r1-0", "r1", "replica"),
        ("reader-r1-1", "r1", "replica"),
        ("reader-r2-0", "r2", "replica"),
        ("reader-r2-1", "r2", "replica"),
        ("reader-client-0", "client", "client"),
        ("reader-client-1", "client", "client"),
    ]


def test_no_readers_unless_asked() -> None:
    writer = _writer(["r1"], readers=0)

    assert asyncio.run(writer.latest_readers()) == []


def test_replicas_that_cannot_be_listed_are_recorded_and_the_client_still_read() -> None:
    def broken() -> list[str]:
        raise OSError("no sentinel")

    endpoints = _endpoints([])
    endpoints = RedisEndpoints(**{**endpoints.__dict__, "replicas": broken})
    spec = WorkloadSpec(readers=1, read_from=["replicas", "client"])
    writer = RedisWriter(endpoints, History(), spec)

    readers = asyncio.run(writer.latest_readers())

    assert [r.source for r in readers] == ["client"]
    (op,) = [op for op in writer._history.ops() if op.f == "find-replicas"]
    assert op.type is OpType.INFO and "no sentinel" in (op.error or "")
