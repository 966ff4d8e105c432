"""The building blocks against real containers: a deployment, a workload, a pause as a context
manager, the final read and the drill's checkers (issue 14)."""

from __future__ import annotations

import time
from typing import Any

import drillkit
from drillkit.history import OpType
from drillkit.spec import Targets
from tests.integration.conftest import labelled


def test_a_paused_primary_in_a_with_block(docker_client: Any) -> None:
    with drillkit.deployment("pg-async-pair", name="blocks") as pg:
        with pg.workload(rate=200):
            time.sleep(1.0)
            with pg.fault("pause", target="primary"):
                time.sleep(1.5)
            time.sleep(2.0)
        assert pg.final_read()
        analysis = pg.analyze(Targets(rto_seconds=10, max_lost_writes=0), 1.0)
        run_id = pg.run_id
    assert analysis.verdict.value == "pass", analysis.notes
    assert analysis.rto is not None and 1.4 < (analysis.rto.seconds or 0) < 3.0
    faults = [op.f for op in pg.history.ops() if op.process == "fault" and op.type is OpType.OK]
    assert faults == ["pause", "heal-pause"]
    assert labelled(docker_client, run_id)["containers"] == []
