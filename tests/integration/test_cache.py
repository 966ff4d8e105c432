"""Cache drills on real containers, against an observer that never reads drillkit's history.

The shipped drills cache-pitr-ttl and cache-pitr-delete-on-write restore PostgreSQL to 3 s
before a DROP TABLE while a Redis cache sits in front of it; cache-failover-write-through
promotes an async replica that missed 2 s of writes. The observer (:class:`CacheWatch`)
is a hand-written redis-py + psycopg client: from the moment the restored node is promoted it
polls every cached key (``MGET item:0..K-1`` on cache0) and asks the restored (or promoted)
database whether
each cached version is one of its rows (``drillkit_writes``). A cached version the database does
not have is a ghost; the observer's ghost window ends at its first poll with no ghost after the
last poll with one. drillkit's window (restoration + ghost_window_seconds, from report.json)
must end within drillkit's stated resolution plus the observer's poll interval (plus 50 ms of
slack) of the observer's.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from drillkit.drill import run_drill
from drillkit.spec import load_drill
from tests.calibration.observer import CREDENTIALS_DIR, RUN_LABEL, Observer, iso_ns

from .conftest import REPO

NS = 1_000_000_000
SLACK = 0.05


@dataclass
class Sample:
    start_ns: int
    done_ns: int
    ghosts: int  # cached keys whose version the restored database does not have
    cached: int


@dataclass
class CacheWatch:
    """Polls cache0 and the restored node directly (credentials from the files drillkit leaves
    for a kept topology; addresses from Docker), every ``interval`` seconds."""

    observer: Observer
    keys: int
    db_node: str = "pgr"  # the node serving after recovery (a name, or a prefix: pgr1, ...)
    interval: float = 0.02
    samples: list[Sample] = field(default_factory=list)
    promoted_ns: int | None = None
    error: str | None = None
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> CacheWatch:
        self._thread = threading.Thread(target=self._run, name="cache-watch", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _run(self) -> None:
        try:
            self._loop()
        except Exception as e:
            self.error = f"{type(e).__name__}: {e}"

    def _port(self, node: str, port: int) -> int | None:
        run_id = self.observer.run_id
        flt = {"label": [f"{RUN_LABEL}={run_id}", f"drillkit.node={node}"]}
        for c in self.observer.client.containers.list(filters=flt):
            for p in (c.ports or {}).get(f"{port}/tcp") or []:
                if p.get("HostIp") == "127.0.0.1":
                    return int(p["HostPort"])
        return None

    def _restored_port(self) -> int | None:
        run_id = self.observer.run_id
        flt = {"label": [f"{RUN_LABEL}={run_id}"]}
        for c in self.observer.client.containers.list(filters=flt):
            if str(c.labels.get("drillkit.node", "")).startswith(self.db_node):
                return self._port(c.labels["drillkit.node"], 5432)
        return None

    def _credentials(self) -> tuple[str, str] | None:
        run_id = self.observer.run_id
        auth = CREDENTIALS_DIR / f"{run_id}.cache-auth"
        pgpass = CREDENTIALS_DIR / f"{run_id}.pgpass"
        if not auth.exists() or not pgpass.exists():
            return None
        password = next(
            line.split(":", 4)[4]
            for line in pgpass.read_text().splitlines()
            if line.split(":")[3] == "postgres"
        )
        return auth.read_text().strip(), password

    def _wait(self, what: Any) -> Any:
        found = None
        while found is None and not self._stop.is_set():
            if self.observer.run_id is not None:
                found = what()
            if found is None:
                time.sleep(0.05)
        return found

    def _loop(self) -> None:
        import psycopg
        import redis
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        creds = self._wait(self._credentials)
        cache_port = self._wait(lambda: self._port("cache0", 6379))
        db_port = self._wait(self._restored_port)
        if creds is None or cache_port is None or db_port is None:
            return
        cache_pw, pg_pw = creds
        cache = redis.Redis(
            host="127.0.0.1",
            port=cache_port,
            password=cache_pw,
            socket_timeout=0.5,
            socket_connect_timeout=0.5,
            retry=Retry(NoBackoff(), 0),
        )
        conninfo = (
            f"host=127.0.0.1 port={db_port} user=postgres dbname=postgres "
            f"password={pg_pw} connect_timeout=2"
        )
        conn: Any = None
        names = [f"item:{k}" for k in range(self.keys)]
        while not self._stop.is_set():
            t0 = time.time_ns()
            try:
                if conn is None:
                    conn = psycopg.connect(conninfo, autocommit=True)
                if self.promoted_ns is None:
                    row = conn.execute("SELECT pg_is_in_recovery()").fetchone()
                    if row is None or row[0]:
                        time.sleep(self.interval)
                        continue
                    self.promoted_ns = time.time_ns()
                cached = [int(v) for v in cache.mget(names) if v is not None]
                versions = sorted({v for v in cached if v > 0})
                rows = conn.execute(
                    "SELECT id FROM drillkit_writes WHERE id = ANY(%s)", (versions,)
                ).fetchall()
                present = {int(r[0]) for r in rows}
                ghosts = sum(1 for v in cached if v > 0 and v not in present)
                self.samples.append(Sample(t0, time.time_ns(), ghosts, len(cached)))
            except (psycopg.Error, redis.RedisError):
                if conn is not None:
                    with contextlib.suppress(Exception):
                        conn.close()
                conn = None
            time.sleep(self.interval)
        cache.close()
        if conn is not None:
            conn.close()

    def ghost_end_ns(self) -> int | None:
        """The first poll with no ghost after the last poll with one (None: none seen, or a
        ghost at the last poll)."""
        last = max((i for i, s in enumerate(self.samples) if s.ghosts), default=None)
        if last is None or last + 1 >= len(self.samples):
            return None
        return self.samples[last + 1].done_ns

    def poll_interval_s(self) -> float:
        gaps = [b.start_ns - a.start_ns for a, b in itertools.pairwise(self.samples)]
        return max(gaps) / NS if gaps else self.interval


@dataclass
class Watched:
    report: dict[str, Any]
    watch: CacheWatch
    passed_as_expected: bool
    report_dir: Path
    run_id: str


def run_watched(name: str, reports: Path, docker_client: Any, db_node: str = "pgr") -> Watched:
    path = REPO / "drills" / f"{name}.yaml"
    spec = load_drill(path)
    assert spec.workload.cache is not None
    observer = Observer(docker_client, drill=spec.name)
    watch = CacheWatch(observer, keys=spec.workload.cache.keys, db_node=db_node)
    try:
        with observer:
            watch.__enter__()
            try:
                result = run_drill(
                    spec, drill_file=str(path), report_root=reports, progress=lambda _m: None,
                    keep=True,
                )  # fmt: skip
            finally:
                watch.stop()
            observer.attach(result.run_id)
    finally:
        observer.teardown()
        for suffix in ("pgpass", "cache-auth"):
            if observer.run_id is not None:
                (CREDENTIALS_DIR / f"{observer.run_id}.{suffix}").unlink(missing_ok=True)
    report = json.loads((result.report_dir / "report.json").read_text())
    return Watched(report, watch, result.exit_code == 0, result.report_dir, result.run_id)


def drillkit_window_end_ns(report: dict[str, Any]) -> int:
    m = report["measured"]
    fault = iso_ns(report["fault_effective_at"])
    assert fault is not None
    return fault + round((m["rto_seconds"] + m["ghost_window_seconds"]) * NS)


def assert_window_matches_the_observer(w: Watched) -> float:
    assert w.watch.error is None, w.watch.error
    assert w.watch.promoted_ns is not None, "the observer never saw the restored node promoted"
    observed = w.watch.ghost_end_ns()
    assert observed is not None, "the observer saw no ghost end (none, or one at the end)"
    m = w.report["measured"]
    drillkit = drillkit_window_end_ns(w.report)
    tol = float(m["ghost_window_resolution_seconds"]) + w.watch.poll_interval_s() + SLACK
    diff = (observed - drillkit) / NS
    print(
        f"{w.report['drill']}: ghost window {m['ghost_window_seconds']}s "
        f"(±{m['ghost_window_resolution_seconds']}s), {m['ghost_reads']} ghost reads, "
        f"RPO {m['rpo_seconds']}s, RTO {m['rto_seconds']}s; window end observer - drillkit = "
        f"{diff:+.3f}s (tolerance {tol:.3f}s)"
    )
    assert -SLACK <= diff <= tol, (diff, tol)
    return diff


@pytest.fixture(scope="module")
def ttl(tmp_path_factory: pytest.TempPathFactory, docker_client: Any) -> Watched:
    return run_watched("cache-pitr-ttl", tmp_path_factory.mktemp("reports"), docker_client)


@pytest.fixture(scope="module")
def delete_on_write(tmp_path_factory: pytest.TempPathFactory, docker_client: Any) -> Watched:
    return run_watched(
        "cache-pitr-delete-on-write", tmp_path_factory.mktemp("reports"), docker_client
    )


def test_ttl_serves_ghosts_after_the_restore_and_fails_as_expected(ttl: Watched) -> None:
    r, m = ttl.report, ttl.report["measured"]
    assert r["error"] is None, r["error"]
    assert r["verdict"] == "fail" and ttl.passed_as_expected
    assert 2.5 <= m["rpo_seconds"] <= 3.5  # restored to 3 s before the DROP
    assert m["ghost_reads"] > 0
    checks = {c["name"]: c["verdict"] for c in r["checks"]}
    assert checks == {
        "rpo_seconds": "pass",
        "rto_seconds": "pass",
        "max_ghost_reads": "fail",
        "max_ghost_window_seconds": "pass",
    }
    cache = r["cache"]
    assert cache["strategy"] == "ttl"
    assert cache["ghosts_at_end"] == 0  # every ghost expired before the audit
    assert 0 < m["ghost_window_seconds"] <= 5.0 + m["ghost_window_resolution_seconds"]


def test_ttl_report_is_its_history_judged_and_nothing_is_left(
    ttl: Watched, docker_client: Any
) -> None:
    from drillkit.checkers import analyze
    from drillkit.history import read_history

    from .conftest import labelled

    spec = load_drill(REPO / "drills" / "cache-pitr-ttl.yaml")
    ops = read_history(ttl.report_dir / "history.jsonl")
    again = analyze(ops, spec.targets, spec.workload.stable_window_seconds)
    assert again.cache is not None
    m = ttl.report["measured"]
    assert m["ghost_reads"] == again.cache.ghost_reads
    assert m["ghost_window_seconds"] == pytest.approx(again.cache.window_s)
    assert m["stale_reads"] == again.cache.stale_reads
    assert labelled(docker_client, ttl.run_id) == {"containers": [], "networks": [], "volumes": []}


def test_ttl_ghost_window_matches_the_observer(ttl: Watched) -> None:
    assert max(s.ghosts for s in ttl.watch.samples) > 0
    assert_window_matches_the_observer(ttl)


def test_delete_on_write_never_serves_a_ghost_after_a_key_is_written(
    delete_on_write: Watched,
) -> None:
    r, m = delete_on_write.report, delete_on_write.report["measured"]
    assert r["error"] is None, r["error"]
    assert r["verdict"] == "pass", r["checks"]
    assert 2.5 <= m["rpo_seconds"] <= 3.5
    assert r["cache"]["ghost_reads_after_write"] == 0
    assert r["cache"]["ghosts_at_end"] == 0
    assert m["ghost_window_seconds"] < 1.0


def test_delete_on_write_ghost_window_matches_the_observer(delete_on_write: Watched) -> None:
    if delete_on_write.report["measured"]["ghost_reads"] == 0:
        # No reader hit a ghost: the observer must then have seen the ghosts gone within a
        # key's read interval of restoration.
        w = delete_on_write
        observed = w.watch.ghost_end_ns()
        if observed is not None:
            m = w.report["measured"]
            fault = iso_ns(w.report["fault_effective_at"])
            assert fault is not None
            restored = fault + round(m["rto_seconds"] * NS)
            tol = float(m["ghost_window_resolution_seconds"]) + w.watch.poll_interval_s() + SLACK
            assert (observed - restored) / NS <= tol
        return
    assert_window_matches_the_observer(delete_on_write)


@pytest.fixture(scope="module")
def write_through(tmp_path_factory: pytest.TempPathFactory, docker_client: Any) -> Watched:
    return run_watched(
        "cache-failover-write-through",
        tmp_path_factory.mktemp("reports"),
        docker_client,
        db_node="pg1",
    )


def test_write_through_replaces_each_ghost_at_the_key_s_next_write(write_through: Watched) -> None:
    r, m = write_through.report, write_through.report["measured"]
    assert r["error"] is None, r["error"]
    assert r["verdict"] == "pass", r["checks"]
    assert m["lost_writes"] > 0  # the replica never received the cut's writes
    assert r["cache"]["ghost_reads_after_write"] == 0
    assert r["cache"]["ghosts_at_end"] == 0
    assert m["ghost_window_seconds"] < 1.0


def test_write_through_ghost_window_matches_the_observer(write_through: Watched) -> None:
    if write_through.report["measured"]["ghost_reads"] == 0:
        pytest.skip("no reader hit a ghost this run (each key rewritten before it was read)")
    assert_window_matches_the_observer(write_through)


# -- flush-cache and a crashed cache node (no database fault) -------------------------------------
FLUSH_CRASH = """
name: cache-flush-crash
topology:
  kind: postgres
  replicas: 1
  cache: {engine: redis}
workload:
  rate: 200
  warmup_seconds: 2
  observe_seconds: 3
  stable_window_seconds: 0.5
  cache: {strategy: delete-on-write, ttl_seconds: 30, keys: 20, readers: 2, reader_rate: 100}
steady_state: {min_ok_writes: 50}
faults:
  - kind: flush-cache            # FLUSHALL on cache0: every entry goes, readers refill
    at: 0
    incident: true
  - kind: crash-restart          # SIGKILL cache0, start it again (empty: no persistence)
    target: cache0
    at: 1
targets:
  max_lost_writes: 0
  max_ghost_reads: 0
"""


@dataclass
class SizeWatch(CacheWatch):
    """DBSIZE of cache0 every ``interval`` seconds: (wall ns, keys or None when unreachable)."""

    sizes: list[tuple[int, int | None]] = field(default_factory=list)

    def _loop(self) -> None:
        import redis
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        creds = self._wait(self._credentials)
        port = self._wait(lambda: self._port("cache0", 6379))
        if creds is None or port is None:
            return
        cache = redis.Redis(
            host="127.0.0.1",
            port=port,
            password=creds[0],
            socket_timeout=0.2,
            socket_connect_timeout=0.2,
            retry=Retry(NoBackoff(), 0),
        )
        while not self._stop.is_set():
            t0 = time.time_ns()
            try:
                size: int | None = int(cache.dbsize())
            except redis.RedisError:
                size = None
            self.sizes.append((t0, size))
            time.sleep(self.interval)
        cache.close()


def test_a_flush_and_a_crashed_cache_serve_no_ghost_and_readers_recover(
    tmp_path: Path, docker_client: Any
) -> None:
    from drillkit.history import OpType, read_history

    path = tmp_path / "cache-flush-crash.yaml"
    path.write_text(FLUSH_CRASH, encoding="utf-8")
    spec = load_drill(path)
    observer = Observer(docker_client, drill=spec.name)
    watch = SizeWatch(observer, keys=20)
    try:
        with observer:
            watch.__enter__()
            try:
                result = run_drill(
                    spec, drill_file=str(path), report_root=tmp_path, progress=lambda _m: None,
                    keep=True,
                )  # fmt: skip
            finally:
                watch.stop()
            observer.attach(result.run_id)
    finally:
        observer.teardown()
        for suffix in ("pgpass", "cache-auth"):
            if observer.run_id is not None:
                (CREDENTIALS_DIR / f"{observer.run_id}.{suffix}").unlink(missing_ok=True)
    report = json.loads((result.report_dir / "report.json").read_text())
    assert report["error"] is None, report["error"]
    assert report["verdict"] == "pass", report["checks"]
    assert watch.error is None, watch.error
    ops = read_history(result.report_dir / "history.jsonl")
    start = next(op for op in ops if op.f == "start")
    to_wall = int(start.extra["wall_time_ns"]) - start.time_ns

    # flush-cache: drillkit's evidence, and the observer's DBSIZE dropping at that moment
    flush = next(op for op in ops if op.f == "flush-cache" and op.type is OpType.OK)
    removed = int(str(flush.extra["evidence"]).split("removed ")[1].split()[0])
    assert removed > 0
    flushed_wall = int(flush.extra["effective_ns"]) + to_wall
    before = [s for t, s in watch.sizes if t < flushed_wall - 0.05 * NS and s is not None]
    after = [s for t, s in watch.sizes if flushed_wall <= t <= flushed_wall + 0.1 * NS]
    assert before and max(before[-5:]) >= removed - 5, (before[-5:], removed)
    assert after and min(s for s in after if s is not None) < removed, after

    # crash-restart: the cache reads that went unanswered lie in the window the observer
    # could not reach cache0 (Docker's kill..start, widened by one read deadline)
    kill = observer.first("kill", node="cache0")
    started = observer.first("start", node="cache0", after=kill.time_ns if kill else 0)
    assert kill is not None and started is not None
    down = [t for t, s in watch.sizes if s is None]
    assert down, "the observer never found cache0 unreachable"
    unanswered = [
        op.time_ns + to_wall
        for op in ops
        if op.f == "cache-read" and op.type in (OpType.INFO, OpType.FAIL)
    ]
    assert unanswered, "no cache read went unanswered while cache0 was down"
    deadline = int(spec.workload.op_timeout_seconds * NS)
    lo, hi = kill.time_ns - deadline, max(started.time_ns, down[-1]) + deadline
    assert all(lo <= t <= hi for t in unanswered), (lo, hi, unanswered[:3], unanswered[-3:])
    cache = report["cache"]
    assert cache["ghost_reads"] == 0 and cache["ghosts_at_end"] == 0
    assert report["measured"]["lost_writes"] == 0
