"""Run the restore drills and print, per drill, what each part of recovery cost beside its floor.

    .venv/bin/python bench/bench_restore.py [--drills failover-sync,pitr-restore,...]
                                            [--keep-reports DIR] [--verbose]

Per drill: provisioning (topology ready), each runbook step's duration, achieved RTO and RPO, and
the intrinsic floor RTO should approach:

- failover-sync: the declared decision delay + the promote step (pg_promote, ~0.1 s server-side)
- pitr-restore, site-loss: the delay + the restore's copy (``pgbackrest restore``) + WAL replay
  up to promotion, as the restored node's entrypoint and the step measured them
- patroni-failover, primary-partition: ttl - loop_wait, the earliest the dead or cut-off
  leader's key can expire (its last renewal was at most loop_wait before the fault)

RPO is set beside what bounds it: 0 for sync replication; archive_timeout for a restore from the
archive alone; for primary-partition, how long the cut-off leader kept acknowledging writes
(Patroni demotes it after about loop_wait + retry_timeout).

Drills run one after another in this process (about 3 minutes for all five on 2 cores). A
benchmark never fails: the exit status is 0 whatever was measured (130 on Ctrl-C). Each drill
removes its own containers; the benchmark sweeps the run ids it started once more at the end.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from drillkit.drill import DrillResult, run_drill
from drillkit.resources import connect_engine, sweep
from drillkit.spec import load_drill

ROOT = Path(__file__).resolve().parent.parent
DRILLS = ("failover-sync", "pitr-restore", "site-loss", "patroni-failover", "primary-partition")
err = Console(stderr=True, highlight=False)


@dataclass
class Figures:
    drill: str
    ready_s: float | None = None
    wall_s: float = 0.0
    steps: list[tuple[str, float, str]] = field(default_factory=list)  # name, seconds, status
    rto_s: float | None = None
    rpo_s: float | None = None
    lost: int | None = None
    floor_s: float | None = None
    floor_basis: str = ""
    rpo_bound: str = ""
    verdict: str = "?"
    error: str | None = None


def _f(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _steps(report: dict[str, Any]) -> list[tuple[str, float, str]]:
    return [
        (e["event"].removeprefix("runbook:"), float(e.get("duration_seconds") or 0.0), e["status"])
        for e in report["timeline"]
        if e["event"].startswith("runbook:")
    ]


def _value(report: dict[str, Any], step: str) -> dict[str, Any]:
    for e in report["timeline"]:
        if e["event"] == f"runbook:{step}" and isinstance(e.get("value"), dict):
            return dict(e["value"])
    return {}


def _floor(name: str, report: dict[str, Any], fig: Figures) -> None:
    """The intrinsic floor of RTO and what bounds RPO, for each kind of drill."""
    spec = report["spec"]
    topology = spec["topology"]
    delay = sum(float(s.get("delay_seconds", 0.0)) for s in spec["runbook"])
    durations = {n: s for n, s, _ in fig.steps}
    if "promote" in durations:
        fig.floor_s = delay + durations["promote"]
        fig.floor_basis = f"delay {delay:g} s + promote {durations['promote']:.2f} s"
    restore = _value(report, "restore").get("seconds") or {}
    if restore.get("restore_copy") is not None:
        copy, replay = float(restore["restore_copy"]), float(restore["replay_and_promote"])
        fig.floor_s = delay + copy + replay
        fig.floor_basis = f"delay {delay:g} s + copy {copy:.2f} s + replay {replay:.2f} s"
    if topology["kind"] == "patroni":
        fig.floor_s = float(topology["ttl"] - topology["loop_wait"])
        fig.floor_basis = f"ttl {topology['ttl']} s - loop_wait {topology['loop_wait']} s"
    if topology.get("replication") == "sync" and topology["kind"] == "postgres":
        fig.rpo_bound = "0 (sync)"
    elif (topology.get("pgbackrest") or {}).get("archive_timeout_seconds") is not None:
        at = topology["pgbackrest"]["archive_timeout_seconds"]
        kind = _value(report, "restore").get("type")
        fig.rpo_bound = f"<= archive_timeout {at} s" if kind == "latest" else "target = fault"
    window = report["measured"].get("lost_window_seconds")
    if name == "primary-partition" and window:
        bound = topology["loop_wait"] + topology["retry_timeout"]
        fig.rpo_bound = f"acked alone for {window[1]:.1f} s (~{bound} s bound)"


def bench_drill(name: str, reports: Path, verbose: bool, run_ids: list[str]) -> Figures:
    fig = Figures(name)
    path = ROOT / "drills" / f"{name}.yaml"

    def progress(message: str) -> None:
        if verbose:
            err.print(f"[dim]  {name}:[/dim] {message}")

    started = time.perf_counter()
    result: DrillResult = run_drill(
        load_drill(path), drill_file=str(path), report_root=reports, progress=progress
    )
    run_ids.append(result.run_id)
    fig.wall_s = time.perf_counter() - started
    report = result.report
    measured = report["measured"]
    fig.ready_s = report["context"].get("topology_ready_seconds")
    fig.steps = _steps(report)
    fig.rto_s, fig.rpo_s, fig.lost = (
        measured["rto_seconds"],
        measured["rpo_seconds"],
        measured["lost_writes"],
    )
    fig.verdict = report["verdict"]
    fig.error = result.error.splitlines()[0] if result.error else None
    _floor(name, report, fig)
    return fig


def table(figures: list[Figures]) -> Table:
    t = Table(title="restore drills: where recovery time went (seconds)")
    for column in (
        "drill",
        "ready",
        "runbook steps",
        "RTO",
        "floor",
        "RTO-floor",
        "RPO",
        "RPO bound",
        "lost",
        "verdict",
    ):
        t.add_column(column, overflow="fold")
    for f in figures:
        steps = ", ".join(
            f"{n} {s:.2f}" + ("" if status == "ok" else f" ({status})")
            for n, s, status in f.steps
            if n != "delay"
        )
        excess = None if f.rto_s is None or f.floor_s is None else f.rto_s - f.floor_s
        t.add_row(
            f.drill,
            _f(f.ready_s),
            steps or "-",
            _f(f.rto_s),
            f"{_f(f.floor_s)} ({f.floor_basis})" if f.floor_basis else "-",
            "-" if excess is None else f"{excess:+.2f}",
            _f(f.rpo_s, 3),
            f.rpo_bound or "-",
            "-" if f.lost is None else str(f.lost),
            f.verdict + (f" ({f.error})" if f.error else ""),
        )
    return t


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--drills", default=",".join(DRILLS), help="comma-separated drill names")
    parser.add_argument("--keep-reports", type=Path, help="keep the drills' evidence here")
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.drills.split(",") if n.strip()]
    run_ids: list[str] = []
    figures: list[Figures] = []
    client = connect_engine()
    try:
        with tempfile.TemporaryDirectory(prefix="drillkit-bench-restore-") as tmp:
            reports = (args.keep_reports or Path(tmp)).resolve()
            for name in names:
                err.print(f"[dim]bench[/dim] running {name}")
                fig = bench_drill(name, reports, args.verbose, run_ids)
                err.print(
                    f"[dim]bench[/dim] {name}: {fig.wall_s:.1f} s, RTO {_f(fig.rto_s)} s, "
                    f"RPO {_f(fig.rpo_s, 3)} s, {fig.verdict}"
                )
                figures.append(fig)
    except KeyboardInterrupt:
        err.print("interrupted")
        return 130
    finally:
        for run_id in run_ids:
            left = sweep(client, run_id)
            if left:
                err.print(f"[dim]bench[/dim] swept leftovers of {run_id}: {left.summary()}")
        if figures:
            Console(width=200).print(table(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
