"""Drills as tests, with drillkit's pytest plugin (installed with drillkit).

Run: ``pytest examples/pytest`` (needs what ``drillkit run`` needs: Docker and drillkit's images).
Add ``--junitxml=junit.xml`` and each test carries the drill's verdict, RTO, RPO, lost writes
and evidence folder as JUnit properties; ``--drillkit-reports reports`` keeps the evidence.
"""

from __future__ import annotations

import pytest


@pytest.mark.drill("failover")
def test_failover_meets_its_targets(drill_result):
    # The marker already fails the test unless the verdict is pass; add your own bounds on top.
    assert drill_result.rto_seconds < 10
    assert drill_result.lost_writes <= 500


def test_a_paused_primary_loses_nothing(drillkit_run):
    result = drillkit_run("pause-primary")
    assert result.passed, result.model.notes
    assert result.lost_writes == 0
