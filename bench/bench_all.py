"""Time ``drillkit run --all``: every shipped drill, one after another, as a scheduled run does.

    .venv/bin/python bench/bench_all.py [--keep-reports DIR]

Prints per drill its wall time (report.json ``duration_seconds``: provisioning to teardown), the
time the drill declares (warm-up + runbook delays + observation, plus fault durations that run
past the observation), the difference (overhead: provisioning, restores' own work, evidence,
teardown) and the verdict; then the whole command's wall time. About 4-5 minutes here.

A benchmark never fails CI: the exit status is 0 whatever was measured (the drills' own exit code
is shown). Other drills or tests running on the same engine skew every figure.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from drillkit.spec import load_drill

ROOT = Path(__file__).resolve().parent.parent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--keep-reports", type=Path, metavar="DIR", help="keep the reports here")
    args = parser.parse_args(argv)
    out = Console(highlight=False)
    with tempfile.TemporaryDirectory(prefix="drillkit-bench-all-") as tmp:
        reports = (args.keep_reports or Path(tmp)).resolve()
        reports.mkdir(parents=True, exist_ok=True)
        drillkit = str(Path(sys.executable).parent / "drillkit")
        started = time.perf_counter()
        try:
            proc = subprocess.run(
                [drillkit, "run", "--all", "--report-dir", str(reports)],
                cwd=ROOT,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                check=False,
            )
        except KeyboardInterrupt:
            return 130
        wall = time.perf_counter() - started
        table = Table(title="drillkit run --all", show_lines=False)
        for name in ("drill", "wall s", "declared s", "overhead s", "verdict"):
            table.add_column(name)
        overhead_total = 0.0
        for path in sorted(reports.glob("*/report.json")):
            report = json.loads(path.read_text())
            spec_file = ROOT / str(report.get("drill_file") or "")
            try:
                declared = load_drill(spec_file).declared_seconds()
            except Exception:  # a drill file that moved: show the wall time only
                declared = float("nan")
            seconds = float(report.get("duration_seconds") or 0.0)
            overhead = seconds - declared
            if overhead == overhead:  # not NaN
                overhead_total += overhead
            table.add_row(
                str(report["drill"]),
                f"{seconds:.1f}",
                f"{declared:g}",
                f"{overhead:.1f}",
                str(report.get("outcome") or report.get("verdict")),
            )
        out.print(table)
        out.print(
            f"whole command: {wall:.1f} s (exit {proc.returncode}); overhead summed over the "
            f"drills: {overhead_total:.1f} s"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
