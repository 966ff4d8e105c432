"""The workload owns its data: the client is chosen by what the topology provides, reaches the
database only through the endpoints the topology hands out, and judges its part of the gate."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

import drillkit.workload.pg_writer as pg_writer
from drillkit.endpoints import PgEndpoints, RedisEndpoints
from drillkit.history import History, OpType
from drillkit.registry import Capability
from drillkit.spec import SteadyState
from drillkit.spec.postgres import PatroniTopology, PostgresTopology
from drillkit.spec.redis import RedisTopology
from drillkit.steady_state import await_steady_state
from drillkit.topology.base import Health
from drillkit.workload.base import Client, writes_problem
from drillkit.workload.clients import client_for, client_for_topology
from drillkit.workload.pg_writer import PgClient
from drillkit.workload.redis_writer import RedisClient


def _pg() -> PgEndpoints:
    return PgEndpoints(client=lambda: "host=a", running_client=lambda: "host=b", node=str)


def _redis(master: str | None = "redis0") -> RedisEndpoints:
    return RedisEndpoints(
        sentinels=[("127.0.0.1", 1)],
        master_name="m",
        password="secret",
        publish=lambda ip, port: (ip, port),
        node=lambda name: ("127.0.0.1", 2),
        master=lambda: master,
    )


def test_the_client_follows_the_capabilities_not_the_kind_name() -> None:
    assert isinstance(client_for({Capability.SQL, Capability.PATRONI}, _pg()), PgClient)
    assert isinstance(client_for({Capability.REDIS, Capability.SENTINEL}, _redis()), RedisClient)
    with pytest.raises(ValueError, match="no workload client for a topology that provides etcd"):
        client_for({Capability.ETCD}, _pg())
    with pytest.raises(TypeError, match="hands out PgEndpoints, not RedisEndpoints"):
        client_for({Capability.SQL}, _redis())


def test_every_topology_kind_gets_its_client() -> None:
    assert isinstance(client_for_topology(PostgresTopology(), _pg()), PgClient)
    assert isinstance(client_for_topology(PatroniTopology(kind="patroni"), _pg()), PgClient)
    assert isinstance(client_for_topology(RedisTopology(kind="redis"), _redis()), RedisClient)
    assert isinstance(PgClient(_pg()), Client) and isinstance(RedisClient(_redis()), Client)


def test_pg_final_read_uses_the_running_write_path_and_a_dropped_table_holds_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    asked: list[str] = []

    def read_ids(conninfo: str, table: str) -> list[int]:
        asked.append(conninfo)
        raise psycopg.errors.UndefinedTable("relation does not exist")

    monkeypatch.setattr(pg_writer, "read_ids", read_ids)
    assert PgClient(_pg()).read_ids() == []
    assert asked == ["host=b"]


def test_redis_final_read_needs_a_single_master() -> None:
    with pytest.raises(RuntimeError, match="neither the Sentinels nor the nodes name"):
        RedisClient(_redis(master=None)).read_ids()


class _Writes:
    error = None

    def __init__(self, ok: int) -> None:
        self.ok_count = ok

    def start(self) -> None: ...

    def start_reads(self) -> None: ...

    def stop(self) -> None: ...


class _System:
    def __init__(self, health: Health) -> None:
        self._health = health

    def health(self, spec: SteadyState) -> Health:
        return self._health


def _gate(health: Health, ok: int) -> tuple[bool, Any]:
    history = History()
    system: Any = _System(health)
    result = await_steady_state(
        system,
        PgClient(_pg()),
        _Writes(ok),
        SteadyState(min_ok_writes=5, timeout_seconds=0.01),
        history,
        sleep=lambda _s: None,
    )
    return result.healthy, history.ops()[-1]


def test_the_gate_asks_the_topology_first_then_the_workload_and_records_the_roles() -> None:
    healthy, op = _gate(Health(None, {"primary": "pg0", "timeline": 2}), ok=5)
    assert healthy and op.type is OpType.OK
    assert op.value == {"ok_writes": 5, "roles": {"primary": "pg0", "timeline": 2}}
    healthy, op = _gate(Health("1 of 2 replica(s) streaming", {"primary": "pg0"}), ok=0)
    assert not healthy and op.error.endswith(": 1 of 2 replica(s) streaming")
    healthy, op = _gate(Health(None, {"primary": "pg0"}), ok=4)
    assert not healthy and op.error.endswith(": 4 of 5 writes acknowledged")
    assert writes_problem(_Writes(5), SteadyState(min_ok_writes=5)) is None
