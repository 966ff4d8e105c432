"""Redis split brain (issue 9, calibration e): RPO must reflect only loss from before the
partition. Every write the cut-off master acknowledges after the partition is lost by design;
none acknowledged before it is (replication lag is sub-millisecond at 500 writes/s), so the true
pre-partition loss is 0 and RPO must be within 50 ms of 0."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.calibration.conftest import calibrate, record_row
from tests.calibration.observer import iso_ns
from tests.calibration.report_fields import NS, effective_ns, fault_row

TOL = 0.050


def test_e_redis_split_brain_rpo_is_pre_partition_loss(reports: Path, docker_client: Any) -> None:
    cal = calibrate("calib-redis-split-brain", reports, docker_client)
    obs = cal.observer
    scen = "e redis split brain"
    eff = effective_ns(cal.report, "partition")
    assert eff is not None, "report.json has no effective time for the partition"
    # Sentinel's own evidence (a bound, not a point): it PINGs the master once a second and logs
    # +sdown when its oldest unanswered PING is down-after-milliseconds old (checked ~10 times a
    # second). That PING was sent no later than a round trip after the partition took effect and
    # at most a PING period before it.
    sdown = obs.log_lines(r"\+sdown master")
    assert sdown, "no Sentinel logged +sdown master: the partition was not seen"
    down_after = cal.report["spec"]["topology"]["down_after_ms"] / 1000
    unanswered_ping = sdown[0].time_ns - round(down_after * NS)
    since = (eff - unanswered_ping) / NS
    record_row(scen, "partition effective - (first +sdown - down-after)", since, None, None)
    assert -1.15 <= since <= TOL, (
        f"the partition is dated {since:+.3f}s from the PING Sentinel never got an answer to; it "
        "must lie within the PING period before it"
    )
    switch = obs.log_lines(r"\+switch-master")
    if switch:
        record_row(
            scen, "+switch-master after partition", (switch[0].time_ns - eff) / NS, None, None
        )
    ok = record_row(scen, "RPO", cal.measured["rpo_seconds"], 0.0, TOL)
    assert cal.measured["lost_writes"] and cal.measured["lost_writes"] > 0, (
        "the split brain lost nothing: the drill did not reproduce it"
    )
    assert ok, (
        f"RPO {cal.measured['rpo_seconds']} s: writes acknowledged before the partition took "
        "effect counted as lost (the fault is dated late)"
    )
    before = cal.measured["lost_writes"] - cal.measured["lost_after_fault"]
    record_row(scen, "lost writes acknowledged before the partition", before, 0, None)
    rate = cal.report["spec"]["workload"]["rate"]
    assert before <= rate * TOL, f"{before} lost writes were acknowledged before the partition"
    assert fault_row(cal.report, "partition")["effective_by"], "no evidence of the effective time"


def test_i_data_restored_when_a_hand_written_reader_finds_it_again(
    reports: Path, docker_client: Any
) -> None:
    """After FLUSHALL new writes succeed at once; RTO must end when the restored data is served."""
    cal = calibrate("calib-redis-restore", reports, docker_client, redis_reader=True)
    reader = cal.redis_probe
    assert reader is not None and reader.error is None, reader and reader.error
    assert reader.sampled, "the hand-written reader never sampled ids before the flush"
    assert reader.survivors(), "none of the sampled (oldest) ids was there at the end"
    flushed = iso_ns(cal.report["fault_effective_at"])
    assert flushed is not None, "report.json has no incident time"
    scen = "i redis flush + restore"
    gone = reader.first_missing_after(flushed - round(TOL * NS))
    assert gone is not None, "the hand-written reader never saw the data vanish"
    record_row(
        scen, "flush effective - reader's first miss", (flushed - gone.done_ns) / NS, 0.0, None
    )
    back = reader.served_again_after(flushed - round(TOL * NS))
    assert back is not None, "the hand-written reader never saw the data again"
    truth = (back.done_ns - flushed) / NS
    assert cal.measured["read_back_probe"], "drillkit ran no read-backs"
    interval = cal.measured["read_interval_seconds"]
    tol = TOL + interval
    record_row(scen, "data restored", cal.measured["data_restored_seconds"], truth, tol)
    ok = record_row(scen, "RTO (reads decide)", cal.measured["rto_seconds"], truth, tol)
    assert cal.measured["writes_restored_seconds"] < 0.1, "new writes should never have stopped"
    assert ok, f"RTO {cal.measured['rto_seconds']} vs the reader's {truth:.4f}"
