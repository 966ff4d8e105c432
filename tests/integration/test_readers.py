"""Readers on real containers: two shipped drills whose results are known in advance, each checked
against a hand-written observer that never reads drillkit's history (docs/consistency.md).

- ``failover-readers`` (async, replication cut 1 s, then the primary killed and the replica
  promoted): the client reader's monotonic-read violations are exactly the lost ids up to the
  highest id it had seen before the kill. The observer reads the old primary directly while the
  drill runs (the highest id it saw and how many rows that read held), reads the promoted node's
  table after the drill, and restarts the killed primary to read every row it had committed: its
  lost writes are those rows missing from the promoted node.
- ``sync-readers`` (``synchronous_commit: remote_apply``, the primary killed and the standby
  promoted): no violations, nothing lost, staleness 0 within the readers' resolution. The
  observer writes its own rows through the primary and reads each one back on the standby as soon
  as the commit is acknowledged (never missing one is what remote_apply promises), and reads the
  promoted node's table for every acknowledged id.

- ``redis-replica-staleness`` (the link between the Redis master and replica r1 cut 2 s): r1's
  staleness is how long ago the master first held the oldest id r1 lacks. The observer polls
  ``SCARD`` on the master and on r1 directly, every few milliseconds, and computes that itself.

Each drill runs with ``keep=True`` so the observer can read the nodes before drillkit's sweep
removes them.
"""

from __future__ import annotations

import contextlib
import math
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from drillkit.checkers import final_read, write_outcomes
from drillkit.drill import DrillResult, run_drill
from drillkit.history import Op, OpType, read_history
from drillkit.images import NodeImages
from drillkit.spec import load_drill
from tests.calibration.observer import CREDENTIALS_DIR, RUN_LABEL, Observer

from .conftest import REPO

NS = 1_000_000_000


# -- the hand-written observer -------------------------------------------------------------------
def node_conninfo(observer: Observer, role: str) -> str | None:
    """A direct connection string to the run's node created as ``role`` (primary or replica),
    through the port Docker publishes on 127.0.0.1 and the password file of a kept run."""
    run_id = observer.run_id
    if run_id is None:
        return None
    passfile = CREDENTIALS_DIR / f"{run_id}.pgpass"
    if not passfile.exists():
        return None
    flt = {"label": [f"{RUN_LABEL}={run_id}", f"drillkit.role={role}"]}
    for c in observer.client.containers.list(all=True, filters=flt):
        for p in (c.attrs.get("HostConfig", {}).get("PortBindings") or {}).get("5432/tcp") or []:
            if p.get("HostIp") == "127.0.0.1" and p.get("HostPort"):
                return (
                    f"host=127.0.0.1 port={p['HostPort']} user=postgres dbname=postgres "
                    f"passfile={passfile} connect_timeout=2"
                )
    return None


def node_container(observer: Observer, role: str) -> Any:
    flt = {"label": [f"{RUN_LABEL}={observer.run_id}", f"drillkit.role={role}"]}
    (container,) = observer.client.containers.list(all=True, filters=flt)
    return container


def table_ids(conninfo: str, table: str = "drillkit_writes") -> set[int]:
    import psycopg

    with psycopg.connect(conninfo, autocommit=True) as conn:
        return {int(r[0]) for r in conn.execute(f"SELECT id FROM {table}").fetchall()}


def restart_and_read(observer: Observer, role: str, timeout: float = 30) -> set[int]:
    """Start the (killed) node created as ``role`` again and read every id it committed: crash
    recovery replays its own WAL, so this is what it held when it died."""
    import psycopg

    container = node_container(observer, role)
    container.start()
    conninfo = node_conninfo(observer, role)
    assert conninfo is not None
    deadline = time.monotonic() + timeout
    while True:
        try:
            return table_ids(conninfo)
        except psycopg.Error:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def wait_conninfo(observer: Observer, role: str, stop: threading.Event) -> str | None:
    conninfo = None
    while conninfo is None and not stop.is_set():
        observer.run_seen.wait(0.2)
        conninfo = node_conninfo(observer, role)
        if conninfo is None:
            time.sleep(0.05)
    return conninfo


@dataclass
class _Thread:
    observer: Observer | None = None  # set by observe() before the thread starts
    error: str | None = None
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def loop(self) -> None:
        raise NotImplementedError

    def _run(self) -> None:
        try:
            self.loop()
        except Exception as e:  # kept for the test to report, never hidden
            self.error = f"{type(e).__name__}: {e}"

    @contextlib.contextmanager
    def running(self) -> Iterator[None]:
        self._thread = threading.Thread(target=self._run, name=type(self).__name__, daemon=True)
        self._thread.start()
        try:
            yield
        finally:
            self._stop.set()
            self._thread.join(timeout=10)


@dataclass
class PrimaryWatch(_Thread):
    """Reads the node created as primary directly, every ``interval`` seconds, until it stops
    answering for good: each answer's highest id and row count (``reads``)."""

    interval: float = 0.002
    reads: list[tuple[int, int, int]] = field(default_factory=list)  # (wall ns, max id, rows)

    def loop(self) -> None:
        import psycopg

        assert self.observer is not None
        conninfo = wait_conninfo(self.observer, "primary", self._stop)
        conn: Any = None
        while not self._stop.is_set() and conninfo is not None:
            try:
                if conn is None:
                    conn = psycopg.connect(conninfo, autocommit=True)
                row = conn.execute(
                    "SELECT coalesce(max(id), 0), count(*) FROM drillkit_writes"
                ).fetchone()
                if row is not None:
                    self.reads.append((time.time_ns(), int(row[0]), int(row[1])))
            except psycopg.Error:
                if conn is not None:
                    with contextlib.suppress(Exception):
                        conn.close()
                conn = None
                time.sleep(0.05)  # not up yet (or killed): no connection storm
            time.sleep(self.interval)

    def highest(self) -> tuple[int, int]:
        """The highest id it ever saw, and the rows held by the first read that saw it."""
        top = max(r[1] for r in self.reads)
        return top, next(rows for _, high, rows in self.reads if high == top)


@dataclass
class ReadYourWrites(_Thread):
    """Writes its own rows through the primary (``ryw_probe``), and after each acknowledgement
    reads that row on the standby at once; a read that does not find it is a ``miss``. It stops
    writing at the primary's first failure (the kill)."""

    rate: float = 50.0
    acked: list[int] = field(default_factory=list)
    misses: list[int] = field(default_factory=list)
    sync_commit: str | None = None

    def loop(self) -> None:
        import psycopg

        assert self.observer is not None
        primary = wait_conninfo(self.observer, "primary", self._stop)
        standby = wait_conninfo(self.observer, "replica", self._stop)
        if primary is None or standby is None:
            return
        # The standby accepts connections once it streams; the table needs drillkit's writer
        # to have started (the topology is up).
        deadline = time.monotonic() + 60
        while not self._stop.is_set():
            try:
                w = psycopg.connect(primary, autocommit=True)
                r = psycopg.connect(standby, autocommit=True)
                break
            except psycopg.Error:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        else:
            return
        with w, r:
            row = w.execute("SHOW synchronous_commit").fetchone()
            self.sync_commit = None if row is None else str(row[0])
            w.execute("CREATE TABLE IF NOT EXISTS ryw_probe (id bigint PRIMARY KEY)")
            n = 0
            while not self._stop.is_set():
                n += 1
                try:
                    w.execute("INSERT INTO ryw_probe (id) VALUES (%s)", (n,))
                except psycopg.Error:
                    return  # the primary is gone: the probe's part is over
                self.acked.append(n)
                found = r.execute("SELECT count(*) FROM ryw_probe WHERE id = %s", (n,)).fetchone()
                if not found or int(found[0]) != 1:
                    self.misses.append(n)
                time.sleep(1 / self.rate)


@dataclass
class RedisLag(_Thread):
    """Polls ``SCARD drillkit:ids`` on the master and on replica ``replica`` directly, in turn,
    every ``interval`` seconds: (monotonic ns at the middle of the round trip, count). With one
    writer the set holds ids 1..count, so the replica's oldest missing write is count + 1, and
    the master's first sample holding it says when it was written."""

    replica: str = "r1"
    interval: float = 0.002
    master: list[tuple[int, int]] = field(default_factory=list)
    copy: list[tuple[int, int]] = field(default_factory=list)

    def _client(self, role: str, name: str | None = None) -> Any:
        import redis
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        assert self.observer is not None
        run_id = self.observer.run_id
        auth = CREDENTIALS_DIR / f"{run_id}.redis-auth"
        if run_id is None or not auth.exists():
            return None
        flt = {"label": [f"{RUN_LABEL}={run_id}", f"drillkit.role={role}"]}
        for c in self.observer.client.containers.list(filters=flt):
            if name is not None and not c.name.endswith(f"-{name}"):
                continue
            for p in (c.ports or {}).get("6379/tcp") or []:
                if p.get("HostIp") == "127.0.0.1":
                    return redis.Redis(
                        host="127.0.0.1",
                        port=int(p["HostPort"]),
                        password=auth.read_text().strip(),
                        socket_timeout=0.5,
                        socket_connect_timeout=0.5,
                        retry=Retry(NoBackoff(), 0),
                    )
        return None

    def loop(self) -> None:
        import redis

        assert self.observer is not None
        master = replica = None
        while (master is None or replica is None) and not self._stop.is_set():
            self.observer.run_seen.wait(0.2)
            master = self._client("primary")
            replica = self._client("replica", self.replica)
            time.sleep(0.05)
        if master is None or replica is None:
            return
        while not self._stop.is_set():
            for client, samples in ((master, self.master), (replica, self.copy)):
                t0 = time.monotonic_ns()
                try:
                    count = int(client.scard("drillkit:ids"))
                except redis.RedisError:
                    continue
                samples.append(((t0 + time.monotonic_ns()) // 2, count))
            time.sleep(self.interval)
        master.close()
        replica.close()

    def largest_staleness(self) -> float | None:
        """The largest, over the replica's samples, of its time minus when the master first
        held one more id than the replica did (seconds; None without samples)."""
        import bisect

        times = [t for t, _ in self.master]
        counts = [n for _, n in self.master]
        worst: float | None = None
        for t, n in self.copy:
            k = bisect.bisect_left(counts, n + 1)  # the master's first sample holding n + 1
            age = 0.0 if k == len(counts) or times[k] > t else (t - times[k]) / NS
            worst = age if worst is None else max(worst, age)
        return worst


# -- running a drill under the observer ----------------------------------------------------------
@dataclass
class Observed:
    result: DrillResult
    report: dict[str, Any]
    ops: list[Op]
    observer: Observer
    promoted_ids: set[int]  # drillkit_writes on the promoted node after the drill
    old_primary_ids: set[int]  # drillkit_writes on the killed primary, restarted after the drill
    extra: dict[str, set[int]]


def observe(
    name: str,
    reports: Path,
    docker_client: Any,
    probe: _Thread,
    tables: tuple[str, ...] = (),
    *,
    postgres: bool = True,
) -> Observed:
    import json

    path = REPO / "drills" / f"{name}.yaml"
    spec = load_drill(path)
    observer = Observer(docker_client, drill=spec.name)
    extra: dict[str, set[int]] = {}
    try:
        with observer:
            probe.observer = observer
            with probe.running():
                result = run_drill(
                    spec,
                    drill_file=str(path),
                    report_root=reports,
                    progress=lambda _m: None,
                    keep=True,
                )
            observer.attach(result.run_id)
            if not postgres:
                report = json.loads((result.report_dir / "report.json").read_text())
                ops = read_history(result.report_dir / "history.jsonl")
                return Observed(result, report, ops, observer, set(), set(), extra)
            promoted = node_conninfo(observer, "replica")
            assert promoted is not None, "no replica node to read"
            promoted_ids = table_ids(promoted)
            for table in tables:
                extra[table] = table_ids(promoted, table)
            old_ids = restart_and_read(observer, "primary")
    finally:
        observer.teardown()
    report = json.loads((result.report_dir / "report.json").read_text())
    ops = read_history(result.report_dir / "history.jsonl")
    return Observed(result, report, ops, observer, promoted_ids, old_ids, extra)


def kill_effective_ns(ops: list[Op]) -> int:
    kill = next(op for op in ops if op.f == "kill" and op.type is OpType.OK)
    return int(kill.extra["effective_ns"])  # type: ignore[call-overload]


# -- async: violations are the lost writes the client had read -----------------------------------
@pytest.fixture(scope="module")
def async_run(
    tmp_path_factory: pytest.TempPathFactory, docker_client: Any, images: NodeImages
) -> tuple[Observed, PrimaryWatch]:
    watch = PrimaryWatch()
    run = observe("failover-readers", tmp_path_factory.mktemp("reports"), docker_client, watch)
    return run, watch


def test_async_failover_loses_the_cut_and_the_observer_agrees(async_run: Any) -> None:
    run, watch = async_run
    assert run.result.error is None, run.result.error
    assert watch.error is None, watch.error
    measured = run.report["measured"]
    lost_obs = run.old_primary_ids - run.promoted_ids  # committed on pg0, gone after failover
    print(f"lost: drillkit {measured['lost_writes']}, observer {len(lost_obs)}")
    assert len(lost_obs) > 200, "the cut lost too little to demonstrate anything"
    # The promoted node only ever had what pg0 sent it (plus writes after the promotion).
    assert not (run.promoted_ids - run.old_primary_ids) or min(
        run.promoted_ids - run.old_primary_ids
    ) > max(run.old_primary_ids)
    # drillkit counts acknowledged writes only; the observer every committed row: the two
    # differ by the writes in flight at the kill (committed, never acknowledged), at most one
    # per writer.
    writers = int(run.report["spec"]["workload"]["writers"])
    assert 0 <= len(lost_obs) - measured["lost_writes"] <= writers
    assert set(measured["lost_ids_sample"] or []) <= lost_obs
    # drillkit's final read is the promoted node's table.
    assert set(final_read(run.ops) or []) == run.promoted_ids
    assert run.report["verdict"] == "fail" and run.report["expected"] == "fail"


def test_async_client_violations_are_the_lost_ids_it_had_read(async_run: Any) -> None:
    run, watch = async_run
    readers = run.report["readers"]
    by_reader = readers["violations_by_reader"]
    assert by_reader["reader-pg1-0"] == 0  # the replica read directly never goes back
    dk = by_reader["reader-client-0"]
    assert readers["monotonic_violations"] == dk
    lost_obs = run.old_primary_ids - run.promoted_ids
    # The observer alone: the highest id it read on pg0, the rows that read held, and how many
    # of them the promoted node still has.
    high_obs, rows_obs = watch.highest()
    expected = rows_obs - sum(1 for i in run.promoted_ids if i <= high_obs)
    assert expected == sum(1 for i in lost_obs if i <= high_obs)  # counts agree with the rows
    # The two readers' last reads of pg0 differ by at most the ids committed in one drillkit
    # read interval (1/reader_rate), one observer interval and a read's latency each (5 ms).
    spec = run.report["spec"]["workload"]
    window = 1 / spec["reader_rate"] + watch.interval + 2 * 0.005
    tol = math.ceil(spec["rate"] * window)
    print(f"violations: drillkit {dk}, observer {expected} (its highest {high_obs}), tol {tol}")
    assert abs(dk - expected) <= tol
    assert dk > 0.5 * len(lost_obs)
    # Exact, with the client reader's own highest id before the kill (from the history) and the
    # observer's rows: violations are the lost ids up to it, committed-but-unacknowledged ones
    # included (the reader saw the row).
    kill = kill_effective_ns(run.ops)
    high_dk = max(
        int(op.value)  # type: ignore[call-overload]
        for op in run.ops
        if op.process == "reader-client-0"
        and op.type is OpType.OK
        and op.f == "read-latest"
        and op.time_ns < kill
    )
    print(f"client reader's highest before the kill: {high_dk}")
    assert dk == sum(1 for i in lost_obs if i <= high_dk)


# -- sync remote_apply: nothing goes back, nothing is stale, nothing is lost ---------------------
@pytest.fixture(scope="module")
def sync_run(
    tmp_path_factory: pytest.TempPathFactory, docker_client: Any, images: NodeImages
) -> tuple[Observed, ReadYourWrites]:
    probe = ReadYourWrites()
    run = observe(
        "sync-readers", tmp_path_factory.mktemp("reports"), docker_client, probe, ("ryw_probe",)
    )
    return run, probe


def test_sync_remote_apply_observer_never_misses_and_nothing_is_lost(sync_run: Any) -> None:
    run, probe = sync_run
    assert run.result.error is None, run.result.error
    assert probe.error is None, probe.error
    assert probe.sync_commit == "remote_apply"
    print(f"observer: {len(probe.acked)} acknowledged, {len(probe.misses)} missed on the standby")
    assert len(probe.acked) > 50
    assert probe.misses == []  # every acknowledged row was on the standby at once
    assert set(probe.acked) <= run.extra["ryw_probe"]  # and survived the promotion
    # The promoted table holds every id drillkit's writers had acknowledged.
    acked = write_outcomes(run.ops).acknowledged
    assert len(acked) > 200
    assert acked <= run.promoted_ids
    # The killed primary committed at most the writes in flight beyond the standby.
    writers = int(run.report["spec"]["workload"]["writers"])
    assert len(run.old_primary_ids - run.promoted_ids) <= writers


def test_sync_remote_apply_readers_see_no_staleness_and_no_violation(sync_run: Any) -> None:
    run, _ = sync_run
    measured = run.report["measured"]
    readers = run.report["readers"]
    print(
        f"staleness {measured['staleness_seconds']} (resolution "
        f"{measured['staleness_resolution_seconds']}), by source "
        f"{readers['max_staleness_by_source']}, violations {measured['monotonic_violations']}"
    )
    assert measured["lost_writes"] == 0 and measured["rpo_seconds"] == 0
    assert measured["monotonic_violations"] == 0
    assert measured["staleness_seconds"] <= measured["staleness_resolution_seconds"]
    assert readers["max_staleness_by_source"]["pg1"] <= measured["staleness_resolution_seconds"]
    assert readers["phases"]["steady"]["reads"] > 50
    assert run.report["verdict"] == "pass", run.report["checks"]


# -- Redis: a replica cut off from its master serves what it had ---------------------------------
@pytest.fixture(scope="module")
def redis_run(
    tmp_path_factory: pytest.TempPathFactory, docker_client: Any, images: NodeImages
) -> tuple[Observed, RedisLag]:
    lag = RedisLag()
    run = observe(
        "redis-replica-staleness",
        tmp_path_factory.mktemp("reports"),
        docker_client,
        lag,
        postgres=False,
    )
    return run, lag


def test_redis_cut_replica_staleness_matches_the_observer(redis_run: Any) -> None:
    run, lag = redis_run
    assert run.result.error is None, run.result.error
    assert lag.error is None, lag.error
    truth = lag.largest_staleness()
    assert truth is not None, "the observer read nothing"
    measured = run.report["measured"]
    readers = run.report["readers"]
    r1 = readers["max_staleness_by_source"]["r1"]
    # 50 ms, drillkit's stated resolution, and the observer's own sampling (its two polls).
    tol = 0.050 + measured["staleness_resolution_seconds"] + 2 * lag.interval
    print(f"r1 staleness: drillkit {r1}, observer {truth:.4f}, tolerance {tol:.4f}")
    assert truth > 1.5, "the cut left r1 less stale than it should"
    assert abs(r1 - truth) <= tol
    assert readers["max_staleness_by_source"]["r2"] < 0.1  # the other replica stayed current
    assert readers["max_staleness_by_source"]["client"] < 0.1
    assert measured["monotonic_violations"] == 0 and measured["lost_writes"] == 0
    assert run.report["verdict"] == "pass", run.report["checks"]


# -- Redis: a stack drillkit did not create --------------------------------------------------------
def test_readers_on_an_external_redis_stack_follow_sentinel_and_read_the_replica(
    docker_client: Any, images: NodeImages, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The stack of test_external_redis (a master, a replica, three Sentinels, Compose labels
    only); the master killed, Sentinel fails over. The replica reader reads cache-b, which
    ROLE says is a replica until Sentinel promotes it; the client reader follows Sentinel."""
    import textwrap

    from .test_external_redis import DATA, MASTER_NAME, PASSWORD_ENV, SENTINELS, redis_stack

    with redis_stack(docker_client, images.redis) as stack:
        monkeypatch.setenv(PASSWORD_ENV, stack.password)
        path = tmp_path / "external-redis-readers.yaml"
        path.write_text(
            textwrap.dedent(
                f"""\
                name: external-redis-readers
                topology:
                  kind: compose
                  project: {stack.project}
                  engine: redis
                  services: [{", ".join(DATA)}]
                  sentinel: {{nodes: [{", ".join(SENTINELS)}], master_name: {MASTER_NAME}}}
                  credentials: {{password_env: {PASSWORD_ENV}}}
                workload: {{rate: 300, op_timeout_seconds: 0.5, warmup_seconds: 2,
                            observe_seconds: 4, stable_window_seconds: 1, readers: 1,
                            read_from: [replicas, client], reader_rate: 50}}
                faults: [{{kind: kill, target: primary}}]
                targets: {{rto_seconds: 15, max_monotonic_violations: 1000}}
                external: {{confirm: {stack.project}}}
                """
            )
        )
        result = run_drill(
            load_drill(path),
            drill_file=str(path),
            report_root=tmp_path,
            progress=lambda _m: None,
            target=stack.project,
        )
        assert result.error is None, result.error
        with stack.redis("cache-b") as r:  # Sentinel's own failover, by the node itself
            assert r.execute_command("ROLE")[0] == "master"
            assert list(r.scan_iter(match="drillkit_probe_*")) == []
    report = result.report
    readers = report["readers"]
    print(f"external redis readers: {readers['max_staleness_by_source']}, {readers['phases']}")
    assert readers["sources"] == ["cache-b", "client"]
    ops = read_history(result.report_dir / "history.jsonl")
    kill = kill_effective_ns(ops)
    steady = [
        op for op in ops if op.f == "read-latest" and op.type is OpType.OK and op.time_ns < kill
    ]
    # Before the kill each node answered as what it was: cache-b a replica, the client the master.
    by_source = {
        src: {op.extra["in_recovery"] for op in steady if op.extra["source"] == src}
        for src in ("cache-b", "client")
    }
    assert by_source == {"cache-b": {True}, "client": {False}}
    assert readers["phases"]["steady"]["reads"] > 100
    assert readers["violations_by_reader"]["reader-cache-b-0"] == 0  # replicas never go back
    assert readers["monotonic_violations"] <= report["measured"]["lost_writes"]
    assert readers["convergence_by_source"]["cache-b"] is not None
