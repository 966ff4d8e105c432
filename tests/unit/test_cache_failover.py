"""A replicated cache with Sentinel (topology.cache replicas/sentinels): the drill file's
validation, the ``cache-master`` role, the stale window and its target, on literal histories."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from builders import INVOKE, OK, Script, ms
from test_checkers_cache import audit, cread, kwrite
from test_spec import drill, error, write

from drillkit.checkers import Verdict, analyze
from drillkit.checkers.cache import cache_check, stale_window
from drillkit.checkers.verdict import Measured, judge
from drillkit.checkers.writes import write_outcomes
from drillkit.spec import Targets, load_drill
from drillkit.topology.pg_cache import (
    CACHE_REPLICA_ROLE,
    CACHE_ROLE,
    CACHE_SENTINEL_ROLE,
    CacheNodes,
    cache_conf,
)
from drillkit.topology.postgres import PostgresCluster
from drillkit.topology.redis_config import sentinel_conf

REPO = Path(__file__).resolve().parents[2]


def cache_drill(cache: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return drill(
        topology={"kind": "postgres", "cache": cache},
        workload={"cache": {"strategy": "delete-on-write", "ttl_seconds": 60}},
        **fields,
    )


# -- the drill file -------------------------------------------------------------------------------
def test_the_shipped_drill_validates_with_three_sentinels_and_one_replica() -> None:
    spec = load_drill(REPO / "drills" / "cache-redis-failover.yaml")
    cache = spec.topology.cache
    assert cache is not None
    assert (cache.replicas, cache.sentinels, cache.down_after_ms, cache.quorum) == (1, 3, 1000, 2)
    assert spec.topology.node_names()[-5:] == [
        "cache0",
        "cache1",
        "cache-s0",
        "cache-s1",
        "cache-s2",
    ]
    assert spec.expect == "fail"
    assert spec.targets.max_cache_stale_window_seconds is not None


def test_the_default_cache_is_one_node_as_before(tmp_path: Path) -> None:
    spec = load_drill(write(tmp_path, cache_drill({"engine": "redis"})))
    cache = spec.topology.cache
    assert cache is not None
    assert (cache.replicas, cache.sentinels) == (0, 0)
    assert spec.topology.node_names() == ["pg0", "pg1", "cache0"]


@pytest.mark.parametrize(
    ("cache", "field", "fix"),
    [
        ({"replicas": 1}, "sentinels", "set sentinels: 3"),
        ({"sentinels": 3}, "replicas", "set replicas: 1"),
        ({"replicas": 3, "sentinels": 3}, "replicas", "less than or equal to 2"),
        ({"replicas": 1, "sentinels": 2}, "sentinels", "3"),
        ({"replicas": 1, "sentinels": 3, "down_after_ms": 10}, "down_after_ms", "100"),
    ],
)
def test_cache_replication_errors_name_the_field_and_the_fix(
    tmp_path: Path, cache: dict[str, Any], field: str, fix: str
) -> None:
    message = str(error(write(tmp_path, cache_drill({"engine": "redis", **cache}))))
    assert "topology.cache" in message
    assert field in message
    assert fix in message


def test_cache_master_needs_a_cache(tmp_path: Path) -> None:
    doc = drill(faults=[{"kind": "kill", "target": "cache-master"}])
    message = str(error(write(tmp_path, doc)))
    assert "faults[0]" in message and "add topology.cache" in message


def test_cache_master_is_a_target_of_any_cache(tmp_path: Path) -> None:
    doc = cache_drill({"engine": "redis"}, faults=[{"kind": "kill", "target": "cache-master"}])
    assert load_drill(write(tmp_path, doc)).faults[0].target == "cache-master"  # type: ignore[union-attr]


def test_wait_cache_failover_needs_the_cache_s_sentinels(tmp_path: Path) -> None:
    doc = cache_drill({"engine": "redis"}, runbook=[{"step": "wait-cache-failover"}])
    message = str(error(write(tmp_path, doc)))
    assert "runbook[0].step" in message and "sentinels: 3" in message
    doc = drill(runbook=[{"step": "wait-cache-failover"}])
    assert "runbook[0].step" in str(error(write(tmp_path, doc, "b.yaml")))


def test_cache_targets_need_cache_reads(tmp_path: Path) -> None:
    doc = drill(targets={"max_cache_stale_window_seconds": 3})
    message = str(error(write(tmp_path, doc)))
    assert "max_cache_stale_window_seconds" in message and "workload.cache" in message


# -- configuration and roles ----------------------------------------------------------------------
def test_replica_and_sentinel_configuration() -> None:
    spec = load_drill(REPO / "drills" / "cache-redis-failover.yaml").topology.cache
    assert spec is not None
    single = cache_conf("pw")
    assert "replicaof" not in single and "masterauth" not in single and 'save ""' in single
    replica = cache_conf("pw", "10.0.0.2")
    assert "replicaof 10.0.0.2 6379" in replica and 'masterauth "pw"' in replica
    assert "appendonly no" in replica
    sentinel = sentinel_conf(spec, "pw", "10.0.0.2", "drillkit-cache")
    assert "sentinel monitor drillkit-cache 10.0.0.2 6379 2" in sentinel
    assert "sentinel down-after-milliseconds drillkit-cache 1000" in sentinel
    assert 'sentinel auth-pass drillkit-cache "pw"' in sentinel


class _Node:
    def __init__(self, name: str, role: str, running: bool = True) -> None:
        self.name, self.role, self.running = name, role, running

    def is_running(self) -> bool:
        return self.running


class _Topology:
    class spec:
        cache = None


def _cache(roles: dict[str, str | None], running: set[str]) -> CacheNodes:
    cache = CacheNodes(_Topology(), "img")
    names = list(roles)
    cache.nodes = [
        _Node(n, CACHE_ROLE if i == 0 else CACHE_REPLICA_ROLE, n in running)  # type: ignore[misc]
        for i, n in enumerate(names)
    ] + [_Node("cache-s0", CACHE_SENTINEL_ROLE)]  # type: ignore[list-item]
    cache.role = lambda node: None if roles[node.name] is None else [roles[node.name]]  # type: ignore[method-assign]
    cache.sentinel_master = lambda: None  # type: ignore[method-assign]
    return cache


def _resolve(cache: CacheNodes, target: str) -> list[Any] | None:
    topology: Any = type("T", (), {"cache": cache})()
    return PostgresCluster.resolve_special(topology, target)


def test_cache_master_resolves_to_whichever_node_is_master_now() -> None:
    before = _cache({"cache0": "master", "cache1": "slave"}, {"cache0", "cache1"})
    assert [n.name for n in _resolve(before, "cache-master") or []] == ["cache0"]
    after = _cache({"cache0": None, "cache1": "master"}, {"cache1"})
    assert [n.name for n in _resolve(after, "cache-master") or []] == ["cache1"]
    assert _resolve(after, "primary") is None  # database roles are not the cache's
    assert [n.name for n in after.data_nodes] == ["cache0", "cache1"]
    assert [n.name for n in after.sentinel_nodes] == ["cache-s0"]


def test_no_cache_master_to_target_is_an_error() -> None:
    down = _cache({"cache0": None, "cache1": "slave"}, {"cache1"})
    with pytest.raises(RuntimeError, match="no single running cache master"):
        _resolve(down, "cache-master")


# -- the stale window -----------------------------------------------------------------------------
def cache_failover() -> Script:
    """Four keys (id % 4), a write every 50 ms from 0 to 4950 (ids 1..100, acked 10 ms later).
    The cache's master is killed at 2000; no write is lost. Readers read from 0 every 10 ms."""
    s = Script()
    s.add(0, "cache", OK, "cache-setup", {"strategy": "delete-on-write", "keys": 4})
    for wid in range(1, 101):
        kwrite(s, wid, (wid - 1) * 50, wid % 4)
    s.fault(requested=1995, effective=2000)
    return s


def fresh_reads(s: Script, start: float, end: float, *, skip: tuple[float, float] = (0, 0)) -> None:
    """Reader 0 reads key 0 every 10 ms, returning its newest acknowledged version."""
    t = start
    while t < end:
        if not skip[0] <= t < skip[1]:
            newest = max((w for w in range(4, 101, 4) if (w - 1) * 50 + 10 < t), default=0)
            cread(s, t, key=0, version=newest)
        t += 10


def test_the_stale_window_runs_from_the_first_to_the_last_stale_read_after_recovery() -> None:
    s = cache_failover()
    fresh_reads(s, 0, 2000)
    # key 1: 41 and 45 (acked 2010, 2210) were never deleted on the new master, which serves 37
    # from 2300 to 2351 (cache reader 1, every 10 ms), then 45 (a refill)
    for t in range(2300, 2360, 10):
        cread(s, t, key=1, version=37, k=1)
    cread(s, 2360, key=1, version=45, k=1)
    s.final_read(range(1, 101), at=5500)
    audit(s, 5200, cached={}, db={})
    ops = s.ops()

    result = cache_check(
        ops, write_outcomes(ops), list(range(1, 101)), fault_ns=ms(2000), recovered_ns=ms(2000)
    )

    assert result is not None
    assert result.stale_reads == 6
    assert result.stale_window_s == pytest.approx(0.051)  # 2300 .. 2351
    assert result.stale_first_s == pytest.approx(0.3)
    assert result.stale_last_s == pytest.approx(0.351)
    assert result.stale_window_resolution_s == pytest.approx(0.01)
    assert result.ghost_reads == 0


def test_a_slow_read_at_either_end_widens_the_windows_resolution() -> None:
    """A read invoked while no cache master answered and served by the new one 70 ms later:
    its end of the window is known to within its latency, not one reader interval."""
    s = cache_failover()
    fresh_reads(s, 0, 2000)
    s.add(2230, "cache-reader-1", INVOKE, "cache-read", key=1)
    s.add(2300, "cache-reader-1", OK, "cache-read", 37, key=1, hit=True)
    for t in range(2310, 2360, 10):
        cread(s, t, key=1, version=37, k=1)
    cread(s, 2360, key=1, version=45, k=1)
    s.final_read(range(1, 101), at=5500)
    audit(s, 5200, cached={}, db={})
    ops = s.ops()

    result = cache_check(
        ops, write_outcomes(ops), list(range(1, 101)), fault_ns=ms(2000), recovered_ns=ms(2000)
    )

    assert result is not None
    assert result.stale_window_s == pytest.approx(0.121)  # invoked 2230 .. done 2351
    assert result.stale_window_resolution_s == pytest.approx(0.07)  # the first read's latency


def test_no_stale_read_is_a_window_of_zero_and_no_read_is_unknown() -> None:
    s = cache_failover()
    fresh_reads(s, 0, 3000, skip=(2000, 2200))
    ops = s.ops()
    result = cache_check(ops, write_outcomes(ops), None, fault_ns=ms(2000), recovered_ns=ms(2000))
    assert result is not None
    assert result.stale_window_s == 0.0
    assert result.stale_first_s is None

    assert stale_window([], [], ms(2000)).seconds is None


def test_the_stale_window_target_is_judged_against_its_resolution() -> None:
    def verdict(target: float, window: float | None, res: float | None = 0.01) -> Verdict:
        (check,) = judge(
            Targets(max_cache_stale_window_seconds=target),
            Measured(
                None,
                None,
                None,
                cache_stale_window_seconds=window,
                cache_stale_window_resolution_s=res,
            ),
        )
        return check.verdict

    assert verdict(5, 2.9) is Verdict.PASS
    assert verdict(2, 2.9) is Verdict.FAIL
    assert verdict(2.895, 2.9) is Verdict.UNKNOWN  # within one reader interval of the target
    assert verdict(0.005, 0.0) is Verdict.UNKNOWN  # tighter than the resolution
    assert verdict(5, None) is Verdict.UNKNOWN  # not measured


def test_analyze_reports_the_stale_window_and_judges_its_target() -> None:
    s = cache_failover()
    fresh_reads(s, 0, 2000)
    for t in range(2300, 2360, 10):
        cread(s, t, key=1, version=37, k=1)
    s.final_read(range(1, 101), at=5500)
    audit(s, 5200, cached={}, db={})
    targets = Targets(max_stale_reads=0, max_cache_stale_window_seconds=1)

    analysis = analyze(s.ops(), targets, stable_window_s=0.3)

    checks = {c.name: c.verdict for c in analysis.checks}
    assert checks == {
        "max_stale_reads": Verdict.FAIL,
        "max_cache_stale_window_seconds": Verdict.PASS,
    }
    assert analysis.measured.cache_stale_window_seconds == pytest.approx(0.051)
    assert analysis.verdict is Verdict.FAIL


# -- wait-cache-failover --------------------------------------------------------------------------
class _View:
    """The cache's nodes as the step sees them: Sentinels name ``named``; ROLE from ``roles``."""

    def __init__(self, named: dict[str, str | None], roles: dict[str, str]) -> None:
        self.by_name = {n: _Node(n, CACHE_ROLE) for n in ("cache0", "cache1")}
        self.named, self.roles = named, roles
        self.data_nodes = list(self.by_name.values())

    def sentinel_announced(self) -> dict[str, Any]:
        return {s: None if n is None else self.by_name[n] for s, n in self.named.items()}

    def sentinel_master(self) -> Any:
        return self.by_name["cache1"]

    def node(self, name: str) -> Any:
        return self.by_name[name]

    def role(self, node: Any) -> list[Any] | None:
        role = self.roles.get(node.name)
        return None if role is None else [role]


def _step(view: _View) -> Any:
    from drillkit.runbook.cache_steps import WaitCacheFailover
    from drillkit.spec.steps import WaitCacheFailoverStep

    topology: Any = type("T", (), {"cache": view})()
    return WaitCacheFailover(WaitCacheFailoverStep(step="wait-cache-failover"), topology)


def test_wait_cache_failover_waits_for_a_new_master_that_answers_role_master() -> None:
    from drillkit.history import History, OpType

    h = History()
    request = h.invoke("fault", "kill", {"target": "cache-master", "nodes": ["cache0"]})
    h.complete(request, OpType.OK, incident=True)
    view = _View({"cache-s0": "cache0", "cache-s1": "cache0", "cache-s2": None}, {})
    step = _step(view)
    step.observe(h)
    assert step.old == "cache0"
    assert step._waiting_for("cache0") == "Sentinels still name cache0"
    view.named = {"cache-s0": "cache1", "cache-s1": None, "cache-s2": None}
    assert "fewer than the quorum" in step._waiting_for("cache0")
    view.named = {"cache-s0": "cache1", "cache-s1": "cache1", "cache-s2": None}
    assert step._waiting_for("cache0") == "cache1 does not report itself master yet"
    view.roles["cache1"] = "master"
    assert step._waiting_for("cache0") == ""
    assert step.run()["new_master"] == "cache1"


def test_wait_cache_failover_falls_back_to_cache0_when_no_fault_named_the_role() -> None:
    from drillkit.history import History

    step = _step(_View({}, {}))
    step.observe(History())
    assert step.old == "cache0"
