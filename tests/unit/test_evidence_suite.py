"""Scheduled runs without Docker: a fake runner stands in for run_drill. One exit code for the
suite, every file validated first, Ctrl-C stops the suite, and a host lock refuses overlap."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from evidence_helpers import REPO, literal_run
from rich.console import Console

from drillkit.checkers import Verdict
from drillkit.cli.run import RunRequest, run_command
from drillkit.drill import DrillResult
from drillkit.jsonlog import JsonLog
from drillkit.spec import DrillFileError, load_drill
from drillkit.suite import (
    EXIT_LOCKED,
    LOCK_ENV,
    LockHeld,
    Outputs,
    load_suite,
    merge_exit_codes,
    run_lock,
    run_suite,
)

DRILLS = REPO / "drills"


def _result(
    name: str, verdict: Verdict, tmp: Path, *, interrupted: bool = False, infra: bool = False
) -> DrillResult:
    report, _ = literal_run(drill=name)
    report = report.model_copy(update={"verdict": verdict.value})
    return DrillResult(
        f"{name}-1",
        tmp / name,
        verdict,
        None,
        report,  # type: ignore[arg-type]
        None,
        infra,
        interrupted,
    )


class FakeRunner:
    def __init__(self, tmp: Path, outcomes: dict[str, dict[str, Any]]) -> None:
        self.tmp, self.outcomes, self.ran = tmp, outcomes, []

    def __call__(self, spec: Any, **kw: Any) -> DrillResult:
        self.ran.append(spec.name)
        return _result(spec.name, tmp=self.tmp, **self.outcomes[spec.name])


def _specs(*names: str) -> list[Any]:
    spec = load_drill(DRILLS / "failover.yaml")
    return [(DRILLS / "failover.yaml", spec.model_copy(update={"name": n})) for n in names]


def test_exit_codes_merge_interrupted_then_infrastructure_then_failure() -> None:
    assert merge_exit_codes([0, 0]) == 0
    assert merge_exit_codes([0, 1]) == 1
    assert merge_exit_codes([1, 3, 0]) == 3
    assert merge_exit_codes([3, 130, 1]) == 130


def test_a_suite_runs_in_order_and_delivers_junit_and_metrics_for_all(tmp_path: Path) -> None:
    runner = FakeRunner(
        tmp_path,
        {
            "a": {"verdict": Verdict.PASS},
            "b": {"verdict": Verdict.FAIL},
            "c": {"verdict": Verdict.PASS},
        },
    )
    outputs = Outputs(junit=tmp_path / "junit.xml", metrics_file=tmp_path / "m.prom")
    suite = run_suite(
        _specs("a", "b", "c"),
        report_root=tmp_path,
        outputs=outputs,
        runner=runner,
        progress=lambda _m: None,
    )
    assert runner.ran == ["a", "b", "c"] and suite.exit_code == 1
    assert suite.delivery_errors == []
    assert (tmp_path / "junit.xml").read_text().count("<testsuite ") == 3
    metrics = (tmp_path / "m.prom").read_text()
    assert 'drillkit_drill_success{drill="b"} 0.0' in metrics


def test_an_interrupted_drill_stops_the_suite(tmp_path: Path) -> None:
    runner = FakeRunner(
        tmp_path,
        {
            "a": {"verdict": Verdict.PASS},
            "b": {"verdict": Verdict.UNKNOWN, "interrupted": True},
            "c": {"verdict": Verdict.PASS},
        },
    )
    suite = run_suite(
        _specs("a", "b", "c"), report_root=tmp_path, runner=runner, progress=lambda _m: None
    )
    assert runner.ran == ["a", "b"] and suite.exit_code == 130


def test_an_unreachable_pushgateway_makes_the_run_fail(tmp_path: Path) -> None:
    runner = FakeRunner(tmp_path, {"a": {"verdict": Verdict.PASS}})
    suite = run_suite(
        _specs("a"),
        report_root=tmp_path,
        runner=runner,
        progress=lambda _m: None,
        outputs=Outputs(pushgateway="http://127.0.0.1:9"),
    )
    assert suite.exit_code == 3 and "--pushgateway" in suite.delivery_errors[0]


def test_the_lock_refuses_a_second_holder_and_names_the_first(tmp_path: Path) -> None:
    path = tmp_path / "drillkit.lock"
    with (
        run_lock(path),
        pytest.raises(LockHeld, match=r"holds .*drillkit.lock \(pid \d+ since"),
        run_lock(path, wait_seconds=0.2, sleep=lambda _s: None),
    ):
        pass
    with run_lock(path):  # released when the holder left
        pass


def test_suite_files_are_validated_with_file_and_field(tmp_path: Path) -> None:
    suite = tmp_path / "nightly.yaml"
    suite.write_text("drills: [failover, ./mine.yaml]\n")
    assert load_suite(suite, DRILLS) == [DRILLS / "failover.yaml", tmp_path / "mine.yaml"]
    suite.write_text("drills: []\n")
    with pytest.raises(DrillFileError, match=r"nightly\.yaml: drills: expected a non-empty list"):
        load_suite(suite, DRILLS)
    suite.write_text("drills: [failover]\nschedule: daily\n")
    with pytest.raises(DrillFileError, match="schedule: unknown field"):
        load_suite(suite, DRILLS)


def _consoles() -> tuple[Console, Console, io.StringIO]:
    buf = io.StringIO()
    return Console(file=io.StringIO()), Console(file=buf, width=200), buf


def test_run_command_rejects_bad_input_before_starting_anything(tmp_path: Path) -> None:
    out, err, buf = _consoles()
    base = {"drills_dir": DRILLS, "report_dir": tmp_path}
    assert run_command(RunRequest(None, **base), out=out, err=err, progress=print) == 2
    assert (
        run_command(RunRequest("failover", all=True, **base), out=out, err=err, progress=print) == 2
    )
    assert (
        run_command(
            RunRequest("failover", log_format="xml", **base), out=out, err=err, progress=print
        )
        == 2
    )
    assert run_command(RunRequest("nope", **base), out=out, err=err, progress=print) == 2
    assert (
        run_command(
            RunRequest("failover", signing_key=tmp_path / "no.pem", **base),
            out=out,
            err=err,
            progress=print,
        )
        == 2
    )
    assert "cannot read" in buf.getvalue()


def test_run_command_exits_75_while_another_run_holds_the_lock(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(LOCK_ENV, str(tmp_path / "l.lock"))
    out, err, buf = _consoles()
    with run_lock(tmp_path / "l.lock"):
        code = run_command(
            RunRequest("failover", DRILLS, tmp_path), out=out, err=err, progress=print
        )
    assert code == EXIT_LOCKED and "another drillkit run holds" in buf.getvalue()
    assert not any(tmp_path.glob("failover-*"))


def test_json_logs_are_one_event_per_line_with_the_timeline_and_verdict() -> None:
    report, _ = literal_run()
    buf = io.StringIO()
    log = JsonLog(buf)
    log.progress("injecting kill")
    log.drill_result(report, "reports/x", 0)
    events = [json.loads(line) for line in buf.getvalue().splitlines()]
    names = [e["event"] for e in events]
    assert names[0] == "progress" and names[-1] == "verdict"
    assert {"fault:kill", "runbook:promote", "recovered", "check"} <= set(names)
    verdict = events[-1]
    assert verdict["verdict"] == "pass" and verdict["drill"] == "failover"
    assert verdict["measured"]["rto_seconds"] == 0.51 and verdict["evidence"] == "reports/x"
    assert all("ts" in e and "level" in e for e in events)
