"""The RTO cost of TLS: the same drill with ``topology.tls`` off and on, a few times each.

    PYTHONPATH=src .venv/bin/python bench/bench_tls.py [--repeat N] [--drills a,b]

(default: --repeat 3 --drills failover,redis-failover).

Each drill file is run as shipped (TLS off) and with ``topology.tls: true``, alternating, so slow
drift of the machine affects both. Per drill and mode the table gives the achieved RTO (median,
min, max), the provisioning time (topology ready), acknowledged writes, the verdicts, and the
difference of the RTO medians (TLS minus plain). The RTO includes the client's reconnect: with
TLS that is a TCP connect plus a TLS handshake (and for PostgreSQL a SCRAM exchange inside it).
Like every benchmark it asserts nothing and exits 0 whatever was measured (130 on Ctrl-C); each
drill run sweeps its own containers. Run it under the drills lock
(``flock /tmp/drillkit-drills.lock ...``): timings disturb each other.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "src")]

from drillkit.checkers.run_ops import TOPOLOGY  # noqa: E402
from drillkit.drill import run_drill  # noqa: E402
from drillkit.history import read_history  # noqa: E402
from drillkit.spec import DrillSpec, load_drill  # noqa: E402

err = Console(stderr=True, highlight=False)


@dataclass
class Sample:
    rto: list[float] = field(default_factory=list)
    ready: list[float] = field(default_factory=list)
    acked: list[int] = field(default_factory=list)
    verdicts: list[str] = field(default_factory=list)


def _spec(name: str, tls: bool) -> DrillSpec:
    spec = load_drill(ROOT / "drills" / f"{name}.yaml")
    return spec.model_copy(update={"topology": spec.topology.model_copy(update={"tls": tls})})


def _once(name: str, tls: bool, reports: Path, into: Sample) -> None:
    result = run_drill(
        _spec(name, tls),
        drill_file=f"drills/{name}.yaml",
        report_root=reports,
        progress=lambda _m: None,
    )
    if result.error is not None:
        into.verdicts.append(f"error: {str(result.error)[:60]}")
        return
    report = json.loads((result.report_dir / "report.json").read_text())
    measured = report["measured"]
    into.verdicts.append(str(report["verdict"]))
    if measured.get("rto_seconds") is not None:
        into.rto.append(float(measured["rto_seconds"]))
    into.acked.append(int(measured.get("acknowledged_writes") or 0))
    for op in read_history(result.report_dir / "history.jsonl"):
        if op.f == TOPOLOGY and isinstance(op.value, dict):
            into.ready.append(float(op.value.get("ready_seconds") or 0.0))
    enabled = (report.get("configuration") or {}).get("tls", {}).get("enabled")
    if enabled is not tls:
        into.verdicts.append(f"tls read back as {enabled!r}")


def _stats(values: list[float], unit: str = "s") -> str:
    if not values:
        return "-"
    return f"{statistics.median(values):.3f} {unit} [{min(values):.3f}..{max(values):.3f}]"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs per drill and mode")
    parser.add_argument("--drills", default="failover,redis-failover")
    args = parser.parse_args()
    drills = [d.strip() for d in args.drills.split(",") if d.strip()]
    results: dict[tuple[str, bool], Sample] = {}
    try:
        with tempfile.TemporaryDirectory(prefix="drillkit-bench-tls-") as tmp:
            for name in drills:
                for i in range(args.repeat):
                    for tls in (False, True):
                        sample = results.setdefault((name, tls), Sample())
                        _once(name, tls, Path(tmp), sample)
                        rto = f"{sample.rto[-1]:.3f} s" if sample.rto else "-"
                        err.print(
                            f"[dim]bench[/dim] {name} tls={'on' if tls else 'off'} "
                            f"{i + 1}/{args.repeat}: RTO {rto}, {sample.verdicts[-1]}"
                        )
    except KeyboardInterrupt:
        err.print("interrupted; printing what was measured")
        _print(results)
        return 130
    _print(results)
    return 0


def _print(results: dict[tuple[str, bool], Sample]) -> None:
    table = Table(title="RTO with TLS vs plain (median \\[min..max])")
    for column in ("drill", "tls", "n", "RTO", "topology ready", "acked writes", "verdicts"):
        table.add_column(column)
    for (name, tls), s in results.items():
        table.add_row(
            name,
            "on" if tls else "off",
            str(len(s.verdicts)),
            _stats(s.rto),
            _stats(s.ready),
            str(int(statistics.median(s.acked))) if s.acked else "-",
            ", ".join(f"{v} x{s.verdicts.count(v)}" for v in dict.fromkeys(s.verdicts)),
        )
    Console(width=160).print(table)
    for name in dict.fromkeys(n for n, _ in results):
        plain, tls = results.get((name, False)), results.get((name, True))
        if plain and tls and plain.rto and tls.rto:
            delta = statistics.median(tls.rto) - statistics.median(plain.rto)
            print(f"{name}: RTO median with TLS minus plain = {delta * 1000:+.0f} ms")


if __name__ == "__main__":
    sys.exit(main())
