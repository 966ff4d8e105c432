"""``drillkit sweep`` on real containers: the failover drill, async against sync, one run each.

The issue asks for the table and chart in under 3 minutes on this machine (measured ~33 s).
Each cell's own evidence shows it ran with its setting: the primary's configuration read back
from its files, and PostgreSQL's own log, name a synchronous standby only in the sync cell.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from drillkit.images import NodeImages
from drillkit.sweep import COLUMNS

from .conftest import drillkit_cli, labelled


def test_sweep_of_failover_async_against_sync(
    tmp_path: Path, docker_client: Any, images: NodeImages
) -> None:
    started = time.monotonic()
    proc = drillkit_cli(
        "sweep",
        "drills/failover.yaml",
        "--set",
        "topology.replication=async,sync",
        "--repeat",
        "1",
        "--report-dir",
        str(tmp_path),
    )
    out, err = proc.communicate(timeout=300)
    elapsed = time.monotonic() - started
    assert proc.returncode == 0, err[-3000:]
    assert elapsed < 180, elapsed
    (folder,) = tmp_path.glob("sweep-failover-*")
    summary = json.loads((folder / "summary.json").read_text())
    assert [c["cell"] for c in summary["cells"]] == ["replication=async", "replication=sync"]
    assert f"summary: {folder / 'summary.html'}" in out.replace("\n", "")
    standby_names, server_says_sync = [], []
    for cell in summary["cells"]:
        assert cell["verdicts"] == {"pass": 1, "fail": 0, "unknown": 0}
        (run,) = cell["runs"]
        report = json.loads((folder / run["report_dir"] / "report.json").read_text())
        assert report["overrides"] == {
            "topology.replication": cell["overrides"]["topology.replication"]
        }
        assert run["values"]["rto"] == report["measured"]["rto_seconds"] > 0
        assert run["values"]["throughput"] > 50  # the workload's rate is 500/s
        assert labelled(docker_client, report["run_id"]) == {
            "containers": [],
            "networks": [],
            "volumes": [],
        }
        pg0 = report["configuration"]["nodes"]["pg0"]["settings"]
        standby_names.append(pg0.get("synchronous_standby_names"))
        # the independent observer: the primary's own log names its synchronous standby
        log = (folder / run["report_dir"] / "nodes" / "pg0.log").read_text()
        server_says_sync.append('standby "pg1" is now a candidate for quorum synchronous' in log)
    assert standby_names[0] in (None, "")
    assert "pg1" in standby_names[1]
    assert server_says_sync == [False, True]
    assert summary["cells"][1]["stats"]["lost_writes"]["p95"] == 0  # sync: nothing lost
    html = (folder / "summary.html").read_text()
    assert html.count('<svg class="sweep-chart"') == len(COLUMNS)
