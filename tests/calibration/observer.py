"""An observer of a drill that owes nothing to drillkit's measurement.

It never reads drillkit's history and never calls its checkers. Its evidence is:

- Docker's own events (``timeNano``) for the run's containers: kill, die, pause, unpause, start,
  stop, and the start/die of the helper containers that install network rules;
- the nodes' own log lines with their own timestamps (PostgreSQL ``log_line_prefix = '%m [%p] '``,
  Redis/Sentinel ``1:M 30 Nov 2026 12:34:56.789``), read with the Docker SDK *before* teardown;
- optionally a by-hand PostgreSQL client (:class:`PgProbe`) writing to its own table
  ``calib_probe``, with its own wall-clock times and its own final read.

All times are wall-clock UTC nanoseconds. drillkit's report (``report.json``, the output under
test) is compared through its ISO times; see :func:`iso_ns`.

Usage::

    with Observer(docker_client, drill="calib-pause") as obs:
        result = run_drill(spec, drill_file=..., report_root=tmp, keep=True, progress=...)
        obs.attach(result.run_id)
        obs.collect_logs()          # before teardown
    obs.teardown()                  # drillkit's sweep of the run (the observer was kept alive)
"""

from __future__ import annotations

import contextlib
import re
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Self

NS = 1_000_000_000
RUN_LABEL = "drillkit.run"
DRILL_LABEL = "drillkit.drill"
HELPER_LABEL = "drillkit.helper"
ACTIONS = {"kill", "die", "pause", "unpause", "start", "stop", "create", "destroy"}
CREDENTIALS_DIR = Path.home() / ".drillkit"

__all__ = [
    "DockerEvent",
    "LogLine",
    "Observer",
    "PgProbe",
    "ProbeOp",
    "ReplayAgeProbe",
    "iso_ns",
]


def iso_ns(text: str | None) -> int | None:
    """An ISO time of report.json (UTC, ms) as wall-clock ns."""
    if not text:
        return None
    t = datetime.fromisoformat(text)
    if t.tzinfo is None:
        t = t.replace(tzinfo=UTC)
    return _exact(t)


def _exact(t: datetime) -> int:
    return int(t.timestamp()) * NS + t.microsecond * 1000


@dataclass(frozen=True)
class DockerEvent:
    time_ns: int
    action: str
    name: str
    labels: dict[str, str]

    @property
    def helper_of(self) -> str | None:
        """The node whose namespace a helper container joined (None for a node)."""
        return self.labels.get(HELPER_LABEL)


@dataclass(frozen=True)
class LogLine:
    node: str
    time_ns: int  # the node's own timestamp (ms), else Docker's capture time
    docker_ns: int  # when Docker captured the line
    text: str


# PostgreSQL '%m ': "2026-11-30 12:34:56.789 UTC"
_PG_PREFIX = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}) (UTC|GMT|[+-]\d\d)\b")
# "last completed transaction was at log time 2026-11-30 12:34:56.123456+00"
_PG_LAST_TXN = re.compile(
    r"last completed transaction was at log time "
    r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)?)([+-]\d\d(?::?\d\d)?)"
)
# Redis and Sentinel: "1:M 30 Nov 2026 12:34:56.789 * ..."
_REDIS_PREFIX = re.compile(r"^\d+:[A-Z] (\d{1,2} [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d\.\d{3}) ")


def _pg_time(stamp: str, zone: str) -> int:
    t = datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S.%f")
    if zone in ("UTC", "GMT"):
        return _exact(t.replace(tzinfo=UTC))
    return _exact(datetime.fromisoformat(f"{stamp}{zone}:00"))


def _docker_time(stamp: str) -> int:
    """Docker's log timestamp '2026-11-30T12:34:56.123456789Z' as ns."""
    whole, _, frac = stamp.rstrip("Z").partition(".")
    base = datetime.fromisoformat(whole).replace(tzinfo=UTC)
    return int(base.timestamp()) * NS + int((frac + "000000000")[:9])


def parse_log_line(node: str, raw: str) -> LogLine | None:
    """One ``docker logs --timestamps`` line: Docker's time, then the node's own text."""
    stamp, _, text = raw.partition(" ")
    try:
        docker_ns = _docker_time(stamp)
    except ValueError:
        return None
    own = docker_ns
    if m := _PG_PREFIX.match(text):
        own = _pg_time(m.group(1), m.group(2))
    elif m := _REDIS_PREFIX.match(text):
        t = datetime.strptime(m.group(1), "%d %b %Y %H:%M:%S.%f").replace(tzinfo=UTC)
        own = _exact(t)
    return LogLine(node, own, docker_ns, text)


def last_completed_txn_ns(line: LogLine) -> int | None:
    """The commit time in a 'last completed transaction was at log time' line, else None."""
    m = _PG_LAST_TXN.search(line.text)
    if m is None:
        return None
    zone = m.group(2)
    if len(zone) == 3:
        zone += ":00"
    return _exact(datetime.fromisoformat(m.group(1) + zone))


class Observer:
    """Docker events of drillkit's containers, and the nodes' logs, for one drill run."""

    def __init__(self, client: Any, *, drill: str | None = None) -> None:
        self.client = client
        self.drill = drill
        self.run_id: str | None = None
        self._events: list[DockerEvent] = []
        self._lock = threading.Lock()
        self._stream: Any = None
        self._thread: threading.Thread | None = None
        self.run_seen = threading.Event()  # set when the first event of this drill's run arrives
        self.logs: dict[str, list[LogLine]] = {}

    # -- events ------------------------------------------------------------------------------
    def __enter__(self) -> Observer:
        self._stream = self.client.events(
            decode=True, filters={"type": "container", "label": RUN_LABEL}
        )
        self._thread = threading.Thread(target=self._pump, name="calib-events", daemon=True)
        self._thread.start()
        return self

    def _pump(self) -> None:
        with contextlib.suppress(Exception):  # closing the stream ends the loop with an error
            for ev in self._stream:
                self._record(ev)

    def _record(self, ev: dict[str, Any]) -> None:
        action = str(ev.get("Action") or ev.get("status") or "").split(":")[0]
        if action not in ACTIONS:
            return
        attrs = dict((ev.get("Actor") or {}).get("Attributes") or {})
        name = attrs.pop("name", "")
        event = DockerEvent(int(ev["timeNano"]), action, name, attrs)
        with self._lock:
            self._events.append(event)
        mine = self.drill is None or attrs.get(DRILL_LABEL) == self.drill
        if mine and self.run_id is None and action == "start":
            self.run_id = attrs.get(RUN_LABEL)
            self.run_seen.set()

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        time.sleep(0.3)  # let the engine deliver the last events of the run
        if self._stream is not None:
            with contextlib.suppress(Exception):
                self._stream.close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def attach(self, run_id: str) -> None:
        self.run_id = run_id

    def events(self, action: str | None = None, *, node: str | None = None) -> list[DockerEvent]:
        """Events of the attached run's *node* containers (helpers excluded), in time order."""
        with self._lock:
            evs = [e for e in self._events if e.labels.get(RUN_LABEL) == self.run_id]
        evs = [e for e in evs if e.helper_of is None]
        if action is not None:
            evs = [e for e in evs if e.action == action]
        if node is not None:
            evs = [e for e in evs if self.node_name(e.name) == node]
        return sorted(evs, key=lambda e: e.time_ns)

    def helper_events(self, action: str | None = None) -> list[DockerEvent]:
        """Events of the network-namespace helper containers of the attached run."""
        with self._lock:
            evs = [
                e
                for e in self._events
                if e.labels.get(RUN_LABEL) == self.run_id and e.helper_of is not None
            ]
        if action is not None:
            evs = [e for e in evs if e.action == action]
        return sorted(evs, key=lambda e: e.time_ns)

    def first(self, action: str, *, node: str | None = None, after: int = 0) -> DockerEvent | None:
        return next((e for e in self.events(action, node=node) if e.time_ns >= after), None)

    def node_name(self, container: str) -> str:
        """drillkit names containers dk-<last 12 chars of the run id>-<node>."""
        prefix = f"dk-{(self.run_id or '')[-12:]}-"
        return container[len(prefix) :] if container.startswith(prefix) else container

    # -- logs --------------------------------------------------------------------------------
    def collect_logs(self) -> dict[str, list[LogLine]]:
        """Read every node container's log (with Docker's timestamps) before teardown."""
        flt = {"label": [f"{RUN_LABEL}={self.run_id}"]}
        for c in self.client.containers.list(all=True, filters=flt):
            if HELPER_LABEL in (c.labels or {}):
                continue
            node = self.node_name(c.name)
            raw = bytes(c.logs(timestamps=True)).decode("utf-8", "replace")
            lines = [parse_log_line(node, r) for r in raw.splitlines()]
            self.logs[node] = [x for x in lines if x is not None]
        return self.logs

    def log_lines(self, pattern: str, *, node: str | None = None) -> list[LogLine]:
        rx = re.compile(pattern)
        out = [
            line
            for n, lines in self.logs.items()
            if node is None or n == node
            for line in lines
            if rx.search(line.text)
        ]
        return sorted(out, key=lambda x: x.time_ns)

    def promoted_node(self) -> str | None:
        """The PostgreSQL node that logged 'received promote request' (the last one to)."""
        lines = self.log_lines(r"received promote request")
        return lines[-1].node if lines else None

    def last_completed_txn(self, node: str) -> int | None:
        """Commit time of the newest transaction ``node`` replayed before its promotion."""
        for line in reversed(self.log_lines(r"last completed transaction", node=node)):
            t = last_completed_txn_ns(line)
            if t is not None:
                return t
        return None

    def ready_after(self, node: str, after: int) -> int | None:
        """When ``node`` logged 'database system is ready to accept connections' after ``after``."""
        rx = r"database system is ready to accept connections"
        return next((x.time_ns for x in self.log_lines(rx, node=node) if x.time_ns >= after), None)

    # -- teardown ----------------------------------------------------------------------------
    def teardown(self) -> None:
        """Remove the run's resources with drillkit's own sweep, and the kept credentials."""
        from drillkit.resources import sweep

        if self.run_id is None:
            return
        sweep(self.client, self.run_id)
        for suffix in (".pgpass", ".redis-auth"):
            with contextlib.suppress(FileNotFoundError):
                (CREDENTIALS_DIR / f"{self.run_id}{suffix}").unlink()


# -- the by-hand PostgreSQL client ------------------------------------------------------------
@dataclass(frozen=True)
class ProbeOp:
    id: int
    invoked_ns: int
    done_ns: int
    status: str  # ok | fail | info
    error: str = ""


class _Background:
    """Run ``_loop`` in a daemon thread from ``__enter__`` until ``stop``; an exception is kept
    in ``error`` for the test to report, never hidden."""

    error: str | None
    _stop: threading.Event
    _thread: threading.Thread | None

    def _loop(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        self._thread = threading.Thread(target=self._run, name=type(self).__name__, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _run(self) -> None:
        try:
            self._loop()
        except Exception as e:
            self.error = f"{type(e).__name__}: {e}"


@dataclass
class PgProbe(_Background):
    """A second, hand-written client: ``rate`` inserts/s into its own table ``calib_probe``.

    It connects the way an application does after a failover (multi-host, read-write), through
    the password file drillkit leaves for a kept topology (``~/.drillkit/<run>.pgpass``).
    """

    observer: Observer
    rate: float = 100.0
    ops: list[ProbeOp] = field(default_factory=list)
    survivors: set[int] | None = None
    error: str | None = None
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def _conninfo(self) -> str | None:
        run_id = self.observer.run_id
        if run_id is None:
            return None
        passfile = CREDENTIALS_DIR / f"{run_id}.pgpass"
        if not passfile.exists():
            return None
        ports = []
        for line in passfile.read_text().splitlines():
            host, port, _db, user, *_rest = line.split(":")
            if user == "postgres" and host == "127.0.0.1" and port not in ports:
                ports.append(port)
        if not ports:
            return None
        return (
            f"host={','.join('127.0.0.1' for _ in ports)} port={','.join(ports)} "
            f"user=postgres dbname=postgres passfile={passfile} connect_timeout=2 "
            "target_session_attrs=read-write"
        )

    def _loop(self) -> None:
        import psycopg

        conninfo = None
        while conninfo is None and not self._stop.is_set():
            self.observer.run_seen.wait(0.2)
            conninfo = self._conninfo()
            if conninfo is None:
                time.sleep(0.1)
        if conninfo is None:
            return
        self.conninfo = conninfo
        conn: Any = None
        interval = 1.0 / self.rate
        next_at = time.monotonic()
        n = 0
        while not self._stop.is_set():
            next_at += interval
            n += 1
            t0 = time.time_ns()
            try:
                if conn is None:
                    conn = psycopg.connect(conninfo, autocommit=True)
                    conn.execute(
                        "CREATE TABLE IF NOT EXISTS calib_probe (id bigint PRIMARY KEY, "
                        "t timestamptz NOT NULL DEFAULT clock_timestamp())"
                    )
                conn.execute("INSERT INTO calib_probe (id) VALUES (%s)", (n,))
                self.ops.append(ProbeOp(n, t0, time.time_ns(), "ok"))
            except psycopg.Error as e:
                # Unknown, not failed, when the request may have reached the server.
                status = "fail" if conn is None else "info"
                self.ops.append(ProbeOp(n, t0, time.time_ns(), status, str(e)[:200]))
                if conn is not None:
                    with contextlib.suppress(Exception):
                        conn.close()
                conn = None
            delay = next_at - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            else:
                next_at = time.monotonic()
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.close()

    def reconnect_seconds(self, samples: int = 5) -> float | None:
        """What one new connection costs a client right now (connect, authenticate, one
        statement), the slowest of ``samples``: drillkit's RTO after a pause is late by one such
        reconnection (its writer abandoned the frozen connection at its deadline)."""
        import psycopg

        conninfo = self._conninfo()
        if conninfo is None:
            return None
        worst = 0.0
        for _ in range(samples):
            t0 = time.monotonic()
            with psycopg.connect(conninfo, autocommit=True) as conn:
                conn.execute("SELECT 1")
            worst = max(worst, time.monotonic() - t0)
        return worst

    def final_read(self) -> set[int]:
        """Every id of ``calib_probe`` on the node that takes writes now (before teardown)."""
        import psycopg

        conninfo = getattr(self, "conninfo", None) or self._conninfo()
        if conninfo is None:
            raise RuntimeError("the probe never found the run's password file")
        with psycopg.connect(conninfo, autocommit=True) as conn:
            rows = conn.execute("SELECT id FROM calib_probe").fetchall()
        self.survivors = {int(r[0]) for r in rows}
        return self.survivors

    # -- what it saw ---------------------------------------------------------------------------
    def acked(self) -> list[ProbeOp]:
        return [o for o in self.ops if o.status == "ok"]

    def lost(self) -> list[ProbeOp]:
        if self.survivors is None:
            raise RuntimeError("final_read() first")
        return [o for o in self.acked() if o.id not in self.survivors]

    def first_failure_after(self, t_ns: int) -> ProbeOp | None:
        return next((o for o in self.ops if o.status != "ok" and o.done_ns >= t_ns), None)

    def first_ok_after_outage(self, t_ns: int) -> ProbeOp | None:
        """The first acknowledged write invoked after the first failure that follows ``t_ns``."""
        first_fail = self.first_failure_after(t_ns)
        if first_fail is None:
            return None
        return next(
            (o for o in self.ops if o.status == "ok" and o.invoked_ns > first_fail.invoked_ns),
            None,
        )


@dataclass(frozen=True)
class ProbeRead:
    invoked_ns: int
    done_ns: int
    found: tuple[bool, ...]  # per sampled id; an unanswered read finds nothing


@dataclass
class RedisReadProbe(_Background):
    """A hand-written Redis reader: samples the *oldest* ids in drillkit's set early in the drill,
    then asks every ``interval`` seconds which of them are there (``SMISMEMBER``), on the node
    that was master when the run started. It tells when data vanished and when it was served again.

    "Served again" is judged on the sampled ids that are there at the end (the restore may bring
    back an older snapshot than the sample; the oldest ids are in every non-empty snapshot, so at
    least one sampled id is always judged).

    It finds the master's port from Docker (the port published on 127.0.0.1) and the password in
    the file drillkit leaves for a kept topology (``~/.drillkit/<run>.redis-auth``).
    """

    observer: Observer
    key: str = "drillkit:ids"
    sample: int = 20
    interval: float = 0.005
    reads: list[ProbeRead] = field(default_factory=list)
    sampled: list[int] = field(default_factory=list)
    error: str | None = None
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def _master(self) -> tuple[int, str] | None:
        run_id = self.observer.run_id
        if run_id is None:
            return None
        auth = CREDENTIALS_DIR / f"{run_id}.redis-auth"
        if not auth.exists():
            return None
        flt = {"label": [f"{RUN_LABEL}={run_id}", "drillkit.role=primary"]}
        for c in self.observer.client.containers.list(filters=flt):
            ports = (c.ports or {}).get("6379/tcp") or []
            for p in ports:
                if p.get("HostIp") == "127.0.0.1":
                    return int(p["HostPort"]), auth.read_text().strip()
        return None

    def _loop(self) -> None:
        import redis

        found = None
        while found is None and not self._stop.is_set():
            self.observer.run_seen.wait(0.2)
            found = self._master()
            if found is None:
                time.sleep(0.1)
        if found is None:
            return
        port, password = found
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        client = redis.Redis(
            host="127.0.0.1",
            retry=Retry(NoBackoff(), 0),  # no hidden retries: a failed read is a miss
            port=port,
            password=password,
            socket_timeout=0.5,
            socket_connect_timeout=0.5,
        )
        while not self._stop.is_set() and not self.sampled:
            try:
                if int(client.scard(self.key)) >= 4 * self.sample:
                    members = client.sort(self.key, start=0, num=self.sample) or []
                    self.sampled = [int(m) for m in members]
            except redis.RedisError:
                pass
            time.sleep(0.05)
        while not self._stop.is_set():
            t0 = time.time_ns()
            try:
                found = tuple(bool(f) for f in client.smismember(self.key, self.sampled))
            except redis.RedisError:
                found = (False,) * len(self.sampled)
            self.reads.append(ProbeRead(t0, time.time_ns(), found))
            time.sleep(self.interval)
        client.close()

    def survivors(self) -> list[int]:
        """Indexes of the sampled ids the last read found (what the restore brought back)."""
        last = self.reads[-1].found if self.reads else ()
        return [i for i, f in enumerate(last) if f]

    def _present(self, read: ProbeRead, judged: list[int]) -> bool:
        return bool(judged) and all(read.found[i] for i in judged)

    def first_missing_after(self, t_ns: int) -> ProbeRead | None:
        judged = self.survivors()
        return next(
            (r for r in self.reads if not self._present(r, judged) and r.done_ns >= t_ns), None
        )

    def served_again_after(self, t_ns: int) -> ProbeRead | None:
        """The first read after the data went missing (from ``t_ns`` on) that found it all."""
        missing = self.first_missing_after(t_ns)
        if missing is None:
            return None
        judged = self.survivors()
        return next(
            (
                r
                for r in self.reads
                if self._present(r, judged) and r.invoked_ns > missing.invoked_ns
            ),
            None,
        )


@dataclass
class ReplayAgeProbe(_Background):
    """A hand-written client of the replica: every ``interval`` seconds it asks the replica how
    old its newest replayed transaction is, by the server's own clocks
    (``clock_timestamp() - pg_last_xact_replay_timestamp()``: the commit time the primary wrote
    into the WAL, as replayed). With writes arriving every few milliseconds that age is how far
    behind the replica serves; its largest value is the staleness of a paused replay.

    It finds the replica's port from Docker (``drillkit.role=replica``, published on 127.0.0.1)
    and the password in the file drillkit leaves for a kept topology (``<run>.pgpass``).
    """

    observer: Observer
    interval: float = 0.01
    ages: list[tuple[int, float]] = field(default_factory=list)  # (wall ns, age in seconds)
    error: str | None = None
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def _conninfo(self) -> str | None:
        run_id = self.observer.run_id
        if run_id is None:
            return None
        passfile = CREDENTIALS_DIR / f"{run_id}.pgpass"
        if not passfile.exists():
            return None
        flt = {"label": [f"{RUN_LABEL}={run_id}", "drillkit.role=replica"]}
        for c in self.observer.client.containers.list(filters=flt):
            for p in (c.ports or {}).get("5432/tcp") or []:
                if p.get("HostIp") == "127.0.0.1":
                    return (
                        f"host=127.0.0.1 port={p['HostPort']} user=postgres dbname=postgres "
                        f"passfile={passfile} connect_timeout=2"
                    )
        return None

    def _loop(self) -> None:
        import psycopg

        conninfo = None
        while conninfo is None and not self._stop.is_set():
            self.observer.run_seen.wait(0.2)
            conninfo = self._conninfo()
            if conninfo is None:
                time.sleep(0.1)
        if conninfo is None:
            return
        query = (
            "SELECT extract(epoch FROM clock_timestamp() - pg_last_xact_replay_timestamp())::float8"
        )
        conn: Any = None
        while not self._stop.is_set():
            try:
                if conn is None:
                    conn = psycopg.connect(conninfo, autocommit=True)
                row = conn.execute(query).fetchone()
                if row is not None and row[0] is not None:
                    self.ages.append((time.time_ns(), float(row[0])))
            except psycopg.Error:
                if conn is not None:
                    with contextlib.suppress(Exception):
                        conn.close()
                conn = None
            time.sleep(self.interval)
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.close()

    def largest_age(self) -> float | None:
        return max((age for _, age in self.ages), default=None)
