"""The cache workload's pieces without a server: keys, strategies, cache-aside reads."""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from typing import Any

from drillkit.endpoints import CacheEndpoint
from drillkit.history import History, OpType
from drillkit.spec.model import CacheWorkload
from drillkit.topology.pg_cache import cache_conf
from drillkit.workload.cache import CacheReader, CacheStore, _Pair, cache_key, key_of
from drillkit.workload.deadline import Outcome


class FakeRedis:
    def __init__(self) -> None:
        self.data: dict[str, str] = {}
        self.ttls: dict[str, int | None] = {}

    async def get(self, name: str) -> bytes | None:
        value = self.data.get(name)
        return None if value is None else value.encode()

    async def set(self, name: str, value: object, px: int | None = None) -> None:
        self.data[name] = str(value)
        self.ttls[name] = px

    async def delete(self, name: str) -> None:
        self.data.pop(name, None)


class FakeCursor:
    def __init__(self, row: tuple[int] | None) -> None:
        self.row = row

    async def fetchone(self) -> tuple[int] | None:
        return self.row


class FakeDb:
    def __init__(self, items: dict[int, int]) -> None:
        self.items = items
        self.reads = 0
        self.closed = False

    async def execute(self, query: Any, params: tuple[int]) -> FakeCursor:
        self.reads += 1
        version = self.items.get(params[0])
        return FakeCursor(None if version is None else (version,))


def store(strategy: str, ttl: float | None = 5.0) -> CacheStore:
    spec = CacheWorkload(strategy=strategy, ttl_seconds=ttl, keys=10)  # type: ignore[arg-type]
    return CacheStore(CacheEndpoint(lambda: ("127.0.0.1", 1), "pw"), spec, 0.5)


class FakeLane:
    def __init__(self, pair: _Pair) -> None:
        self.pair = pair

    async def run(self, operation: Any, classify: Any, late: Any) -> Outcome[Any]:
        return Outcome(OpType.OK, await operation(self.pair))


def reader(
    s: CacheStore, lane: Any = None, history: History | None = None, first_key: int = 0
) -> CacheReader:
    return CacheReader(
        history if history is not None else History(),
        lane,
        s,
        process="cache-reader-0",
        classify=lambda e: OpType.INFO,
        stop=threading.Event(),
        first_key=first_key,
    )


def pair(cache: FakeRedis, db: FakeDb) -> _Pair:
    return _Pair(cache, db, "conninfo")  # type: ignore[arg-type]


def test_keys_spread_evenly_and_deterministically() -> None:
    counts = Counter(key_of(wid, 100) for wid in range(1, 100_001))

    assert set(counts) == set(range(100))
    assert max(counts.values()) - min(counts.values()) < 0.1 * 1000
    assert key_of(12345, 100) == key_of(12345, 100)


def test_a_miss_reads_the_database_and_fills_the_cache_with_the_ttl() -> None:
    cache, db = FakeRedis(), FakeDb({3: 42})
    r = reader(store("ttl", ttl=2.5))

    first = asyncio.run(r.read(pair(cache, db), 3))
    second = asyncio.run(r.read(pair(cache, db), 3))

    assert first == (42, False)
    assert second == (42, True)
    assert db.reads == 1
    assert cache.ttls["item:3"] == 2500


def test_a_key_without_a_row_reads_as_version_0() -> None:
    cache, db = FakeRedis(), FakeDb({})

    assert asyncio.run(reader(store("ttl")).read(pair(cache, db), 7)) == (0, False)


def test_versioned_reads_the_version_first_so_a_stale_entry_is_never_served() -> None:
    cache, db = FakeRedis(), FakeDb({3: 42})
    cache.data[cache_key(3)] = "19"  # what a plain strategy would serve
    cache.data[cache_key(3, 19)] = "19"  # a lost version's entry
    r = reader(store("versioned"))

    assert asyncio.run(r.read(pair(cache, db), 3)) == (42, False)
    assert asyncio.run(r.read(pair(cache, db), 3)) == (42, True)
    assert db.reads == 2  # the price: one database read per read


def test_each_strategy_s_effect_of_a_write() -> None:
    effects = {}
    for strategy in ("ttl", "delete-on-write", "write-through", "versioned"):
        cache = FakeRedis()
        cache.data["item:3"] = "19"
        asyncio.run(store(strategy).after_write(cache, 42, 3))  # type: ignore[arg-type]
        effects[strategy] = cache.data.get("item:3")

    assert effects == {
        "ttl": "19",
        "delete-on-write": None,
        "write-through": "42",
        "versioned": "19",
    }


def test_the_cache_node_has_no_persistence_and_a_password() -> None:
    conf = cache_conf('p"w')

    assert 'save ""' in conf
    assert "appendonly no" in conf
    assert 'requirepass "p\\"w"' in conf


def test_a_reader_sweeps_the_keys_from_its_offset_and_records_each_read() -> None:
    cache, db = FakeRedis(), FakeDb({8: 80, 9: 90, 0: 5})
    history = History()
    r = reader(store("ttl"), FakeLane(pair(cache, db)), history, first_key=8)

    for _ in range(4):
        asyncio.run(r.read_once())

    done = [op for op in history.ops() if op.type is OpType.OK]
    assert [(op.extra["key"], op.value, op.extra["hit"]) for op in done] == [
        (8, 80, False),
        (9, 90, False),
        (0, 5, False),  # 10 keys: wraps around
        (1, 0, False),
    ]
