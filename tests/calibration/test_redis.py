"""Redis split brain (issue 9, calibration e): RPO must reflect only loss from before the
partition. Every write the cut-off master acknowledges after the partition is lost by design;
none acknowledged before it is (replication lag is sub-millisecond at 500 writes/s), so the true
pre-partition loss is 0 and RPO must be within 50 ms of 0."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.calibration.conftest import calibrate, record_row
from tests.calibration.report_fields import NS, effective_ns, fault_row

TOL = 0.050


def test_e_redis_split_brain_rpo_is_pre_partition_loss(reports: Path, docker_client: Any) -> None:
    cal = calibrate("calib-redis-split-brain", reports, docker_client)
    obs = cal.observer
    starts = obs.helper_events("start")
    assert starts, "no helper container ran the partition's rules"
    # The injection's helpers start together; the heal's run seconds later.
    batch = [e for e in starts if e.time_ns - starts[0].time_ns < 1 * NS]
    dies = [
        e
        for e in obs.helper_events("die")
        if batch[0].time_ns <= e.time_ns < batch[-1].time_ns + 5 * NS
    ]
    in_force_by = max(e.time_ns for e in dies[: len(batch)]) if dies else None
    not_before = batch[-1].time_ns  # no rule can be in force on every node before its helper ran
    eff = effective_ns(cal.report, "partition")
    scen = "e redis split brain"
    first = batch[0].time_ns  # the first node's rules can be in force from here on
    record_row(
        scen, "partition effective - first helper start", eff and (eff - first) / NS, 0.0, None
    )
    record_row(
        scen, "partition effective - last helper start", eff and (eff - not_before) / NS, 0.0, None
    )
    if in_force_by is not None:
        record_row(
            scen, "last helper start to its exit", (in_force_by - not_before) / NS, 0.0, None
        )
    switch = obs.log_lines(r"\+switch-master")
    if switch:
        record_row(
            scen,
            "+switch-master after helpers start",
            (switch[0].time_ns - not_before) / NS,
            None,
            None,
        )
    ok = record_row(scen, "RPO", cal.measured["rpo_seconds"], 0.0, TOL)
    assert cal.measured["lost_writes"] and cal.measured["lost_writes"] > 0, (
        "the split brain lost nothing: the drill did not reproduce it"
    )
    assert ok, (
        f"RPO {cal.measured['rpo_seconds']} s: writes acknowledged before the partition took "
        "effect counted as lost (the fault is dated late)"
    )
    assert cal.measured["lost_after_fault"] == cal.measured["lost_writes"]
    assert fault_row(cal.report, "partition")["effective_by"], "no evidence of the effective time"
