"""Effective times, heals of exactly what was injected, and lead arithmetic, without containers."""

from __future__ import annotations

import calendar
import time
from datetime import UTC, datetime
from typing import Any

import pytest

from drillkit.backend.docker import DockerNode
from drillkit.faults.base import (
    Effect,
    FaultFailed,
    combine,
    docker_time_ns,
    record,
    split_markers,
    wall_to_monotonic_ns,
)
from drillkit.faults.nemesis import Nemesis
from drillkit.faults.process import Kill, Pause
from drillkit.faults.timing import LatencyBook, heal_due, inject_due, phase_offset
from drillkit.history import History, OpType
from drillkit.spec.faults import IsolateFault, KillFault, PauseFault, Repeat


# -- parsing what helpers and Docker say ---------------------------------------------------------
def test_docker_time_keeps_all_nine_fractional_digits() -> None:
    base = calendar.timegm((2026, 12, 1, 0, 12, 34, 0, 0, 0)) * 10**9
    assert docker_time_ns("2026-12-01T00:12:34.123456789Z") == base + 123456789
    assert docker_time_ns("2026-12-01T00:12:34.5Z") == base + 500_000_000
    assert docker_time_ns("2026-12-01T01:12:34.000000001+01:00") == base + 1
    assert docker_time_ns("2026-12-01T00:12:34Z") == base


@pytest.mark.parametrize("stamp", ["0001-01-01T00:00:00Z", "", "yesterday"])
def test_unset_or_unreadable_docker_times_are_none(stamp: str) -> None:
    assert docker_time_ns(stamp) is None


def test_markers_are_stripped_from_the_evidence() -> None:
    text, stamps = split_markers("DRILLKIT-EFFECTIVE 1700000000123456789\n4 rules in DRILLKIT-ab")
    assert text == "4 rules in DRILLKIT-ab"
    assert stamps == [1700000000123456789]


def test_wall_to_monotonic_subtracts_the_clock_offset() -> None:
    assert wall_to_monotonic_ns(5_000, offset_ns=1_000) == 4_000
    wall, mono = time.time_ns(), time.monotonic_ns()
    assert abs(wall_to_monotonic_ns(wall) - mono) < 50_000_000


def test_combine_picks_the_latest_node_or_the_earliest_for_links() -> None:
    a, b = Effect("a", 10, "marker"), Effect("b", 20, "marker")
    assert combine([a, b]).effective_ns == 20
    assert combine([a, b], earliest=True).effective_ns == 10
    assert "earliest node" in combine([a, b], earliest=True).how
    assert combine([a, "c: untimed"]).effective_ns is None  # the latest is not known
    assert combine([a, b]).evidence == "a; b"


# -- record ----------------------------------------------------------------------------------------
class StepClock:
    """Each reading advances 100 ns: request at 100, return at 200 (with one read in between)."""

    def __init__(self) -> None:
        self.now = 0

    def __call__(self) -> int:
        self.now += 100
        return self.now


def _recorded(result: str | Effect) -> dict[str, Any]:
    history = History(clock=StepClock())
    record(history, "pause", {"target": "pg0"}, lambda: result)
    done = history.ops()[-1]
    assert done.type is OpType.OK and done.time_ns == done.extra["effective_ns"]
    return done.extra


def test_record_a_string_is_effective_when_the_action_returned() -> None:
    extra = _recorded("pg0: paused")
    assert extra["requested_ns"] == 100 and extra["returned_ns"] == 200
    assert extra["effective_ns"] == 200 and extra["effective_by"] == "when the action returned"
    assert extra["evidence"] == "pg0: paused"


def test_record_an_effect_keeps_its_time_and_how() -> None:
    extra = _recorded(Effect("pg0: gone", 150, "docker State.FinishedAt"))
    assert extra["effective_ns"] == 150 and extra["effective_by"] == "docker State.FinishedAt"


@pytest.mark.parametrize(
    ("given", "expected", "note"), [(50, 100, "clamped up"), (900, 200, "clamped down")]
)
def test_record_clamps_the_effective_time_and_says_so(given: int, expected: int, note: str) -> None:
    extra = _recorded(Effect("x", given, "marker"))
    assert extra["effective_ns"] == expected and note in extra["effective_by"]


def test_a_failure_is_recorded_once_and_raised_as_already_recorded() -> None:
    history = History()

    def boom() -> str:
        raise RuntimeError("409 already paused")

    with pytest.raises(FaultFailed, match="409 already paused") as caught:
        record(history, "pause", None, boom)
    assert isinstance(caught.value.__cause__, RuntimeError)
    assert [op.type for op in history.ops()] == [OpType.INVOKE, OpType.FAIL]


# -- the tagged view -----------------------------------------------------------------------------
def test_tagged_view_appends_to_the_same_history_with_its_tags() -> None:
    history = History()
    history.invoke("writer-0", "write", 1)
    view = history.tagged(fault_entry=2, incident=True)
    request = view.invoke("fault", "kill", None, note="n")
    view.complete(request, OpType.OK, fault_entry=5)
    ops = history.ops()
    assert [op.index for op in ops] == [0, 1, 2]
    assert ops[1].extra == {"fault_entry": 2, "incident": True, "note": "n"}
    assert ops[2].extra["fault_entry"] == 5  # an op's own field wins over a tag
    assert len(view) == 3 and view.ops() == ops and "fault_entry" not in ops[0].extra
    assert abs(view.now() - history.now()) < 10**9


# -- heal exactly what was injected --------------------------------------------------------------
class FakeContainer:
    def __init__(self) -> None:
        self.status = "running"
        self.id = "c0"
        self.attrs: dict[str, Any] = {"State": {"FinishedAt": "0001-01-01T00:00:00Z"}}

    def reload(self) -> None:
        pass

    def pause(self) -> None:
        if self.status == "paused":
            raise RuntimeError("409 Client Error: Container c0 is already paused")
        self.status = "paused"

    def unpause(self) -> None:
        self.status = "running"

    def kill(self, signal: str) -> None:
        stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S")
        self.attrs["State"]["FinishedAt"] = f"{stamp}.{time.time_ns() % 10**9:09d}Z"
        self.status = "exited"

    def wait(self, timeout: float) -> dict[str, int]:
        return {"StatusCode": 137}


class FakeTopology:
    def __init__(self) -> None:
        self.node = DockerNode("pg0", "primary", FakeContainer())

    def resolve(self, target: str) -> list[Any]:
        return [self.node]


def test_a_failed_second_pause_heals_nothing_and_the_first_stays_in_place() -> None:
    topology, history = FakeTopology(), History()
    first = Pause(PauseFault(kind="pause", duration=3))
    second = Pause(PauseFault(kind="pause", at=1, duration=1))
    first.inject(topology, history)  # type: ignore[arg-type]
    with pytest.raises(FaultFailed, match="already paused"):
        second.inject(topology, history)  # type: ignore[arg-type]
    second.heal(topology, history)  # type: ignore[arg-type]
    assert topology.node.status() == "paused"
    assert [op.f for op in history.ops()] == ["pause", "pause", "pause", "pause"]
    first.heal(topology, history)  # type: ignore[arg-type]
    assert topology.node.status() == "running"
    healed = history.ops()[-1]
    assert healed.f == "heal-pause" and healed.extra["effective_by"] == "when unpause() returned"


def test_kill_is_dated_by_docker_finished_at() -> None:
    topology, history = FakeTopology(), History()
    Kill(KillFault(kind="kill")).inject(topology, history)  # type: ignore[arg-type]
    done = history.ops()[-1].extra
    assert done["effective_by"].startswith("docker State.FinishedAt")
    assert done["requested_ns"] <= done["effective_ns"] <= done["returned_ns"]


# -- lead arithmetic -----------------------------------------------------------------------------
def test_phase_offset_leaves_room_for_the_longest_lead() -> None:
    assert phase_offset([(0.0, 0.15), (1.0, 0.05)]) == pytest.approx(0.15)
    assert phase_offset([(2.0, 0.15)]) == 0.0
    assert phase_offset([]) == 0.0
    assert inject_due(10.0, 1.0, 0.15) == pytest.approx(10.85)
    assert heal_due(11.0, 3.0, 0.03) == pytest.approx(13.97)


def test_latency_book_learns_per_kind_and_heals_from_the_fault_own_inject() -> None:
    book = LatencyBook({"isolate": 0.15})
    assert book.inject_lead("isolate") == 0.15 and book.inject_lead("kill") == 0.0
    book.learn_inject("isolate", 0.2)
    book.learn_inject("isolate", 0.3)
    assert book.inject_lead("isolate") == pytest.approx(0.25)
    assert book.heal_lead("isolate", 0.22) == 0.22  # no heal measured yet: this fault's own
    assert book.heal_lead("isolate") == 0.15
    book.learn_heal("isolate", 0.18)
    assert book.heal_lead("isolate", 0.22) == 0.18


# -- the Nemesis honours what is declared --------------------------------------------------------
class FakeClock:
    def __init__(self) -> None:
        self.now = 1_000_000_000

    def __call__(self) -> int:
        return self.now


LATENCIES = {"isolate": 0.2, "pause": 0.03, "kill": 0.05}


class SlowFault:
    """Takes ``latency`` seconds of fake time from request to effect, inject and heal alike."""

    def __init__(self, spec: Any, clock: FakeClock) -> None:
        self.kind, self.spec, self.clock, self.injected = spec.kind, spec, clock, False

    def _act(self) -> str:
        self.clock.now += round(LATENCIES[self.kind] * 1e9)
        return "done"

    def inject(self, topology: Any, history: History) -> None:
        record(history, self.kind, None, self._act)
        self.injected = True

    def heal(self, topology: Any, history: History) -> None:
        if self.injected:
            self.injected = False
            record(history, f"heal-{self.kind}", None, self._act)


def _nemesis(specs: list[Any], expected: dict[str, float]) -> tuple[Nemesis, FakeClock]:
    clock = FakeClock()
    nemesis = Nemesis(
        specs,
        None,  # type: ignore[arg-type]
        History(clock=clock),
        make_fault=lambda s: SlowFault(s, clock),
        clock=clock,
        spawn=lambda work: work(),  # actions run inline: deterministic fake time
        expected_latency=lambda kind: expected.get(kind, 0.0),
    )

    def fake_wait(timeout: float | None = None) -> bool:
        clock.now += round((timeout or 0.0) * 1e9)
        return False

    nemesis._wake.wait = fake_wait  # type: ignore[method-assign]
    return nemesis, clock


def _effective(nemesis: Nemesis, f: str, slot: int) -> int:
    ops = nemesis.history.ops()
    return next(
        int(op.extra["effective_ns"])
        for op in ops
        if op.f == f and op.type is OpType.OK and op.extra.get("fault_slot") == slot
    )


def test_at_and_duration_are_honoured_from_effective_to_heal_effective() -> None:
    specs = [
        PauseFault(kind="pause", at=0.0, duration=3.0),
        KillFault(kind="kill", target="replica", at=4.0),
    ]
    nemesis, clock = _nemesis(specs, {"pause": 0.03, "kill": 0.05})
    started = clock.now
    nemesis.start()
    assert nemesis.t0_ns == started + 30_000_000  # room for the pause's lead
    assert nemesis.wait(5)
    t0 = nemesis.t0_ns
    start = next(op for op in nemesis.history.ops() if op.process == "nemesis")
    assert (start.process, start.f, start.time_ns) == ("nemesis", "start", t0)
    assert start.extra == {"tolerance_s": 0.05}
    assert _effective(nemesis, "pause", 0) == t0
    assert _effective(nemesis, "heal-pause", 0) == t0 + 3_000_000_000
    assert _effective(nemesis, "kill", 1) == t0 + 4_000_000_000
    kill = [op for op in nemesis.history.ops() if op.f == "kill"][-1]
    assert kill.extra["fault_entry"] == 1 and kill.extra["declared_at"] == 4.0
    assert kill.extra["declared_duration"] is None and kill.extra["incident"] is False


def test_a_late_injection_still_lasts_its_declared_duration_and_leads_are_learnt() -> None:
    # isolate is expected to take 0.15 s but takes 0.2 s: it lands 50 ms late and delays the
    # pause queued behind it; both heals still come exactly `duration` after their effects.
    specs = [
        IsolateFault(kind="isolate", target="pg1", at=0.0, duration=1.0),
        PauseFault(kind="pause", at=0.0, duration=2.0),
    ]
    nemesis, _clock = _nemesis(specs, {"isolate": 0.15, "pause": 0.03})
    nemesis.start()
    assert nemesis.wait(5)
    t0 = nemesis.t0_ns
    assert t0 is not None
    isolated = _effective(nemesis, "isolate", 0)
    assert isolated == t0 + 50_000_000
    paused = _effective(nemesis, "pause", 1)
    assert paused == isolated + 30_000_000  # queued behind the slow isolate
    assert _effective(nemesis, "heal-isolate", 0) == isolated + 1_000_000_000
    assert _effective(nemesis, "heal-pause", 1) == paused + 2_000_000_000
    assert nemesis.latency.inject_lead("isolate") == pytest.approx(0.2)


def test_effect_event_per_entry_and_after_the_end() -> None:
    specs = [KillFault(kind="kill", at=0.0), KillFault(kind="kill", target="replica", at=1.0)]
    nemesis, _clock = _nemesis(specs, {})
    first = nemesis.effect_event(1)
    assert not first.is_set()
    nemesis.start()
    assert nemesis.wait(5)
    assert first.is_set() and nemesis.effect_event(None).is_set()
    assert nemesis.effect_event(7).is_set()  # the schedule is over: nothing will come


class AimingFault(SlowFault):
    """Starts up in ``LATENCIES[kind]`` at most, then holds its effect until ``aim_ns``."""

    def __init__(self, spec: Any, clock: FakeClock) -> None:
        super().__init__(spec, clock)
        self.aim_ns: int | None = None
        self.aims: list[int | None] = []

    def _act(self) -> str:
        ready = self.clock.now + round(LATENCIES[self.kind] * 1e9)
        self.aims.append(self.aim_ns)
        self.clock.now = max(ready, self.aim_ns or 0)
        return "done"


def test_an_aimable_fault_is_told_when_its_effect_and_heal_are_due() -> None:
    clock = FakeClock()
    made: list[AimingFault] = []

    def make(spec: Any) -> AimingFault:
        made.append(AimingFault(spec, clock))
        return made[-1]

    nemesis = Nemesis(
        [IsolateFault(kind="isolate", target="pg1", at=1.0, duration=2.0)],
        None,  # type: ignore[arg-type]
        History(clock=clock),
        make_fault=make,
        clock=clock,
        spawn=lambda work: work(),
        expected_latency=lambda _kind: 0.3,  # generous: the fault starts up in 0.2 s
    )

    def fake_wait(timeout: float | None = None) -> bool:
        clock.now += round((timeout or 0.0) * 1e9)
        return False

    nemesis._wake.wait = fake_wait  # type: ignore[method-assign]
    nemesis.start()
    assert nemesis.wait(5)
    t0 = nemesis.t0_ns
    assert t0 is not None
    assert made[0].aims == [t0 + 1_000_000_000, t0 + 3_000_000_000]
    assert _effective(nemesis, "isolate", 0) == t0 + 1_000_000_000  # exactly, not 0.1 s early
    assert _effective(nemesis, "heal-isolate", 0) == t0 + 3_000_000_000


def test_actions_run_concurrently_so_a_slow_one_does_not_delay_the_next() -> None:
    class Sleepy:
        def __init__(self, spec: Any) -> None:
            self.kind, self.spec = spec.kind, spec

        def inject(self, topology: Any, history: History) -> None:
            record(
                history,
                self.kind,
                None,
                lambda: time.sleep(0.3 if self.kind == "isolate" else 0) or "ok",
            )

        def heal(self, topology: Any, history: History) -> None:
            pass

    history = History()
    nemesis = Nemesis(
        [IsolateFault(kind="isolate", target="pg1"), PauseFault(kind="pause", at=0.05)],
        None,  # type: ignore[arg-type]
        history,
        make_fault=Sleepy,
        expected_latency=lambda _kind: 0.0,
    )
    nemesis.start()
    assert nemesis.wait(5)
    t0 = nemesis.t0_ns
    assert t0 is not None
    paused = next(op for op in history.ops() if op.f == "pause" and op.is_completion)
    isolated = next(op for op in history.ops() if op.f == "isolate" and op.is_completion)
    assert paused.time_ns < isolated.time_ns  # the pause did not wait for the slow isolate
    assert abs(paused.time_ns - (t0 + 50_000_000)) < 40_000_000


def test_a_held_helper_script_waits_for_its_moment() -> None:
    import subprocess

    from drillkit.faults.netrules import held

    aim = time.monotonic_ns() + 200_000_000
    script = held(aim, 'echo "DRILLKIT-EFFECTIVE ${EPOCHREALTIME/[.,]/}000"')
    out = subprocess.run(["bash", "-c", script], capture_output=True, text=True, check=True).stdout
    _text, [stamp] = split_markers(out)
    late_ms = (wall_to_monotonic_ns(stamp) - aim) / 1e6
    assert 0 <= late_ms < 50


def test_the_time_an_aimed_change_takes_is_learnt_and_aimed_ahead_of() -> None:
    clock = FakeClock()

    class Settling(AimingFault):
        def _act(self) -> str:
            super()._act()
            self.clock.now += 20_000_000  # the change itself (iptables-restore) takes 20 ms
            return "done"

    nemesis = Nemesis(
        [
            IsolateFault(
                kind="isolate", target="pg1", duration=1.0, repeat=Repeat(every=2.0, times=2)
            )
        ],
        None,  # type: ignore[arg-type]
        History(clock=clock),
        make_fault=lambda s: Settling(s, clock),
        clock=clock,
        spawn=lambda work: work(),
        expected_latency=lambda _kind: 0.3,
    )

    def fake_wait(timeout: float | None = None) -> bool:
        clock.now += round((timeout or 0.0) * 1e9)
        return False

    nemesis._wake.wait = fake_wait  # type: ignore[method-assign]
    nemesis.start()
    assert nemesis.wait(5)
    t0 = nemesis.t0_ns
    assert t0 is not None
    first, second = _effective(nemesis, "isolate", 0), _effective(nemesis, "isolate", 1)
    assert first == t0 + 20_000_000  # not learnt yet
    assert second == t0 + 2_000_000_000  # learnt: aimed 20 ms ahead
    assert _effective(nemesis, "heal-isolate", 0) - first == 1_020_000_000
    assert _effective(nemesis, "heal-isolate", 1) - second == 1_000_000_000
