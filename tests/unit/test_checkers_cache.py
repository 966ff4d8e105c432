"""Cache drills: ghost reads, stale reads and the ghost window, on literal histories."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest
from builders import INVOKE, OK, Script, ms
from test_spec import drill, error, write

from drillkit.checkers import Verdict, analyze
from drillkit.checkers.cache import cache_check, cache_reads
from drillkit.checkers.writes import write_outcomes
from drillkit.faults.redis_data import FlushCache
from drillkit.spec import Targets, load_drill


def kwrite(s: Script, wid: int, at: float, key: int, latency: float = 10) -> Script:
    s.add(at, "writer-0", INVOKE, "write", wid, key=key)
    return s.add(at + latency, "writer-0", OK, "write", wid)


def cread(s: Script, at: float, key: int, version: int, *, hit: bool = True, k: int = 0) -> Script:
    process = f"cache-reader-{k}"
    s.add(at, process, INVOKE, "cache-read", key=key)
    return s.add(at + 1, process, OK, "cache-read", version, key=key, hit=hit)


def audit(s: Script, at: float, cached: dict[int, int], db: dict[int, int]) -> Script:
    s.add(at, "cache", INVOKE, "cache-audit")
    value = {
        "cached": {str(k): v for k, v in cached.items()},
        "db": {str(k): v for k, v in db.items()},
    }
    return s.add(at + 5, "cache", OK, "cache-audit", value)


def restore(strategy: str = "ttl") -> Script:
    """Two keys (id % 2). Writes 1..20 every 100 ms; the table is dropped at 2000 and restored
    to 1500: writes 16..20 (acked 1510..1910) are lost. Writes 21..40 run again from 5000
    (acked 5010..6910, stable window 0.3 s: service restored at 5010, the ack of write 21)."""
    s = Script()
    s.add(0, "cache", OK, "cache-setup", {"strategy": strategy, "ttl_seconds": 5, "keys": 2})
    for wid in range(1, 21):
        kwrite(s, wid, (wid - 1) * 100, wid % 2)
    s.fault(requested=1995, effective=2000, f="drop-table")
    for wid in range(21, 41):
        kwrite(s, wid, 5000 + (wid - 21) * 100, wid % 2)
    return s


SURVIVING = [*range(1, 16), *range(21, 41)]


def test_reads_parse_with_key_version_and_hit() -> None:
    s = Script()
    cread(s, 10, key=3, version=7, hit=False)
    s.add(20, "cache-reader-1", INVOKE, "cache-read", key=4)

    reads = cache_reads(s.ops())

    assert [(r.key, r.version, r.hit, r.type) for r in reads] == [
        (3, 7, False, OK),
        (4, None, None, reads[1].type),
    ]
    assert reads[1].completed_ns is None


def test_ghost_reads_after_recovery_and_the_window_to_the_last() -> None:
    s = restore()
    cread(s, 1950, key=1, version=19)  # before recovery: not judged as a ghost
    cread(s, 5100, key=1, version=19)  # ghost (19 lost); write 21 of key 1 acked at 5010
    cread(s, 5600, key=0, version=20)  # ghost: the last one, completed at 5601
    cread(s, 6000, key=0, version=26, hit=False)  # a fill from the restored database
    cread(s, 6100, key=1, version=31)
    s.final_read(SURVIVING, at=7500)
    audit(s, 7200, cached={0: 26, 1: 31}, db={0: 40, 1: 39})
    ops = s.ops()

    result = cache_check(
        ops, write_outcomes(ops), SURVIVING, fault_ns=ms(2000), recovered_ns=ms(5010)
    )

    assert result is not None
    assert result.ghost_reads == 2
    assert result.ghost_keys == 2
    assert result.ghost_reads_after_write == 2  # keys 1 and 0 were written at 5010 and 5110
    assert result.window_s == pytest.approx(0.591)
    assert result.ghosts_at_end == 0
    assert result.stale_at_end == 2  # a TTL cache: older, not lost
    assert result.reads_after == 4
    assert result.strategy == "ttl"


def test_a_ghost_read_before_the_writes_cache_update_is_not_after_the_write() -> None:
    """The ack of write 21 (key 1) is recorded at 5010, its cache update follows, and the
    writer invokes write 22 at 5100: only then is the update known to be done. A ghost read
    invoked at 5011 (seen with Valkey as the cache, 0.2 ms after the ack) is not after the
    write; one at 5100 is."""
    s = restore("write-through")
    cread(s, 5011, key=1, version=19)
    cread(s, 5100, key=1, version=19, k=1)
    s.final_read(SURVIVING, at=7500)
    ops = s.ops()

    result = cache_check(
        ops, write_outcomes(ops), SURVIVING, fault_ns=ms(2000), recovered_ns=ms(5010)
    )

    assert result is not None
    assert result.ghost_reads == 2
    assert result.ghost_reads_after_write == 1


def test_a_stale_read_is_older_than_a_surviving_write_acknowledged_before_it() -> None:
    s = restore()
    cread(s, 5400, key=1, version=21)  # 23 acked at 5210, 25 at 5410 (after the invoke)
    cread(s, 5450, key=0, version=22)  # 24 acked at 5310: stale by 0.14 s
    cread(s, 5460, key=0, version=24)  # fresh
    s.final_read(SURVIVING, at=7500)
    audit(s, 7200, cached={}, db={0: 40, 1: 39})
    ops = s.ops()

    result = cache_check(
        ops, write_outcomes(ops), SURVIVING, fault_ns=ms(2000), recovered_ns=ms(5010)
    )

    assert result is not None
    assert result.stale_reads == 2
    assert result.max_stale_seconds == pytest.approx(0.19)  # 5400 - 5210
    assert result.ghost_reads == 0
    assert result.window_s == 0.0


def test_stale_reads_before_the_incident_are_counted_apart() -> None:
    s = restore()
    cread(s, 520, key=1, version=1)  # 3 and 5 acked at 210 and 410
    s.final_read(SURVIVING, at=7500)
    audit(s, 7200, cached={}, db={})
    ops = s.ops()

    result = cache_check(
        ops, write_outcomes(ops), SURVIVING, fault_ns=ms(2000), recovered_ns=ms(5010)
    )

    assert result is not None
    assert result.stale_reads_before == 1
    assert result.stale_reads == 0


def test_a_ghost_still_cached_at_the_audit_makes_the_window_unknown_never_pass() -> None:
    s = restore()
    cread(s, 5100, key=1, version=19)
    s.final_read(SURVIVING, at=7500)
    audit(s, 7000, cached={1: 19}, db={0: 40, 1: 39})
    ops = s.ops()

    result = cache_check(
        ops, write_outcomes(ops), SURVIVING, fault_ns=ms(2000), recovered_ns=ms(5010)
    )

    assert result is not None
    assert result.window_s is None
    assert result.window_at_least_s == pytest.approx(1.995)  # the audit's completion
    assert result.ghosts_at_end == 1
    assert any("at least 1.995s" in n for n in result.notes)


def test_no_audit_means_an_unknown_window() -> None:
    s = restore()
    cread(s, 5100, key=1, version=39)
    s.final_read(SURVIVING, at=7500)
    ops = s.ops()

    result = cache_check(
        ops, write_outcomes(ops), SURVIVING, fault_ns=ms(2000), recovered_ns=ms(5010)
    )

    assert result is not None
    assert result.window_s is None
    assert result.window_at_least_s is None


def test_without_a_final_read_ghosts_are_unknown() -> None:
    s = restore()
    cread(s, 5100, key=1, version=19)
    audit(s, 7000, cached={}, db={})
    ops = s.ops()

    result = cache_check(ops, write_outcomes(ops), None, fault_ns=ms(2000), recovered_ns=ms(5010))

    assert result is not None
    assert result.ghost_reads is None
    assert result.window_s is None


def test_the_resolution_is_a_key_s_read_interval_or_a_ghost_key_s_gap() -> None:
    s = restore()
    for k in range(10):  # key 0 read every 100 ms from 5100
        cread(s, 5100 + k * 100, key=0, version=20 if k < 3 else 40)
    s.final_read(SURVIVING, at=7500)
    audit(s, 7200, cached={0: 40}, db={0: 40, 1: 39})
    ops = s.ops()

    result = cache_check(
        ops, write_outcomes(ops), SURVIVING, fault_ns=ms(2000), recovered_ns=ms(5010)
    )

    assert result is not None
    assert result.ghost_reads == 3
    assert result.window_s == pytest.approx(0.291)  # 5301 - 5010
    assert result.resolution_s == pytest.approx(0.101)  # 100 ms gap plus 1 ms latency


def targets(**kw: Any) -> Targets:
    return Targets(**kw)


def ttl_restore_history(audit_cached: dict[int, int]) -> Script:
    s = restore()
    for k in range(10):
        cread(s, 5100 + k * 100, key=0, version=20 if k < 3 else 40)
    s.final_read(SURVIVING, at=7500)
    return audit(s, 7200, cached=audit_cached, db={0: 40, 1: 39})


def test_analyze_judges_the_cache_targets() -> None:
    ops = ttl_restore_history({0: 40}).ops()

    analysis = analyze(
        ops,
        targets(max_ghost_reads=0, max_ghost_window_seconds=2, max_stale_reads=0),
        stable_window_s=0.3,
    )

    checks = {c.name: c for c in analysis.checks}
    assert analysis.cache is not None
    assert checks["max_ghost_reads"].verdict is Verdict.FAIL
    assert checks["max_ghost_reads"].measured == 3
    assert checks["max_ghost_window_seconds"].verdict is Verdict.PASS
    assert checks["max_stale_reads"].verdict is Verdict.PASS
    assert analysis.measured.ghost_window_resolution_s is not None


def test_a_window_target_tighter_than_the_resolution_is_unknown() -> None:
    s = restore()
    for k in range(10):  # no ghost: window 0, to within a key's read interval (0.101 s)
        cread(s, 5100 + k * 100, key=0, version=40)
    s.final_read(SURVIVING, at=7500)
    ops = audit(s, 7200, cached={0: 40}, db={0: 40, 1: 39}).ops()

    tight = analyze(ops, targets(max_ghost_window_seconds=0.05), stable_window_s=0.3)
    loose = analyze(ops, targets(max_ghost_window_seconds=1), stable_window_s=0.3)

    check = next(c for c in tight.checks if c.name == "max_ghost_window_seconds")
    assert check.measured == 0.0
    assert check.verdict is Verdict.UNKNOWN
    check = next(c for c in loose.checks if c.name == "max_ghost_window_seconds")
    assert check.verdict is Verdict.PASS


def test_a_ghost_at_the_end_fails_a_window_target_it_already_exceeded() -> None:
    ops = ttl_restore_history({1: 19}).ops()

    failed = analyze(ops, targets(max_ghost_window_seconds=1), stable_window_s=0.3)
    unknown = analyze(ops, targets(max_ghost_window_seconds=10), stable_window_s=0.3)

    check = next(c for c in failed.checks if c.name == "max_ghost_window_seconds")
    assert check.verdict is Verdict.FAIL
    assert "still cached at the end" in check.reason
    check = next(c for c in unknown.checks if c.name == "max_ghost_window_seconds")
    assert check.verdict is Verdict.UNKNOWN


def test_histories_without_cache_reads_have_no_cache_result() -> None:
    ops = restore().final_read(SURVIVING, at=7500).ops()

    assert analyze(ops, targets(rpo_seconds=1), stable_window_s=0.3).cache is None


# -- the drill file ------------------------------------------------------------------------------
def test_a_cache_target_needs_workload_cache(tmp_path: Path) -> None:
    e = error(write(tmp_path, drill(targets={"max_ghost_reads": 0})))

    assert "targets.max_ghost_reads needs cache reads: set workload.cache" in str(e)


def test_workload_cache_needs_a_topology_cache(tmp_path: Path) -> None:
    e = error(write(tmp_path, drill(workload={"cache": {"strategy": "ttl"}})))

    assert e.field == "workload.cache"
    assert "set topology.cache" in str(e)


def test_ttl_strategy_needs_an_expiry(tmp_path: Path) -> None:
    doc = drill(
        topology={"kind": "postgres", "cache": {}},
        workload={"cache": {"strategy": "ttl", "ttl_seconds": None}},
    )
    e = error(write(tmp_path, doc))

    assert "relies on expiry: set ttl_seconds" in str(e)


def test_a_cache_drill_loads_and_cache0_is_a_fault_target(tmp_path: Path) -> None:
    doc = drill(
        topology={"kind": "postgres", "cache": {"engine": "valkey"}},
        workload={"cache": {"strategy": "delete-on-write", "keys": 20}},
        faults=[{"kind": "kill", "target": "cache0"}],
        targets={"max_ghost_reads": 0},
    )
    spec = load_drill(write(tmp_path, doc))

    assert spec.topology.cache.version == 8  # valkey's default
    assert spec.topology.node_names() == ["pg0", "pg1", "cache0"]
    assert spec.workload.cache is not None and spec.workload.cache.keys == 20


def test_flush_cache_needs_a_cache(tmp_path: Path) -> None:
    e = error(write(tmp_path, drill(faults=[{"kind": "flush-cache"}])))

    assert "flush-cache needs a cache node: set topology.cache" in str(e)


def test_flush_cache_acts_on_the_cache_node_only(tmp_path: Path) -> None:
    doc = drill(
        topology={"kind": "postgres", "cache": {}},
        faults=[{"kind": "flush-cache", "target": "pg0"}],
    )
    e = error(write(tmp_path, doc))

    assert "'pg0' is not the cache node; flush-cache acts on cache0, or on cache-master" in str(e)


def test_flush_cache_may_strike_whichever_cache_node_is_master(tmp_path: Path) -> None:
    cache = {"replicas": 1, "sentinels": 3}
    doc = drill(
        topology={"kind": "postgres", "cache": cache},
        faults=[{"kind": "flush-cache", "target": "cache-master"}],
    )
    spec = load_drill(write(tmp_path, doc))
    assert spec.faults[0].target == "cache-master"

    flush = FlushCache.__new__(FlushCache)
    promoted = SimpleNamespace(name="cache1", role="cache-replica")  # its role at creation
    flush.check(cast(Any, None), [cast(Any, promoted)])  # no error
    with pytest.raises(ValueError, match="flush-cache needs the cache node; cache-s0"):
        flush.check(
            cast(Any, None), [cast(Any, SimpleNamespace(name="cache-s0", role="cache-sentinel"))]
        )


def test_a_cache_with_tls_is_refused(tmp_path: Path) -> None:
    e = error(write(tmp_path, drill(topology={"kind": "postgres", "cache": {}, "tls": True})))

    assert "the cache node speaks plain TCP only" in str(e)


def test_staleness_with_acknowledgements_out_of_id_order() -> None:
    s = Script()
    kwrite(s, 5, 90, key=0)  # acked 100
    kwrite(s, 3, 100, key=0)  # acked 110, after the newer 5 (two writers)
    kwrite(s, 7, 190, key=0)  # acked 200
    cread(s, 300, key=0, version=3)  # behind 5 and 7: since 5's ack at 100
    cread(s, 310, key=0, version=5)  # behind 7: since 200
    cread(s, 320, key=0, version=7)
    s.final_read([3, 5, 7], at=500)
    ops = audit(s, 400, cached={0: 7}, db={0: 7}).ops()

    result = cache_check(ops, write_outcomes(ops), [3, 5, 7], fault_ns=ms(1), recovered_ns=ms(2))

    assert result is not None
    assert result.stale_reads == 2
    assert result.max_stale_seconds == pytest.approx(0.2)
