"""Restored means the data is back: read-backs of pre-incident data decide RTO with the writes."""

from __future__ import annotations

from builders import INFO, INVOKE, OK, Script, ms

from drillkit.checkers import Verdict, analyze
from drillkit.spec import Targets


def flush_then_restore(*, restored_at: float | None) -> Script:
    """Writes 1..50 acked before a FLUSHALL at 1000; new writes keep succeeding; read-backs of
    ids 1..40 (every 50 ms from 900) find nothing until the restore at ``restored_at``."""
    s = Script().writes(range(1, 51), start=0, every=20)  # acked at 10..990
    s.fault(requested=1000, effective=1002, f="flushall")
    s.writes(range(100, 300), start=1010, every=20)  # all ok
    t = 900.0
    while t < 5000:
        sample = [1, 7, 33]
        s.add(t, "reader-0", INVOKE, "read-back", sample)
        back = restored_at is not None and t >= restored_at
        found = sample if (t < 1000 or back) else []
        s.add(t + 3, "reader-0", OK, "read-back", found, found=len(found))
        t += 50
    s.step("redis-restore", start=1500, end=(restored_at or 4900) - 10)
    survivors = [*range(1, 41), *range(100, 300)] if restored_at else list(range(100, 300))
    return s.final_read(survivors, at=5500)


def test_rto_of_a_flush_runs_until_the_restored_data_is_served() -> None:
    analysis = analyze(flush_then_restore(restored_at=2500).ops(), Targets(rto_seconds=5), 0.5)

    rto = analysis.rto
    assert rto is not None and rto.data_probe
    assert rto.writes_restored_ns == ms(1020)  # new writes never stopped
    assert rto.data_restored_ns == ms(2503)  # the first read after the restore found the data
    assert rto.seconds == 1.501
    assert rto.detection_s is not None and rto.detection_s < 0.1  # first empty read
    names = [p.name for p in rto.phases]
    assert names[-3:] == ["writes restored", "data restored", "restored"]
    assert analysis.verdict is Verdict.PASS


def test_data_never_restored_is_loss_judged_by_rpo_not_an_endless_outage() -> None:
    targets = Targets(rto_seconds=1, rpo_seconds=0.5)
    analysis = analyze(flush_then_restore(restored_at=None).ops(), targets, 0.5)

    assert analysis.rto is not None and not analysis.rto.data_probe
    assert analysis.rto.seconds == 0.018  # new writes were served at once
    assert analysis.lost is not None and analysis.lost.count == 50
    assert analysis.rpo is not None and analysis.rpo.seconds == 0.992  # 1002 - ack of write 1
    assert analysis.verdict is Verdict.FAIL


def test_data_restored_later_than_watched_is_not_restored() -> None:
    s = flush_then_restore(restored_at=None)
    ops = [op for op in s.ops() if op.process != "final-read"]
    s2 = Script()
    for op in ops:
        s2.add(op.time_ns / 1e6, op.process, op.type, op.f, op.value, error=op.error, **op.extra)
    s2.final_read([*range(1, 51), *range(100, 300)], at=5500)  # the data came back after all

    analysis = analyze(s2.ops(), Targets(rto_seconds=1), 0.5)

    assert analysis.rto is not None and analysis.rto.data_probe
    assert analysis.rto.seconds is None
    assert analysis.verdict is Verdict.FAIL  # watched ~4 s > 1 s + window, reads never served


def test_lost_ids_do_not_hold_back_recovery() -> None:
    """Id 33 was lost for good (absent from the final read): reads missing it still serve."""
    s = flush_then_restore(restored_at=2500)
    ops = s.ops()
    final = next(op for op in ops if op.process == "final-read" and op.type is OK)
    ids = [i for first, last in final.value for i in range(first, last + 1) if i != 33]
    s2 = flush_then_restore(restored_at=2500).final_read(ids, at=5600)

    analysis = analyze(s2.ops()[:-2] + s2.ops()[-2:], Targets(rto_seconds=5), 0.5)

    assert analysis.rto is not None and analysis.rto.data_restored_ns is not None


def test_unanswered_reads_are_the_outage_the_writes_measure_not_lost_data() -> None:
    """A pause: reads time out like the writes; the reader reconnecting later must not move RTO."""
    s = Script().writes(range(1, 11), start=0, every=100)  # acked at 10..910
    s.fault(requested=1000, effective=1000, f="pause")
    s.write(11, invoked=1000, done=1500, outcome=INFO)
    s.writes(range(12, 30), start=1600, every=100)
    t = 1000.0
    while t < 3500:
        s.add(t, "reader-0", INVOKE, "read-back", [1, 2])
        if t < 1500:
            s.add(t + 400, "reader-0", INFO, "read-back", error="deadline passed")
        else:
            s.add(t + 5, "reader-0", OK, "read-back", [1, 2], found=2)
        t += 450 if t < 1500 else 100
    s.final_read([*range(1, 30)], at=4000)

    analysis = analyze(s.ops(), Targets(rto_seconds=5), 0.5)

    assert analysis.rto is not None and not analysis.rto.data_probe
    assert analysis.rto.seconds == 0.61  # the writes' recovery at 1610
    assert analysis.resolution is not None
    assert analysis.resolution.rto_s == analysis.resolution.rpo_s  # the writes' resolution
