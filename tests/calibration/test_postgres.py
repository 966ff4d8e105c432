"""PostgreSQL calibration drills: drillkit's RPO/RTO against Docker events, node logs and a
by-hand client (issue 9). Each drill proves one definition; rows of drillkit vs observer go to
reports/calibration-summary.md."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.calibration.conftest import calibrate, record_row
from tests.calibration.report_fields import NS, check_verdict, effective_ns, fault_row

TOL = 0.050  # issue 9: RPO/RTO error against the observer


def _s(t: int | None) -> float | None:
    return None if t is None else t / NS


def test_a_pause_rto_matches_docker_events(reports: Path, docker_client: Any) -> None:
    cal = calibrate("calib-pause", reports, docker_client, reconnect=True)
    obs = cal.observer
    pause, truth = _docker_pause(obs)
    eff = effective_ns(cal.report, "pause")
    record_row(
        "a pause 3 s", "pause effective - Docker pause", _s(eff and eff - pause.time_ns), 0.0, TOL
    )
    ok = record_row("a pause 3 s", "RTO", cal.measured["rto_seconds"], truth, _pause_tol(cal))
    assert ok, f"RTO {cal.measured['rto_seconds']} vs Docker pause->unpause {truth:.4f}"


def _pause_tol(cal: Any) -> float:
    """RTO after a pause is late by one reconnection (docs/calibration.md): the writer abandoned
    the frozen connection at its deadline and the first write after the unpause opens a new one.
    The tolerance is 50 ms plus one reconnection as the observer measured it on this machine."""
    assert cal.reconnect_s is not None, "the observer could not measure a reconnection"
    record_row(cal.name, "one new connection (observer)", cal.reconnect_s, None, None)
    return float(TOL + cal.reconnect_s)


def _docker_pause(obs: Any) -> tuple[Any, float]:
    """Docker's pause event and how long until its unpause event (seconds)."""
    pause = obs.first("pause")
    assert pause is not None, "Docker reported no pause event"
    unpause = obs.first("unpause", after=pause.time_ns)
    assert unpause is not None, "Docker reported no unpause event"
    return pause, (unpause.time_ns - pause.time_ns) / NS


def _cut_kill(cal: Any, scenario: str) -> tuple[float | None, bool | None]:
    """Rows common to b and c; the observer's RPO and whether drillkit's is within tolerance."""
    obs, probe = cal.observer, cal.probe
    kill = obs.first("kill", node="pg0")
    assert kill is not None, "Docker reported no kill of pg0"
    eff = effective_ns(cal.report, "kill")
    record_row(scenario, "kill effective - Docker kill", _s(eff and eff - kill.time_ns), 0.0, TOL)
    promoted = obs.promoted_node()
    assert promoted is not None, "no node logged 'received promote request'"
    last_txn = obs.last_completed_txn(promoted)
    assert last_txn is not None, f"{promoted} logged no 'last completed transaction'"
    gap = (kill.time_ns - last_txn) / NS
    assert probe is not None and probe.error is None, probe and probe.error
    lost = probe.lost()
    # The by-hand client's own RPO: kill minus the ack of its earliest lost write.
    probe_rpo = (kill.time_ns - min(o.done_ns for o in lost)) / NS if lost else 0.0
    record_row(scenario, "by-hand client RPO (vs log gap)", probe_rpo, gap, TOL)
    truth = gap if lost else 0.0
    ok = record_row(scenario, "RPO", cal.measured["rpo_seconds"], truth, TOL)
    return truth, ok


def test_b_cut_then_kill_rpo_is_the_cut(reports: Path, docker_client: Any) -> None:
    cal = calibrate("calib-cut-kill", reports, docker_client, probe_rate=100)
    truth, ok = _cut_kill(cal, "b cut 2 s, kill")
    assert truth is not None and truth > 1.0, f"the cut lost too little to calibrate ({truth})"
    assert cal.report["incident"]["kind"] == "kill", cal.report["incident"]
    cut = fault_row(cal.report, "cut-link")
    window = cut["acknowledged_writes"]
    lost = cal.measured["lost_writes"]
    lost_ok = record_row(
        "b cut 2 s, kill", "lost vs acks in cut window (count)", lost, window, 0.02 * window
    )
    assert ok, f"RPO {cal.measured['rpo_seconds']} vs observer {truth:.4f}"
    assert lost_ok, f"lost {lost} vs {window} acknowledged during the cut"
    assert check_verdict(cal.report, "rpo") == "fail", "a 1 s target under a ~2 s loss must fail"


def test_c_sync_cut_then_kill_loses_nothing(reports: Path, docker_client: Any) -> None:
    cal = calibrate("calib-cut-kill-sync", reports, docker_client, probe_rate=100)
    assert cal.probe is not None and cal.probe.error is None, cal.probe and cal.probe.error
    probe_lost = len(cal.probe.lost())
    record_row(
        "c sync cut + kill",
        "lost writes (drillkit vs by-hand)",
        cal.measured["lost_writes"],
        probe_lost,
        0,
    )
    ok = record_row("c sync cut + kill", "RPO", cal.measured["rpo_seconds"], 0.0, 0.0)
    assert probe_lost == 0, f"the by-hand client lost {probe_lost} acknowledged writes under sync"
    assert cal.measured["lost_writes"] == 0
    assert ok


def test_d_harmless_fault_first_rto_from_the_kill(reports: Path, docker_client: Any) -> None:
    probe_rate = 100.0
    cal = calibrate("calib-harmless-first", reports, docker_client, probe_rate=probe_rate)
    obs, probe = cal.observer, cal.probe
    assert probe is not None and probe.error is None, probe and probe.error
    kill = obs.first("kill")
    assert kill is not None, "Docker reported no kill"
    promoted = obs.promoted_node()
    assert promoted is not None, "no node logged 'received promote request'"
    ready = obs.ready_after(promoted, kill.time_ns)
    back = probe.first_ok_after_outage(kill.time_ns)
    assert back is not None, "the by-hand client never wrote again after the kill"
    truth = (back.done_ns - kill.time_ns) / NS
    eff = effective_ns(cal.report, "kill")
    scen = "d isolate, then kill"
    record_row(scen, "kill effective - Docker kill", _s(eff and eff - kill.time_ns), 0.0, TOL)
    record_row(
        scen, "promoted node ready (log) - kill", _s(ready and ready - kill.time_ns), truth, None
    )
    rate = cal.report["spec"]["workload"]["rate"] or 500
    tol = TOL + 1 / rate + 1 / probe_rate
    ok = record_row(scen, "RTO", cal.measured["rto_seconds"], truth, tol)
    assert cal.report["incident"]["kind"] == "kill", cal.report["incident"]
    assert not cal.report["incident"]["ambiguous"]
    assert ok, f"RTO {cal.measured['rto_seconds']} vs observer {truth:.4f}"
    assert check_verdict(cal.report, "rto") == "fail", "a 0.5 s target under a ~1.2 s outage"


def test_f_low_rate_states_its_resolution(reports: Path, docker_client: Any) -> None:
    cal = calibrate("calib-low-rate", reports, docker_client)
    obs = cal.observer
    kill = obs.first("kill")
    assert kill is not None, "Docker reported no kill"
    promoted = obs.promoted_node()
    last_txn = obs.last_completed_txn(promoted) if promoted else None
    gap = None if last_txn is None else (kill.time_ns - last_txn) / NS
    interval = cal.measured["write_interval_seconds"]
    record_row("f rate 20", "write interval (resolution)", interval, 0.05, 0.005)
    # The log gap bounds the true RPO from above by one write interval at this rate.
    truth = gap if cal.measured["lost_writes"] else 0.0
    record_row("f rate 20", "RPO", cal.measured["rpo_seconds"], truth, TOL + 0.05)
    assert interval == pytest.approx(0.05, rel=0.10)
    rto_res = cal.measured["rto_resolution_seconds"]
    assert rto_res is not None and 0.05 <= rto_res < 0.1, rto_res
    verdict = check_verdict(cal.report, "rpo")
    if not cal.measured["lost_writes"]:
        assert cal.measured["rpo_resolution_seconds"] is None  # nothing lost: RPO 0 is exact
        assert verdict == "pass"
        return
    res = cal.measured["rpo_resolution_seconds"]
    assert res is not None and res >= 0.05, res
    measured = cal.measured["rpo_seconds"]
    if measured <= 0.01 + res:
        assert verdict == "unknown", f"a 0.01 s RPO target under a {res} s resolution: {verdict}"
    else:
        assert verdict == "fail", verdict


def test_g_partition_then_unmarked_kill_rpo_from_the_kill(
    reports: Path, docker_client: Any
) -> None:
    cal = calibrate("calib-partition-kill", reports, docker_client, probe_rate=100)
    truth, ok = _cut_kill(cal, "g partition 1.5 s, kill at 1.2 s")
    assert truth is not None and truth > 0.7, f"the partition lost too little ({truth})"
    incident = cal.report["incident"]
    assert incident["kind"] == "kill" and not incident["ambiguous"], incident
    assert ok, f"RPO {cal.measured['rpo_seconds']} vs observer {truth:.4f}"
    assert check_verdict(cal.report, "rpo") == "fail"


def test_h_pause_after_a_harmless_isolate(reports: Path, docker_client: Any) -> None:
    cal = calibrate("calib-isolate-pause", reports, docker_client, reconnect=True)
    obs = cal.observer
    _pause, truth = _docker_pause(obs)
    scen = "h isolate, then pause 1.2 s"
    held = fault_row(cal.report, "pause")["actual_duration_seconds"]
    record_row(scen, "pause held (report) vs Docker pause->unpause", held, truth, TOL)
    isolated = fault_row(cal.report, "isolate")["actual_duration_seconds"]
    record_row(scen, "isolate held vs declared 2 s", isolated, 2.0, TOL)
    ok = record_row(scen, "RTO", cal.measured["rto_seconds"], truth, _pause_tol(cal))
    assert cal.report["incident"]["kind"] == "pause", cal.report["incident"]
    assert ok, f"RTO {cal.measured['rto_seconds']} vs Docker pause->unpause {truth:.4f}"
    assert abs(truth - 1.2) <= TOL, f"the pause was held {truth:.3f}s, declared 1.2 s"


def test_j_replay_pause_staleness_matches_the_replicas_replay_clock(
    reports: Path, docker_client: Any
) -> None:
    """The shipped drill drills/replica-staleness.yaml: WAL replay paused 3 s on the replica.
    drillkit's staleness (its readers against its writers' acknowledgements) against the age of
    the replica's newest replayed commit, by the servers' own clocks, read by a hand-written
    client of the replica. Tolerance: 50 ms, plus drillkit's stated staleness resolution (its
    reader interval, read latency and write interval), plus the observer's own poll interval."""
    cal = calibrate("replica-staleness", reports, docker_client, replay_age=True)
    ages = cal.replay_age
    assert ages is not None and ages.error is None, ages and ages.error
    truth = ages.largest_age()
    assert truth is not None, "the observer read no replay timestamp from the replica"
    m = cal.measured
    tol = TOL + float(m["staleness_resolution_seconds"]) + ages.interval
    ok = record_row("j replay pause 3 s", "staleness", m["staleness_seconds"], truth, tol)
    record_row(
        "j replay pause 3 s", "staleness vs declared pause", m["staleness_seconds"], 3.0, None
    )
    assert ok, f"staleness {m['staleness_seconds']} vs replica's replay age {truth:.4f}"
    readers = cal.report["readers"]
    assert readers["max_staleness_by_source"]["client"] < 0.1  # the primary stayed current
    assert m["monotonic_violations"] == 0
    assert m["convergence_seconds"] is not None and m["convergence_seconds"] < 1
    assert cal.report["verdict"] == "pass"
