"""The cache fails over (drills/cache-redis-failover.yaml), against an observer that never reads
drillkit's history.

The drill kills the cache's master (cache0); its three Sentinels promote cache1. The observer
(:class:`FailoverWatch`) is a hand-written redis-py + psycopg client polling every 10 ms:

- each Sentinel's ``SENTINEL get-master-addr-by-name drillkit-cache``, and ``ROLE`` on the node
  a majority names (addresses mapped to nodes through Docker's own view of the run's network):
  the *switch* is its first poll at which a majority names a node other than cache0 and that node
  answers ROLE as master;
- once a master is known, ``MGET item:0..K-1`` on it and ``SELECT key, version FROM
  drillkit_items`` on pg0 (never touched). A key is *stale* at a poll when its cached version is
  older than the version the database held at the previous poll (a newer version that had been
  committed at least one poll earlier: not the millisecond between a commit and its DEL).

Docker's own events give the kill. Compared with drillkit's report:

- failover: the end of the ``wait-cache-failover`` step against the observer's switch, within
  ``FAILOVER_TOLERANCE`` (the step asks every 50 ms, the observer every 10 ms, plus a few round
  trips);
- the stale window: drillkit's stale reads are reads of stale keys, so its first and last stale
  reads lie inside the observer's stale polls (within one poll and a slack); the observer sees
  every key at every poll but a reader reads a given key only every ``keys / (readers *
  reader_rate)`` seconds (0.5 s here: the reader interval times the keys one reader sweeps), so
  drillkit's window ends at most that (plus one poll and the slack) before the observer's;
- nothing is left behind: no container, network or volume with the run's label.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from drillkit.drill import run_drill
from drillkit.spec import load_drill
from tests.calibration.observer import CREDENTIALS_DIR, RUN_LABEL, Observer, iso_ns

from .conftest import REPO, labelled
from .test_cache import CacheWatch

pytestmark = pytest.mark.integration

NS = 1_000_000_000
SLACK = 0.05
FAILOVER_TOLERANCE = 0.15
MASTER_NAME = "drillkit-cache"


@dataclass
class Poll:
    start_ns: int
    done_ns: int
    master: str | None  # the node a majority of Sentinels names and that answers ROLE master
    stale: int | None  # stale keys on that master (None: not read)


@dataclass
class FailoverWatch(CacheWatch):
    interval: float = 0.01
    polls: list[Poll] = field(default_factory=list)

    def _ips(self) -> dict[str, str] | None:
        """Each cache data node's address on the run's network, from Docker."""
        run_id = self.observer.run_id
        flt = {"label": [f"{RUN_LABEL}={run_id}"]}
        out: dict[str, str] = {}
        for c in self.observer.client.containers.list(filters=flt):
            node = str(c.labels.get("drillkit.node", ""))
            if node in ("cache0", "cache1"):
                for net in (c.attrs.get("NetworkSettings") or {}).get("Networks", {}).values():
                    if net.get("IPAddress"):
                        out[net["IPAddress"]] = node
        return out if len(out) == 2 else None

    def _loop(self) -> None:
        import psycopg
        import redis
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        creds = self._wait(self._credentials)
        names = ["cache0", "cache1", "cache-s0", "cache-s1", "cache-s2", "pg0"]
        ports: dict[str, int] = {}
        for name in names:
            port = 5432 if name == "pg0" else 26379 if name.startswith("cache-s") else 6379
            found = self._wait(lambda n=name, p=port: self._port(n, p))
            if found is None:
                return
            ports[name] = found
        ips = self._wait(self._ips)
        if creds is None or ips is None:
            return
        cache_pw, pg_pw = creds

        def client(port: int) -> redis.Redis:
            return redis.Redis(
                host="127.0.0.1",
                port=port,
                password=cache_pw,
                socket_timeout=0.2,
                socket_connect_timeout=0.2,
                retry=Retry(NoBackoff(), 0),
                decode_responses=True,
            )

        clients = {n: client(p) for n, p in ports.items() if n != "pg0"}
        conn = psycopg.connect(
            f"host=127.0.0.1 port={ports['pg0']} user=postgres dbname=postgres "
            f"password={pg_pw} connect_timeout=2",
            autocommit=True,
        )
        keys = [f"item:{k}" for k in range(self.keys)]
        previous: dict[int, int] = {}
        while not self._stop.is_set():
            t0 = time.time_ns()
            named = []
            for s in ("cache-s0", "cache-s1", "cache-s2"):
                with contextlib.suppress(redis.RedisError, OSError, TypeError):
                    ip, _ = clients[s].execute_command(
                        "SENTINEL", "get-master-addr-by-name", MASTER_NAME
                    )
                    named.append(ips.get(str(ip)))
            top = max(set(named), key=named.count, default=None)
            master = None
            if top is not None and named.count(top) >= 2:
                with contextlib.suppress(redis.RedisError, OSError):
                    if clients[top].execute_command("ROLE")[0] == "master":
                        master = top
            stale = None
            if master is not None:
                with contextlib.suppress(redis.RedisError, OSError, psycopg.Error):
                    rows = conn.execute("SELECT key, version FROM drillkit_items").fetchall()
                    cached = clients[master].mget(keys)
                    stale = sum(
                        1
                        for k, v in enumerate(cached)
                        if v is not None and int(v) < previous.get(k, 0)
                    )
                    previous = {int(k): int(v) for k, v in rows}
            self.polls.append(Poll(t0, time.time_ns(), master, stale))
            time.sleep(self.interval)
        for c in clients.values():
            c.close()
        conn.close()

    def switch_ns(self) -> int | None:
        """The first poll at which a node other than cache0 is master by the Sentinels' majority
        and by its own ROLE."""
        return next((p.done_ns for p in self.polls if p.master not in (None, "cache0")), None)

    def _episode(self, after_ns: int) -> tuple[list[Poll], int | None]:
        """The polls after ``after_ns`` from the first that saw a stale key up to (without) the
        first after it that read the master and saw none, and that clean poll's index. Later
        stale keys are another episode: delete-on-write's fill race (a reader's fill from the
        database landing just after a commit's DEL) leaves one now and then, which a reader
        meets only if it reads the key before its next write."""
        polls = [p for p in self.polls if p.start_ns >= after_ns]
        first = next((i for i, p in enumerate(polls) if p.stale), None)
        if first is None:
            return [], None
        clean = next((i for i in range(first, len(polls)) if polls[i].stale == 0), None)
        return polls[first:clean], (None if clean is None else clean)

    def stale_span(self, after_ns: int) -> tuple[int, int] | None:
        """(start of the first, end of the last) stale poll of the failover's episode."""
        seen = [p for p in self._episode(after_ns)[0] if p.stale]
        return (seen[0].start_ns, seen[-1].done_ns) if seen else None

    def clean_ns(self, after_ns: int) -> int | None:
        """The end of the poll that closed the failover's episode: every stale key had been
        written again by then."""
        polls = [p for p in self.polls if p.start_ns >= after_ns]
        _, clean = self._episode(after_ns)
        return None if clean is None else polls[clean].done_ns

    def poll_interval_s(self) -> float:
        gaps = sorted(b.start_ns - a.start_ns for a, b in itertools.pairwise(self.polls))
        return gaps[int(0.99 * (len(gaps) - 1))] / NS if gaps else self.interval


@dataclass
class Run:
    report: dict[str, Any]
    watch: FailoverWatch
    observer: Observer
    passed_as_expected: bool
    run_id: str


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory, docker_client: Any) -> Run:
    path = REPO / "drills" / "cache-redis-failover.yaml"
    spec = load_drill(path)
    assert spec.workload.cache is not None
    observer = Observer(docker_client, drill=spec.name)
    watch = FailoverWatch(observer, keys=spec.workload.cache.keys)
    reports = tmp_path_factory.mktemp("reports")
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
    return Run(report, watch, observer, result.exit_code == 0, result.run_id)


# Seen once in CI on 2026-12-02 (1 run of 4): a key cached an older version on the promoted
# cache master until the end of the run (stale_at_end 1), so drillkit's stale window ran to
# 6.7 s (over the drill's 5 s target) and its last stale read came 4.6 s after the observer's
# first clean poll. Whether drillkit or the observer is wrong about that key is not yet known:
# non-strict xfail until it is (the other runs pass; the closing note of issue 17 names it).
STALE_WINDOW_UNEXPLAINED = pytest.mark.xfail(
    strict=False, reason="stale window vs observer disagreement seen once (stale_at_end 1)"
)


@STALE_WINDOW_UNEXPLAINED
def test_only_the_stale_reads_target_fails_as_the_drill_expects(run: Run) -> None:
    r, m = run.report, run.report["measured"]
    assert r["error"] is None, r["error"]
    assert r["verdict"] == "fail" and run.passed_as_expected
    checks = {c["name"]: c["verdict"] for c in r["checks"]}
    assert checks == {
        "max_lost_writes": "pass",
        "max_ghost_reads": "pass",
        "max_stale_reads": "fail",
        "max_cache_stale_window_seconds": "pass",
    }
    assert m["stale_reads"] > 0 and m["ghost_reads"] == 0
    assert 0 < m["cache_stale_window_seconds"] < 5
    # one reader interval (10 ms), or the latency of the read at either end if larger
    assert 0.007 <= m["cache_stale_window_resolution_seconds"] <= 0.5
    (step,) = [e for e in r["timeline"] if e["event"] == "runbook:wait-cache-failover"]
    assert step["value"]["old_master"] == "cache0"
    assert step["value"]["new_master"] == "cache1"


def test_failover_time_matches_the_observer(run: Run) -> None:
    w = run.watch
    assert w.error is None, w.error
    kill = run.observer.first("kill", node="cache0")
    assert kill is not None, "Docker reported no kill of cache0"
    switch = w.switch_ns()
    assert switch is not None, "the observer never saw cache1 become master"
    (step,) = [e for e in run.report["timeline"] if e["event"] == "runbook:wait-cache-failover"]
    end = iso_ns(step["finished_at"])
    assert end is not None
    diff = (switch - end) / NS
    print(
        f"failover: observer {(switch - kill.time_ns) / NS:.3f}s after the kill, drillkit's "
        f"step ended {(end - kill.time_ns) / NS:.3f}s after it; observer - drillkit = "
        f"{diff:+.3f}s (tolerance {FAILOVER_TOLERANCE}s)"
    )
    assert abs(diff) <= FAILOVER_TOLERANCE, diff


@STALE_WINDOW_UNEXPLAINED
def test_stale_window_matches_the_observer(run: Run) -> None:
    w, r = run.watch, run.report
    m, cache = r["measured"], r["cache"]
    kill = run.observer.first("kill", node="cache0")
    fault = iso_ns(r["fault_effective_at"])
    assert kill is not None and fault is not None
    span = w.stale_span(kill.time_ns)
    assert span is not None, "the observer saw no stale key after the failover"
    first = fault + round(cache["stale_first_after_fault_seconds"] * NS)
    last = fault + round(cache["stale_last_after_fault_seconds"] * NS)
    poll = w.poll_interval_s()
    spec = load_drill(REPO / "drills" / "cache-redis-failover.yaml").workload.cache
    assert spec is not None
    key_interval = spec.keys / (spec.readers * spec.reader_rate)
    tol = poll + SLACK
    observed = (span[1] - span[0]) / NS
    print(
        f"stale window: drillkit {m['cache_stale_window_seconds']:.3f}s "
        f"(±{m['cache_stale_window_resolution_seconds']}s, {m['stale_reads']} stale reads, "
        f"+{cache['stale_first_after_fault_seconds']:.3f}..+"
        f"{cache['stale_last_after_fault_seconds']:.3f}s), observer {observed:.3f}s; "
        f"start observer - drillkit {(span[0] - first) / NS:+.3f}s, end observer - drillkit "
        f"{(span[1] - last) / NS:+.3f}s (poll {poll:.3f}s, key interval {key_interval:.2f}s)"
    )
    # drillkit's stale reads were reads of keys the observer saw stale: the first no earlier
    # than the observer's first stale poll (less one poll and the slack), the last done before
    # the observer's first clean poll after it ended (plus the slack: the read's own latency;
    # the gap between two polls varies, so the clean poll, not a typical interval, bounds it)
    clean = w.clean_ns(kill.time_ns)
    assert clean is not None, "the observer never saw the cache clean again"
    # the first stale read may have been invoked while no master answered and served by the
    # new one later: drillkit states that read's latency in the window's resolution
    resolution = m["cache_stale_window_resolution_seconds"]
    assert span[0] - (tol + resolution) * NS <= first, (span[0] - first) / NS
    assert last <= clean + SLACK * NS, (last - clean) / NS
    # a key is read only every key_interval: drillkit may see its last stale key that much early
    assert (span[1] - last) / NS <= key_interval + tol
    assert (first - span[0]) / NS <= key_interval + tol


def test_nothing_is_left_behind(run: Run, docker_client: Any) -> None:
    assert labelled(docker_client, run.run_id) == {"containers": [], "networks": [], "volumes": []}


def test_flush_cache_strikes_the_master_of_the_moment(tmp_path: Path, docker_client: Any) -> None:
    """``flush-cache`` with ``target: cache-master`` after the failover flushes cache1, the
    master the Sentinels promoted, not cache0 (dead) or a node chosen when the drill started.
    Docker's events show the kill of cache0; the FLUSHALL's own answer (the keys it removed)
    and the readers' misses right after it show where it went."""
    doc = yaml.safe_load((REPO / "drills" / "cache-redis-failover.yaml").read_text())
    doc["faults"].append({"kind": "flush-cache", "target": "cache-master", "at": 4})
    doc["workload"]["observe_seconds"] = 4
    path = tmp_path / "flush-master.yaml"
    path.write_text(yaml.safe_dump(doc))
    observer = Observer(docker_client, drill=doc["name"])
    with observer:
        result = run_drill(
            load_drill(path), drill_file=str(path), report_root=tmp_path, progress=lambda _m: None
        )
        observer.attach(result.run_id)
    assert result.error is None, result.error
    kill = observer.first("kill", node="cache0")
    assert kill is not None, "Docker reported no kill of cache0"
    ops = [json.loads(line) for line in (result.report_dir / "history.jsonl").open()]
    (flush,) = [o for o in ops if o["f"] == "flush-cache" and o["type"] == "ok"]
    assert flush["value"]["nodes"] == ["cache1"], flush
    removed = int(flush["extra"]["evidence"].split("FLUSHALL removed ")[1].split()[0])
    assert removed > 0, flush["extra"]["evidence"]  # cache1 held entries: the master in use
    # the readers' next reads of the keys miss: the first read after the flush is a miss
    after = [
        o
        for o in ops
        if o["f"] == "cache-read" and o["type"] == "ok" and o["time_ns"] > flush["time_ns"]
    ]
    assert after and not after[0]["extra"]["hit"], after[:1]
