"""Patroni's synchronous_mode exercised (issue 12): killing the leader of a synchronous cluster
loses no acknowledged write, and the server says synchronous_mode was on (read back from
Patroni's /config, not echoed from the drill file). patroni-failover (asynchronous) measures the
loss of the same kill."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from drillkit.images import NodeImages

from .conftest import assert_agrees_with_history, run_shipped, runbook_event


def test_a_synchronous_patroni_cluster_loses_nothing_when_its_leader_dies(
    tmp_path: Path, docker_client: Any, images: NodeImages
) -> None:
    run = run_shipped("patroni-sync-failover", tmp_path)
    result, report, _ = run
    assert result.error is None, result.error
    assert report["verdict"] == "pass", (report["checks"], report["notes"])
    assert report["measured"]["lost_writes"] == 0
    assert report["measured"]["acknowledged_writes"] > 500
    elected = runbook_event(report, "wait-for-leader")["value"]
    assert elected["leader"] != elected["previous_leader"]
    config = json.loads((result.report_dir / "configuration.json").read_text())
    assert '"synchronous_mode": true' in json.dumps(config), "not read back from Patroni"
    assert_agrees_with_history("patroni-sync-failover", run, docker_client)
