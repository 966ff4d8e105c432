"""The incident: which fault RPO and RTO are measured from, on compound-fault histories."""

from __future__ import annotations

from typing import Any

from builders import FAIL, INFO, INVOKE, OK, Script, ms

from drillkit.checkers import Verdict, analyze, fault_effective_ns, incident_of, injections
from drillkit.spec import Targets


def fault(
    s: Script,
    kind: str,
    requested: float,
    effective: float,
    *,
    entry: int,
    healed: float | None = None,
    incident: bool = False,
    at: float | None = None,
    duration: float | None = None,
) -> Script:
    tags: dict[str, Any] = {
        "fault_entry": entry,
        "fault_slot": entry,
        "incident": incident,
        "declared_at": at,
        "declared_duration": duration,
    }
    s.add(requested, "fault", INVOKE, kind, {"target": "x"}, **tags)
    s.add(
        effective,
        "fault",
        OK,
        kind,
        {"target": "x"},
        requested_ns=ms(requested),
        effective_ns=ms(effective),
        evidence="in force",
        **tags,
    )
    if healed is not None:
        s.add(healed - 20, "fault", INVOKE, f"heal-{kind}", {"target": "x"}, **tags)
        s.add(
            healed,
            "fault",
            OK,
            f"heal-{kind}",
            {"target": "x"},
            requested_ns=ms(healed - 20),
            effective_ns=ms(healed),
            **tags,
        )
    return s


def cut_then_kill(*, mark: bool = False) -> Script:
    """Scenario 1 of issue 9: the replication link is cut at 1000 (in force 1120) for 2 s; the
    primary is killed at 3100 and the replica, which has nothing after 1120, is promoted.

    Writes every 10 ms from 0 to 3090 are acked (10 ms latency); after the kill, writes fail
    until the promoted node answers at 4000; writes 400.. are acked from 4000 on."""
    s = Script().add(900, "nemesis", OK, "start", tolerance_s=0.05)
    s.writes(range(1, 311), start=0, every=10)  # acked at 10..3100
    fault(s, "cut-link", 1000, 1120, entry=0, healed=3120, at=0.1, duration=2.0)
    fault(s, "kill", 3100, 3105, entry=1, incident=mark, at=2.2)
    s.write(311, invoked=3100, done=3106, outcome=INFO)
    s.writes(range(312, 330), start=3110, every=50, outcome=FAIL)
    s.step("promote", start=3200, end=3900)
    s.writes(range(400, 450), start=4000, every=10)
    survivors = [*range(1, 112), *range(400, 450)]  # acked up to 1110 survived
    return s.final_read(survivors, at=5000)


TARGETS = Targets(rpo_seconds=1.0, rto_seconds=5.0)


def test_replication_cut_then_kill_measures_rpo_from_the_kill_not_the_cut() -> None:
    analysis = analyze(cut_then_kill().ops(), TARGETS, 0.3)

    assert analysis.incident is not None
    assert analysis.incident.injection is not None
    assert analysis.incident.injection.kind == "kill"
    assert analysis.incident.rule == "worst outage"
    assert not analysis.incident.ambiguous
    assert analysis.fault_ns == ms(3105)
    assert analysis.lost is not None and analysis.lost.count == 199  # acks 1120..3100
    assert analysis.rpo is not None
    assert analysis.rpo.seconds == 1.985  # 3105 - ack of write 112 at 1120
    assert analysis.verdict is Verdict.FAIL  # rpo 1.985 > 1 s
    cut, kill = analysis.faults
    assert (cut.incident, kill.incident) == (False, True)
    assert cut.lost == 199 and cut.acknowledged == 199  # 1120 <= ack < 3120
    assert round(cut.duration_s or 0, 3) == 2.0
    assert round(cut.at_s or 0, 3) == 0.22


def test_marking_the_kill_as_incident_gives_the_same_measurement() -> None:
    analysis = analyze(cut_then_kill(mark=True).ops(), TARGETS, 0.3)

    assert analysis.incident is not None and analysis.incident.rule == "marked"
    assert analysis.fault_ns == ms(3105)


def test_a_harmless_first_fault_does_not_hide_the_outage() -> None:
    """Scenario 2: isolate a replica for 0.5 s, kill the primary at 1.5 s."""
    s = Script().writes(range(1, 151), start=0, every=10)  # acked at 10..1500
    fault(s, "isolate", 0, 120, entry=0, healed=620)
    fault(s, "kill", 1500, 1505, entry=1)
    s.writes(range(151, 270), start=1510, every=10, outcome=FAIL)  # failing until 2700
    s.writes(range(300, 350), start=2700, every=10)
    s.final_read([*range(1, 151), *range(300, 350)], at=4000)

    analysis = analyze(s.ops(), Targets(rto_seconds=0.5), 0.3)

    assert analysis.incident is not None and analysis.incident.injection is not None
    assert analysis.incident.injection.kind == "kill"
    assert analysis.rto is not None and analysis.rto.seconds == 1.205  # 2710 - 1505
    assert analysis.rto.detection_s is not None and analysis.rto.detection_s >= 0
    assert analysis.verdict is Verdict.FAIL


def test_two_faults_between_the_last_success_and_the_first_failure_are_ambiguous() -> None:
    s = Script().writes(range(1, 11), start=0, every=100)  # acked at 10..910
    fault(s, "isolate", 950, 960, entry=0)
    fault(s, "kill", 955, 970, entry=1)
    s.write(11, invoked=1000, done=1010, outcome=FAIL)
    s.writes(range(12, 30), start=1100, every=100)
    s.final_read([*range(1, 11), *range(12, 30)], at=3500)

    analysis = analyze(s.ops(), Targets(rto_seconds=5.0), 0.3)

    assert analysis.incident is not None and analysis.incident.ambiguous
    assert analysis.incident.injection is not None
    assert analysis.incident.injection.kind == "isolate"  # the earliest: conservative
    assert analysis.verdict is Verdict.UNKNOWN
    assert any(
        n.startswith("incident ambiguous:") and "incident: true" in n for n in analysis.notes
    )


def test_an_ambiguous_incident_is_settled_by_marking_one() -> None:
    s = Script().writes(range(1, 11), start=0, every=100)
    fault(s, "isolate", 950, 960, entry=0)
    fault(s, "kill", 955, 970, entry=1, incident=True)
    s.write(11, invoked=1000, done=1010, outcome=FAIL)
    s.writes(range(12, 30), start=1100, every=100)
    s.final_read([*range(1, 11), *range(12, 30)], at=3500)

    analysis = analyze(s.ops(), Targets(rto_seconds=5.0), 0.3)

    assert analysis.incident is not None and not analysis.incident.ambiguous
    assert analysis.fault_ns == ms(970)
    assert analysis.verdict is Verdict.PASS


def test_a_marked_incident_that_never_took_effect_leaves_nothing_to_measure() -> None:
    s = Script().writes(range(1, 11), start=0, every=100)
    fault(s, "isolate", 500, 520, entry=0)
    s.add(600, "fault", INVOKE, "pause", {}, fault_entry=1, fault_slot=1, incident=True)
    s.add(
        610,
        "fault",
        FAIL,
        "pause",
        {},
        error="409 already paused",
        fault_entry=1,
        fault_slot=1,
        incident=True,
    )
    s.final_read(range(1, 11), at=2000)

    analysis = analyze(s.ops(), Targets(rto_seconds=5.0), 0.3)

    assert analysis.fault_ns is None
    assert analysis.verdict is Verdict.UNKNOWN
    assert any("never took effect" in n for n in analysis.notes)
    assert any("faults[1] pause was not injected: 409 already paused" in n for n in analysis.notes)


def test_repeated_harmless_faults_with_no_failure_measure_from_the_first() -> None:
    s = Script().writes(range(1, 60), start=0, every=100)
    for k in range(3):
        fault(s, "isolate", 1000 + k * 2000, 1100 + k * 2000, entry=0, healed=2100 + k * 2000)
    s.final_read(range(1, 60), at=7000)

    incident = incident_of(s.ops())

    assert incident.rule == "no failure" and not incident.ambiguous
    assert incident.effective_ns == ms(1100)
    assert fault_effective_ns(s.ops()) == ms(1100)


def test_loss_without_failure_under_several_faults_is_ambiguous() -> None:
    s = Script().writes(range(1, 60), start=0, every=100)
    fault(s, "isolate", 1000, 1100, entry=0)
    fault(s, "flushall", 3000, 3010, entry=1)
    s.final_read(range(31, 60), at=7000)

    incident = incident_of(s.ops())

    assert incident.ambiguous and incident.rule == "no failure"


def test_heals_pair_with_their_injection_by_slot() -> None:
    s = Script()
    fault(s, "isolate", 0, 100, entry=0, healed=500)
    fault(s, "isolate", 200, 300, entry=1, healed=400)

    first, second = injections(s.ops())

    assert (first.healed_ns, second.healed_ns) == (ms(500), ms(400))


def test_a_blip_under_a_harmless_fault_does_not_hide_the_crash_that_follows() -> None:
    """One write times out while a replica is isolated (a noisy machine); the kill at 1.5 s is
    the incident: its outage is the longest."""
    s = Script().writes(range(1, 31), start=0, every=10)  # acked at 10..300
    fault(s, "isolate", 0, 120, entry=0, healed=620)
    s.write(31, invoked=300, done=800, outcome=INFO)  # a blip: one write past its deadline
    s.writes(range(32, 101), start=810, every=10)  # acked at 820..1500
    fault(s, "kill", 1500, 1505, entry=1)
    s.writes(range(101, 220), start=1510, every=10, outcome=FAIL)  # failing until 2700
    s.writes(range(300, 350), start=2700, every=10)
    s.final_read([*range(1, 31), *range(32, 101), *range(300, 350)], at=4000)

    analysis = analyze(s.ops(), Targets(rto_seconds=0.5), 0.3)

    assert analysis.incident is not None and analysis.incident.injection is not None
    assert analysis.incident.injection.kind == "kill", analysis.incident.reason
    assert "longest of 2 outages" in analysis.incident.reason
    assert analysis.rto is not None and analysis.rto.seconds == 1.205
    assert analysis.verdict is Verdict.FAIL
