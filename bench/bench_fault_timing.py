"""Measure each fault kind's request->effective latency and the error of its recorded effective
time against an observer that never reads drillkit's history.

    .venv/bin/python bench/bench_fault_timing.py [--repeat N]

Observers (a primary pg0 and one streaming replica pg1; faults act on pg1 unless noted):

- kill / pause / stop: Docker's own events for the container (``die`` / ``pause`` / ``die``,
  ``timeNano``), converted wall -> monotonic.
- isolate / cut-link / partition / packet-loss 100 %: a by-hand psycopg loop inserts ids into pg0
  as fast as it can; after the fault the replica is asked for its newest id. The observed cut is
  the acknowledgement time of the last write that reached the replica (the next write's ack is
  at most ``gap`` later: the observer's resolution).
- cut-client on pg0: the same loop; the observed cut is the invoke time of the first write that
  stalled (its answer never came while the rules were in).

error = recorded effective_ns - observed time (positive: drillkit dates the effect late).
A benchmark never fails: exit status 0 whatever was measured. Everything is labelled and swept.
"""

from __future__ import annotations

import argparse
import secrets
import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import psycopg
from rich.console import Console
from rich.table import Table

from drillkit.faults import make_fault
from drillkit.faults.base import wall_to_monotonic_ns
from drillkit.history import History, Op
from drillkit.images import ensure_images
from drillkit.resources import connect_engine, labels_for, sweep
from drillkit.secrets import Secrets
from drillkit.spec.faults import FAULT_SPECS
from drillkit.spec.postgres import PostgresTopology
from drillkit.topology.postgres import PostgresCluster

NS = 1_000_000_000
STALL_NS = 100_000_000  # a write slower than this stalled on the cut
err = Console(stderr=True, highlight=False)


@dataclass
class Sample:
    latency_ms: float
    error_ms: float
    resolution_ms: float
    how: str
    answer_error_ms: float | None = None  # kill/stop: vs the node's last answer to a reader


@dataclass
class Kind:
    name: str
    fields: dict[str, Any]
    observer: str
    samples: list[Sample] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


class Writer(threading.Thread):
    """A by-hand writer: ids in order, each with its invoke and ack times (monotonic ns)."""

    def __init__(self, conninfo: str, first: int) -> None:
        super().__init__(daemon=True)
        self.conninfo, self.next = conninfo, first
        self.done: list[tuple[int, int, int]] = []  # id, invoke, ack
        self.pending: tuple[int, int] | None = None
        self.stop = threading.Event()

    def run(self) -> None:
        with psycopg.connect(self.conninfo, autocommit=True) as conn:
            while not self.stop.is_set():
                self.pending = (self.next, time.monotonic_ns())
                conn.execute("INSERT INTO bench_t (id) VALUES (%s)", (self.next,))
                self.done.append((self.next, self.pending[1], time.monotonic_ns()))
                self.pending = None
                self.next += 1


class Reader(threading.Thread):
    """Asks a node ``SELECT 1`` in a loop until it stops answering: its last answer's time."""

    def __init__(self, conninfo: str) -> None:
        super().__init__(daemon=True)
        self.conninfo = conninfo
        self.last_ns = 0
        self.ready = threading.Event()

    def run(self) -> None:
        try:
            with psycopg.connect(self.conninfo, autocommit=True) as conn:
                while True:
                    conn.execute("SELECT 1")
                    self.last_ns = time.monotonic_ns()
                    self.ready.set()
        except psycopg.Error:
            self.ready.set()


def _completion(history: History, f: str) -> Op:
    return next(op for op in reversed(history.ops()) if op.f == f and op.is_completion)


def _replica_max(pg: PostgresCluster) -> int:
    rows = pg.query(pg.node("pg1"), "SELECT coalesce(max(id), 0) AS m FROM bench_t")
    return int(rows[0]["m"])


def _wait(predicate: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise RuntimeError("timed out waiting for the cluster to settle")
        time.sleep(0.1)


def _streaming(pg: PostgresCluster) -> bool:
    try:
        rows = pg.replication_status(pg.node("pg0"))
        return sum(r["state"] == "streaming" for r in rows) == 1
    except psycopg.Error:
        return False


def _network_sample(pg: PostgresCluster, kind: Kind, first: int) -> Sample:
    history = History()
    writer = Writer(pg.conninfo([pg.node("pg0")], connect_timeout=2), first)
    writer.start()
    time.sleep(0.3)
    fault = make_fault(FAULT_SPECS[kind.name](kind=kind.name, **kind.fields))
    fault.inject(pg, history)
    try:
        time.sleep(0.5)
        if kind.name == "cut-client":
            stalled = [w for w in writer.done if w[2] - w[1] > STALL_NS]
            pending = writer.pending
            observed = stalled[0][1] if stalled else (pending[1] if pending else 0)
            before = [w for w in writer.done if w[2] < observed]
            resolution = observed - (before[-1][2] if before else observed)
        else:
            last = _replica_max(pg)
            acks = {i: ack for i, _, ack in writer.done}
            observed = acks[last]
            resolution = acks.get(last + 1, observed) - observed
    finally:
        fault.heal(pg, history)
    writer.stop.set()
    writer.join(30)
    _wait(lambda: _streaming(pg) and _replica_max(pg) >= writer.next - 1)
    done = _completion(history, kind.name)
    effective, requested = done.extra["effective_ns"], done.extra["requested_ns"]
    return Sample(
        (effective - requested) / 1e6,
        (effective - observed) / 1e6,
        resolution / 1e6,
        done.extra["effective_by"],
    )


EVENT = {"kill": "die", "pause": "pause", "stop": "die"}


def _process_sample(pg: PostgresCluster, kind: Kind, client: Any) -> Sample:
    node = pg.node("pg1")
    history = History()
    reader = Reader(pg.conninfo([node], connect_timeout=2))
    if kind.name != "pause":
        reader.start()
        reader.ready.wait(5)
    since = time.time()
    fault = make_fault(FAULT_SPECS[kind.name](kind=kind.name, target="pg1", **kind.fields))
    fault.inject(pg, history)
    done = _completion(history, kind.name)
    fault.heal(pg, history)
    if node.status() != "running":
        node.container.start()
    events = client.events(
        decode=True,
        since=int(since),
        until=int(time.time()) + 1,
        filters={"container": node.container.id},
    )
    stamps = [
        int(e["timeNano"])
        for e in events
        if e.get("Action") == EVENT[kind.name] and int(e["timeNano"]) >= since * NS
    ]
    if not stamps:
        raise RuntimeError(f"no {EVENT[kind.name]} event for {node.name}")
    observed = wall_to_monotonic_ns(stamps[0])
    _wait(lambda: _streaming(pg))
    effective, requested = done.extra["effective_ns"], done.extra["requested_ns"]
    answered = (effective - reader.last_ns) / 1e6 if reader.last_ns else None
    return Sample(
        (effective - requested) / 1e6,
        (effective - observed) / 1e6,
        0.0,
        done.extra["effective_by"],
        answered,
    )


KINDS = [
    ("kill", {}, "docker die event"),
    ("pause", {}, "docker pause event"),
    ("stop", {"timeout_seconds": 5}, "docker die event"),
    ("isolate", {"target": "pg1"}, "last write on the replica"),
    ("cut-link", {"between": ["pg0", "pg1"]}, "last write on the replica"),
    ("partition", {"groups": [["pg0"], ["pg1"]]}, "last write on the replica"),
    ("packet-loss", {"target": "pg1", "percent": 100}, "last write on the replica"),
    ("cut-client", {"target": "pg0"}, "first stalled write"),
]


def _fmt(values: list[float]) -> str:
    return f"{statistics.median(values):.1f} [{min(values):.1f}..{max(values):.1f}]"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    client = connect_engine()
    images = ensure_images(client, allow_pull=False, progress=lambda m: err.print(m))
    run_id = f"bench-timing-{secrets.token_hex(3)}"
    kinds = [Kind(name, fields, observer) for name, fields, observer in KINDS]
    try:
        with PostgresCluster(
            client,
            PostgresTopology(replicas=1),
            run_id=run_id,
            labels=labels_for(run_id, "bench-timing"),
            image=images.postgres,
            secrets=Secrets.generate("postgres", "replicator"),
            progress=lambda _m: None,
        ) as pg:
            pg.query(pg.node("pg0"), "CREATE TABLE bench_t (id bigint PRIMARY KEY)")
            _wait(lambda: _streaming(pg))
            first = 1
            for kind in kinds:
                for _ in range(args.repeat):
                    try:
                        if kind.name in EVENT:
                            kind.samples.append(_process_sample(pg, kind, client))
                        else:
                            kind.samples.append(_network_sample(pg, kind, first))
                            first += 1_000_000
                    except Exception as e:  # a benchmark reports, it never fails
                        kind.problems.append(f"{type(e).__name__}: {e}")
                err.print(f"{kind.name}: {len(kind.samples)} samples")
    finally:
        sweep(client, run_id)
    table = Table(title="fault effective time vs an independent observer (ms; median [min..max])")
    for column in (
        "kind",
        "n",
        "request->effective",
        "effective-time error",
        "observer res.",
        "observer",
        "vs last answer",
        "effective_by",
    ):
        table.add_column(column)
    for kind in kinds:
        s = kind.samples
        if not s:
            table.add_row(
                kind.name, "0", "-", "-", "-", kind.observer, "-", "; ".join(kind.problems)
            )
            continue
        answers = [x.answer_error_ms for x in s if x.answer_error_ms is not None]
        table.add_row(
            kind.name,
            str(len(s)),
            _fmt([x.latency_ms for x in s]),
            _fmt([x.error_ms for x in s]),
            _fmt([x.resolution_ms for x in s]),
            kind.observer,
            _fmt(answers) if answers else "-",
            sorted({x.how for x in s})[0],
        )
    Console(width=200).print(table)
    for kind in kinds:
        for problem in kind.problems:
            err.print(f"{kind.name}: {problem}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
