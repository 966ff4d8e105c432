"""Readers: staleness, monotonic-read violations and convergence, on literal histories."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from builders import FAIL, INFO, INVOKE, OK, Script, ms
from test_spec import drill, error, write

from drillkit.checkers import Verdict, analyze
from drillkit.checkers.staleness import latest_reads, monotonic
from drillkit.checkers.writes import write_outcomes
from drillkit.spec import Targets, load_drill


def read(
    s: Script,
    process: str,
    at: float,
    highest: int | None,
    *,
    source: str = "pg1",
    via: str = "replica",
    latency: float = 1,
    outcome: str = "ok",
    **counts: int,
) -> Script:
    s.add(at, process, INVOKE, "read-latest", source=source, via=via)
    if outcome == "ok":
        return s.add(
            at + latency, process, OK, "read-latest", highest, source=source, via=via, **counts
        )
    kind = FAIL if outcome == "fail" else INFO
    return s.add(at + latency, process, kind, "read-latest", error="down", source=source, via=via)


def paused_replica(pause_at: float = 2000, resume_at: float = 5000) -> Script:
    """Writes every 10 ms (ids 1..600, acked 2 ms after invocation); the replica's replay is
    paused from ``pause_at`` to ``resume_at``; its reader reads every 20 ms and sees every write
    acknowledged before the read, except those acknowledged while replay was paused."""
    s = Script().add(0, "nemesis", OK, "start", tolerance_s=0.05)
    s.writes(range(1, 601), start=0, every=10, latency=2)
    tags = {
        "fault_entry": 0,
        "fault_slot": 0,
        "incident": False,
        "declared_duration": (resume_at - pause_at) / 1000,
    }
    s.add(pause_at - 5, "fault", INVOKE, "replay-pause", {"target": "replica"}, **tags)
    s.add(
        pause_at,
        "fault",
        OK,
        "replay-pause",
        {"target": "replica", "nodes": ["pg1"]},
        requested_ns=ms(pause_at - 5),
        effective_ns=ms(pause_at),
        **tags,
    )
    s.add(resume_at - 5, "fault", INVOKE, "heal-replay-pause", {"target": "replica"}, **tags)
    s.add(
        resume_at,
        "fault",
        OK,
        "heal-replay-pause",
        {"target": "replica"},
        requested_ns=ms(resume_at - 5),
        effective_ns=ms(resume_at),
        **tags,
    )

    def acked_before(t: float) -> int:
        return max((k for k in range(1, 601) if (k - 1) * 10 + 2 < t), default=0)

    frozen = acked_before(pause_at)
    for k in range(300):
        t = k * 20 + 1
        visible = acked_before(t) if not pause_at <= t < resume_at else frozen
        read(s, "reader-pg1-0", t, visible)
    return s.final_read(range(1, 601), at=6100)


def test_a_paused_replay_shows_staleness_of_the_pause() -> None:
    analysis = analyze(paused_replica().ops(), Targets(rpo_seconds=1), 1.0)

    stale = analysis.staleness
    assert stale is not None
    assert stale.phases["steady"].max_s == 0.0
    # The first write acked in the pause (id 201, acked 2002 ms) is unseen by the last paused
    # read, invoked at 4981 ms: 2.979 s behind, 298 writes (201..498).
    assert stale.phases["fault"].max_s == pytest.approx(2.979)
    assert stale.phases["fault"].max_writes == 298
    assert stale.phases["after"].max_s == 0.0
    assert stale.max_s == pytest.approx(2.979)
    assert stale.recovered_ns == ms(5000)  # the heal: writes never failed
    assert stale.read_interval_s == pytest.approx(0.021)  # 20 ms apart, 1 ms each
    assert stale.resolution_s == pytest.approx(0.031)  # + the 10 ms write interval


def test_convergence_is_the_first_read_after_recovery_that_sees_every_survivor() -> None:
    analysis = analyze(paused_replica(resume_at=5000).ops(), Targets(rpo_seconds=1), 1.0)

    conv = analysis.convergence
    assert conv is not None
    assert conv.needed_id == 500  # acked 4992 ms, the last before the heal at 5000
    assert conv.per_source == {"pg1": pytest.approx(0.002)}  # read at 5001, done 5002
    assert conv.seconds == pytest.approx(0.002)


def test_a_heal_without_a_declared_duration_is_not_recovery() -> None:
    # A kill's heal ("nothing to undo") is recorded when the run ends: recovery is RTO's.
    s = async_failover()
    s.add(1990, "fault", INVOKE, "heal-kill", {"target": "primary"})
    s.add(1995, "fault", OK, "heal-kill", {"target": "primary"}, effective_ns=ms(1995))
    analysis = analyze(s.ops(), Targets(rpo_seconds=1), 0.1)

    assert analysis.rto is not None and analysis.rto.restored_ns == ms(1502)
    assert analysis.staleness is not None
    assert analysis.staleness.recovered_ns == ms(1502)


def test_convergence_unknown_when_a_replica_never_caught_up() -> None:
    s = paused_replica(resume_at=7000)  # never resumed within the history
    analysis = analyze(s.ops(), Targets(rpo_seconds=1, max_convergence_seconds=1), 1.0)

    assert analysis.convergence is not None
    assert analysis.convergence.seconds is None
    check = next(c for c in analysis.checks if c.name == "max_convergence_seconds")
    assert check.verdict is Verdict.UNKNOWN


@pytest.mark.parametrize(
    ("target", "verdict"),
    [(5.0, Verdict.PASS), (1.0, Verdict.FAIL), (0.01, Verdict.FAIL), (2.99, Verdict.UNKNOWN)],
)
def test_staleness_target_judged_with_its_resolution(target: float, verdict: Verdict) -> None:
    targets = Targets(max_staleness_seconds=target)
    analysis = analyze(paused_replica().ops(), targets, 1.0)

    check = next(c for c in analysis.checks if c.name == "max_staleness_seconds")
    assert check.verdict is verdict, check.reason
    assert analysis.measured.staleness_resolution_s == pytest.approx(0.031)


@pytest.mark.parametrize(("target", "verdict"), [(0.01, Verdict.UNKNOWN), (1.0, Verdict.PASS)])
def test_a_target_tighter_than_the_readers_resolution_is_never_a_pass(
    target: float, verdict: Verdict
) -> None:
    # The pause starts after the last read: every read saw everything (staleness 0).
    ops = paused_replica(pause_at=6050, resume_at=6080).ops()
    analysis = analyze(ops, Targets(max_staleness_seconds=target), 1.0)

    assert analysis.measured.staleness_seconds == 0.0
    check = next(c for c in analysis.checks if c.name == "max_staleness_seconds")
    assert check.verdict is verdict, check.reason


def test_staleness_counts_only_writes_acknowledged_before_the_read_was_invoked() -> None:
    s = Script().writes([1, 2, 3, 4], start=0, every=10, latency=5)  # acked 5, 15, 25, 35
    read(s, "reader-pg1-0", 30, 1)  # 2 and 3 acked before 30, unseen; 4 not yet acked
    ops = s.final_read([1, 2, 3, 4], at=100).ops()
    analysis = analyze(ops, Targets(rpo_seconds=1), 1.0)

    assert analysis.staleness is not None
    assert analysis.staleness.max_writes == 2
    assert analysis.staleness.max_s == pytest.approx(0.015)  # write 2 acked at 15 ms


def async_failover() -> Script:
    """Writes 1..100 every 10 ms on the primary; the replica had replayed up to 90 when the
    primary is killed at 1000 ms, so 91..100 are lost; the replica is promoted and writes
    101..120 are acked from 1500 ms. Two readers use the client path: reader-client-0 last saw
    100 before the kill, reader-client-1 last saw 95; a replica reader read pg2 throughout."""
    s = Script().writes(range(1, 101), start=0, every=10, latency=2)
    s.fault(requested=998, effective=1000)
    s.step("promote", start=1100, end=1300, value={"promoted": "pg2"})
    s.writes(range(101, 121), start=1500, every=10, latency=2)
    for k in range(10):  # write 91 + k is acked at 902 + 10 k
        read(s, "reader-client-0", 905 + k * 10, 91 + k, source="client", via="client")
    read(s, "reader-client-1", 940, 95, source="client", via="client")
    read(s, "reader-client-0", 1050, None, source="client", via="client", outcome="info")
    read(s, "reader-client-0", 1400, 90, source="client", via="client")  # pg2: went back
    read(s, "reader-client-1", 1400, 90, source="client", via="client")
    read(s, "reader-client-0", 1700, 120, source="client", via="client")
    read(s, "reader-client-0", 1800, 120, source="client", via="client")
    for t in (500, 900, 1400, 1700):
        read(s, "reader-pg2-0", t, min(90, t // 10) if t < 1500 else 120, source="pg2")
    return s.final_read([*range(1, 91), *range(101, 121)], at=2000)


def test_async_failover_monotonic_violations_equal_the_lost_writes_readers_saw() -> None:
    analysis = analyze(async_failover().ops(), Targets(max_monotonic_violations=0), 1.0)

    assert analysis.lost is not None
    assert analysis.lost.lost == list(range(91, 101))
    mono = analysis.monotonic
    assert mono is not None
    # reader-client-0 had seen all 10 lost writes, reader-client-1 the 5 up to 95; the replica
    # reader (the node later promoted) never saw any of them.
    assert mono.per_process == {"reader-client-0": 10, "reader-client-1": 5, "reader-pg2-0": 0}
    assert mono.violations == 15
    assert mono.regressions == 2
    check = next(c for c in analysis.checks if c.name == "max_monotonic_violations")
    assert check.verdict is Verdict.FAIL


def test_failed_writes_are_never_counted_as_seen() -> None:
    s = Script().writes([1, 2], start=0, every=10, latency=2)
    s.write(3, invoked=20, done=22, outcome=FAIL)
    s.writes([4], start=30, latency=2)
    read(s, "reader-client-0", 40, 4, via="client", source="client")
    read(s, "reader-client-0", 50, 2, via="client", source="client")
    ops = s.ops()

    mono = monotonic(latest_reads(ops), write_outcomes(ops))
    assert mono.violations == 1  # id 4; id 3 certainly never existed


def test_no_readers_leaves_the_measurements_empty_and_their_targets_unknown() -> None:
    s = Script().writes([1, 2], start=0).final_read([1, 2], at=500)
    analysis = analyze(s.ops(), Targets(max_staleness_seconds=1), 1.0)

    assert analysis.staleness is None
    check = next(c for c in analysis.checks if c.name == "max_staleness_seconds")
    assert check.verdict is Verdict.UNKNOWN


def test_consistency_targets_need_readers(tmp_path: Path) -> None:
    path = write(tmp_path, drill(targets={"max_staleness_seconds": 1}))

    assert str(error(path)) == (
        f"{path}: targets.max_staleness_seconds needs readers: set workload.readers (e.g. 1)"
    )


def test_convergence_needs_replica_readers(tmp_path: Path) -> None:
    doc = drill(
        workload={"readers": 1, "read_from": ["client"]},
        targets={"max_convergence_seconds": 1},
    )
    path = write(tmp_path, doc)

    assert "add replicas to workload.read_from" in str(error(path))


def test_readers_load_with_their_defaults(tmp_path: Path) -> None:
    spec = load_drill(write(tmp_path, drill(workload={"readers": 2})))

    assert spec.workload.readers == 2
    assert spec.workload.read_from == ["replicas"]
    assert spec.workload.reader_rate == 50.0


def test_readers_load_on_redis_topologies(tmp_path: Path) -> None:
    doc = drill(
        topology={"kind": "redis"},
        workload={"readers": 1, "read_from": ["replicas", "client"]},
        targets={"max_monotonic_violations": 0, "max_convergence_seconds": 1},
    )
    spec = load_drill(write(tmp_path, yaml.safe_load(yaml.safe_dump(doc))))

    assert spec.workload.readers == 1 and spec.workload.read_from == ["replicas", "client"]


def test_the_report_carries_what_readers_saw_and_older_reports_do_not_change() -> None:
    from test_report_evidence import report_of, started

    from drillkit.report.html import render_html

    ops = started(paused_replica()).ops()
    report = report_of(ops)
    readers = report.readers
    assert readers is not None
    assert readers.sources == ["pg1"]
    assert readers.phases["fault"].max_seconds == pytest.approx(2.979)
    assert readers.phases["fault"].max_writes == 298
    assert readers.max_staleness_by_source == {"pg1": pytest.approx(2.979)}
    assert readers.fault_phase_seconds == [0, pytest.approx(3.0)]
    assert report.measured.staleness_seconds == pytest.approx(2.979)
    assert report.measured.monotonic_violations == 0
    html = render_html(report, ops)
    assert 'id="readers"' in html
    assert "2.979s" in html

    plain = report_of(started(Script().writes([1, 2], start=0).final_read([1, 2], 500)).ops())
    doc = plain.as_json()
    assert "readers" not in doc
    assert "staleness_seconds" not in doc["measured"]
    assert "max_staleness_seconds" not in doc["targets"]


def test_the_console_summary_and_markdown_show_the_readers_rows() -> None:
    from rich.console import Console
    from test_report_evidence import report_of, started

    from drillkit.report.console import print_summary
    from drillkit.report.markdown import render_markdown

    report = report_of(started(paused_replica()).ops())
    console = Console(record=True, width=200)
    print_summary(report, "reports/x", console)
    text = console.export_text()

    assert "staleness" in text and "2.979s" in text
    assert "fault: 150 reads (0 unanswered), staleness p50/p95/max" in text
    assert "monotonic-read violations 0" in text and "convergence pg1 0.002s" in text
    assert "| staleness |" in render_markdown(report)


def test_lost_writes_are_owed_until_recovery_and_not_after() -> None:
    # Writes 91..100 (acked 902..992) are lost; service is back at 1502 (write 101 acked).
    s = Script().writes(range(1, 101), start=0, every=10, latency=2)
    s.fault(requested=998, effective=1000)
    s.writes(range(101, 121), start=1500, every=10, latency=2)
    read(s, "reader-pg2-0", 1400, 90, source="pg2")  # before recovery: 10 lost writes behind
    read(s, "reader-pg3-0", 1600, 90, source="pg3")  # after: only 101..110 are owed
    s.final_read([*range(1, 91), *range(101, 121)], at=2000)
    analysis = analyze(s.ops(), Targets(rpo_seconds=1), 0.1)

    stale = analysis.staleness
    assert stale is not None and stale.recovered_ns == ms(1502)
    assert (stale.phases["fault"].max_writes, stale.phases["fault"].max_s) == (10, 0.498)
    assert stale.phases["after"].max_writes == 10
    assert stale.phases["after"].max_s == pytest.approx(0.098)  # not 0.698 (write 91's ack)


def test_counted_reads_catch_a_lost_range_that_newer_ids_hide() -> None:
    """Writes 1..100 acked on the old primary (91..100 lost); after the promotion write 130 is
    already in when the client reader reconnects, so its highest id never goes back: only the
    row counts show the 10 rows it had seen are gone."""
    s = Script().writes(range(1, 101), start=0, every=10, latency=2)
    s.fault(requested=998, effective=1000)
    s.writes(range(130, 141), start=1500, every=10, latency=2)
    c = {"source": "client", "via": "client"}
    read(s, "reader-client-0", 995, 100, rows=100, upto=99, present=99, **c)
    read(s, "reader-client-0", 1505, 130, rows=91, upto=100, present=90, **c)  # 91..100 gone
    read(s, "reader-client-0", 1520, 132, rows=93, upto=130, present=91, **c)
    s.final_read([*range(1, 91), *range(130, 141)], at=2000)
    analysis = analyze(s.ops(), Targets(max_monotonic_violations=0), 0.1)

    assert analysis.lost is not None and analysis.lost.count == 10
    assert analysis.monotonic is not None
    assert analysis.monotonic.per_process == {"reader-client-0": 10}
    assert analysis.monotonic.regressions == 1


def two_writers() -> Script:
    """writer-0 writes the odd ids, writer-1 the even ones; write 3 is slow: invoked at 20,
    acked at 30, after write 4 (invoked 21, acked 25). Acks: 1@5, 2@15, 4@25, 3@30."""
    s = Script()
    s.write(1, 0, 5, process="writer-0")
    s.write(2, 10, 15, process="writer-1")
    s.write(3, 20, 30, process="writer-0")
    s.write(4, 21, 25, process="writer-1")
    return s


def test_several_writers_a_missing_id_below_the_highest_is_counted_from_the_rows() -> None:
    # At 32 the replica holds 1, 2 and 4 (highest 4, 3 rows): 3, acknowledged at 30, is missing.
    s = two_writers()
    read(s, "reader-pg1-0", 32, 4, rows=3, upto=0, present=0)
    analysis = analyze(s.final_read([1, 2, 3, 4], at=100).ops(), Targets(rpo_seconds=1), 1.0)

    assert analysis.staleness is not None
    assert analysis.staleness.max_writes == 1
    assert analysis.staleness.max_s == pytest.approx(0.002)  # 32 - the latest ack at or below 4


def test_several_writers_without_row_counts_an_id_below_the_highest_counts_as_seen() -> None:
    # An older history (no counts): the documented undercount, at most writers - 1 ids.
    s = two_writers()
    read(s, "reader-pg1-0", 32, 4)
    analysis = analyze(s.final_read([1, 2, 3, 4], at=100).ops(), Targets(rpo_seconds=1), 1.0)

    assert analysis.staleness is not None
    assert analysis.staleness.max_writes == 0
    assert analysis.staleness.max_s == 0.0


def test_the_row_count_bound_never_overcounts() -> None:
    # The replica holds 1, 2, 4 and 5 (5 committed, acknowledged only at 40) and misses 3: at
    # 35, 4 acknowledged ids up to 5 and 4 rows: nothing proven missing. The count is a lower
    # bound, short by at most the rows not yet acknowledged (here 5).
    s = two_writers()
    s.write(5, 33, 40, process="writer-1")
    read(s, "reader-pg1-0", 35, 5, rows=4, upto=0, present=0)
    analysis = analyze(s.final_read([1, 2, 3, 4, 5], at=100).ops(), Targets(rpo_seconds=1), 1.0)

    assert analysis.staleness is not None
    assert analysis.staleness.max_writes == 0  # truly 1 (id 3): never more than the truth


def test_counted_reads_after_a_failover_do_not_owe_the_lost_writes_below_the_highest() -> None:
    # The client path after the async failover: the promoted node holds 1..90 and the new
    # 101..105 (highest 105, 95 rows). The lost 91..100 are RPO's now, not staleness: the 95
    # surviving ids acknowledged up to 105 are all there.
    s = Script().writes(range(1, 101), start=0, every=10, latency=2)
    s.fault(requested=998, effective=1000)
    s.step("promote", start=1100, end=1300, value={"promoted": "pg2"})
    s.writes(range(101, 121), start=1500, every=10, latency=2)
    read(s, "reader-client-0", 1545, 105, source="client", via="client", rows=95)
    analysis = analyze(
        s.final_read([*range(1, 91), *range(101, 121)], at=2000).ops(),
        Targets(rpo_seconds=1),
        0.1,
    )

    stale = analysis.staleness
    assert stale is not None and stale.recovered_ns == ms(1502)
    assert stale.phases["after"].reads == 1
    assert stale.phases["after"].max_writes == 0
    assert stale.phases["after"].max_s == 0.0
