"""PostgreSQL calibration drills: drillkit's RPO/RTO against Docker events, node logs and a
by-hand client (issue 9). Where a field of issue 9 is not in drillkit yet, the test records its
numbers and xfails naming the missing field; once the field exists it asserts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.calibration.conftest import calibrate, record_row
from tests.calibration.report_fields import (
    NS,
    check_verdict,
    effective_ns,
    find_key,
    first_number,
    incident,
    window_acknowledged,
)

TOL = 0.050  # issue 9: RPO/RTO error against the observer


def _s(t: int | None) -> float | None:
    return None if t is None else t / NS


def test_a_pause_rto_matches_docker_events(reports: Path, docker_client: Any) -> None:
    cal = calibrate("calib-pause", reports, docker_client)
    obs = cal.observer
    pause = obs.first("pause")
    assert pause is not None, "Docker reported no pause event"
    unpause = obs.first("unpause", after=pause.time_ns)
    assert unpause is not None, "Docker reported no unpause event"
    truth = (unpause.time_ns - pause.time_ns) / NS
    eff = effective_ns(cal.report, "pause")
    record_row(
        "a pause 3 s", "pause effective - Docker pause", _s(eff and eff - pause.time_ns), 0.0, TOL
    )
    ok = record_row("a pause 3 s", "RTO", cal.measured["rto_seconds"], truth, TOL)
    assert ok, f"RTO {cal.measured['rto_seconds']} vs Docker pause->unpause {truth:.4f}"


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
    window = window_acknowledged(cal.report, "cut-link")
    lost = cal.measured["lost_writes"]
    lost_ok = record_row(
        "b cut 2 s, kill", "lost vs acks in cut window (count)", lost, window, 0.02 * (window or 0)
    )
    if not ok and cal.unsupported:
        pytest.xfail(
            f"drillkit rejects {cal.unsupported} (issue 9): RPO is measured from the first fault, "
            f"not the kill: {cal.measured['rpo_seconds']} s vs true {truth:.3f} s"
        )
    assert ok, f"RPO {cal.measured['rpo_seconds']} vs observer {truth:.4f}"
    if window is None:
        pytest.skip("report.json has no per-fault attribution yet: lost-vs-window not checked")
    assert lost_ok, f"lost {lost} vs {window} acknowledged during the cut"


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
    named = incident(cal.report)
    if named is None:
        pytest.xfail(
            "report.json names no incident yet (issue 9): "
            f"RTO {cal.measured['rto_seconds']} s vs true {truth:.3f} s from the kill"
        )
    assert "kill" in str(named), f"the incident should be the kill, report says {named!r}"
    assert ok, f"RTO {cal.measured['rto_seconds']} vs observer {truth:.4f}"


def test_f_low_rate_states_its_resolution(reports: Path, docker_client: Any) -> None:
    cal = calibrate("calib-low-rate", reports, docker_client)
    obs = cal.observer
    kill = obs.first("kill")
    assert kill is not None, "Docker reported no kill"
    promoted = obs.promoted_node()
    last_txn = obs.last_completed_txn(promoted) if promoted else None
    gap = None if last_txn is None else (kill.time_ns - last_txn) / NS
    found = find_key(cal.report.get("measured", {}), "resolution") or find_key(
        cal.report, "resolution"
    )
    resolution = (
        first_number(found[0], ("write_interval_seconds", "seconds", "rpo_seconds"))
        if found
        else None
    )
    record_row("f rate 20", "resolution", resolution, 0.05, 0.005)
    # The log gap bounds the true RPO from above by one write interval at this rate.
    truth = gap if cal.measured["lost_writes"] else 0.0
    record_row("f rate 20", "RPO", cal.measured["rpo_seconds"], truth, TOL + 0.05)
    verdict = check_verdict(cal.report, "rpo")
    if resolution is None:
        pytest.xfail(f"report.json states no resolution yet (issue 9); rpo 0.01 s was {verdict}")
    assert resolution == pytest.approx(0.05, rel=0.10)
    measured = cal.measured["rpo_seconds"]
    if measured is not None and measured <= 0.01:
        assert verdict == "unknown", f"a 0.01 s RPO target under a 0.05 s resolution: {verdict}"
    else:
        assert verdict in ("fail", "unknown"), verdict
