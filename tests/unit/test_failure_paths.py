"""Failure paths (issue 11): a full disk, a dying engine and a hung step each end the run with
exit 3 (or the step's failure), the error recorded, the evidence written as far as possible,
no traceback; a suite still runs its remaining drills and delivers JUnit and metrics."""

from __future__ import annotations

import errno
import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import IO, Any

import pytest
from test_runner_memory import REPO, _fast, _run, _spec

from drillkit.drill import run_drill
from drillkit.errors import EXIT_INFRA, InfrastructureError
from drillkit.history import History, OpType, read_history
from drillkit.runbook import run_runbook
from drillkit.suite import Outputs, run_suite
from drillkit.testing import MemoryPlatform

ENOSPC = OSError(errno.ENOSPC, "No space left on device")


class _FullAfter:
    """A file whose writes fail with ENOSPC after ``room`` of them."""

    def __init__(self, fh: IO[str], room: int) -> None:
        self.fh, self.room = fh, room

    def write(self, text: str) -> int:
        if self.room <= 0:
            raise ENOSPC
        self.room -= 1
        return self.fh.write(text)

    def flush(self) -> None:
        self.fh.flush()

    def close(self) -> None:
        self.fh.close()

    def __enter__(self) -> _FullAfter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.fh.close()


def _disk_full(
    monkeypatch: pytest.MonkeyPatch, full: Path, *, history_room: int = 0, rewrite: bool = False
) -> None:
    """Writing under ``full`` fails with ENOSPC: history.jsonl after ``history_room`` lines,
    every other file is created empty and its first write fails (``rewrite``: the final
    rewrite of the history finds room)."""
    real_open = Path.open

    def fake_open(self: Path, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        if full not in self.parents or not set(mode) & set("wax"):
            return real_open(self, mode, *args, **kwargs)
        if self.name == "history.jsonl":
            return _FullAfter(real_open(self, mode, *args, **kwargs), history_room)
        if rewrite and self.name == "history.jsonl.partial":
            return real_open(self, mode, *args, **kwargs)
        return _FullAfter(real_open(self, mode, *args, **kwargs), 0)

    monkeypatch.setattr(Path, "open", fake_open)


def test_a_history_that_cannot_be_written_keeps_every_op_and_never_raises(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _disk_full(monkeypatch, tmp_path, history_room=2)
    history = History(tmp_path / "run" / "history.jsonl")
    for n in range(5):
        history.append("writer-0", OpType.OK, "write", n)
    history.close()
    assert len(history.ops()) == 5
    assert history.write_error is not None and "No space left" in history.write_error
    assert not history.rewritten
    assert len(read_history(tmp_path / "run" / "history.jsonl")) == 2  # what fitted


def test_the_history_is_rewritten_complete_when_room_returns(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _disk_full(monkeypatch, tmp_path, history_room=2, rewrite=True)
    history = History(tmp_path / "run" / "history.jsonl")
    for n in range(5):
        history.append("writer-0", OpType.OK, "write", n)
    history.close()
    assert history.rewritten
    assert [op.value for op in read_history(tmp_path / "run" / "history.jsonl")] == list(range(5))


def test_enospc_during_a_drill_is_exit_3_with_the_error_and_no_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _disk_full(monkeypatch, tmp_path, history_room=40)
    result = _run(tmp_path, _spec(), MemoryPlatform())
    assert result.exit_code == EXIT_INFRA
    assert result.error is not None
    assert "history.jsonl could not be written" in result.error
    assert "No space left on device" in result.error
    assert "evidence not fully written" in result.error and "report.json" in result.error
    assert "Traceback" not in result.error
    assert result.model.measured.acknowledged_writes > 0  # judged from the in-memory history
    assert "history.jsonl could not be written" in (result.model.error or "")
    # nothing half-written passes for evidence: no empty manifest, no report.json.tmp
    assert not (result.report_dir / "manifest.sha256").exists()
    assert not (result.report_dir / "report.json.tmp").exists()


def test_a_suite_goes_on_after_a_full_disk_and_still_delivers_junit_and_metrics(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    full = tmp_path / "reports" / "full"
    _disk_full(monkeypatch, full, history_room=10)
    spec = _spec()
    drills = [(REPO / "drills/failover.yaml", spec), (REPO / "drills/failover.yaml", spec)]
    roots = iter([full, tmp_path / "reports"])

    def runner(spec: Any, **kw: Any) -> Any:
        kw["report_root"] = next(roots)
        return run_drill(spec, **kw, sleep=_fast, platform=MemoryPlatform())

    outputs = Outputs(junit=tmp_path / "junit.xml", metrics_file=tmp_path / "m.prom")
    suite = run_suite(
        drills,
        report_root=tmp_path / "reports",
        outputs=outputs,
        runner=runner,
        progress=lambda _m: None,
    )
    assert [r.exit_code for r in suite.results] == [EXIT_INFRA, 0]
    assert suite.exit_code == EXIT_INFRA
    assert (tmp_path / "junit.xml").read_text().count("<testsuite ") == 2
    assert "drillkit_drill_success" in (tmp_path / "m.prom").read_text()
    assert json.loads((suite.results[1].report_dir / "report.json").read_text())


def test_the_engine_dying_under_a_step_is_exit_3_not_a_missed_target(tmp_path: Path) -> None:
    platform = MemoryPlatform()

    def engine_dies() -> None:
        platform.engine_lost = "ConnectionError: docker.sock: connection refused"
        raise InfrastructureError("the Docker engine stopped answering")

    platform.on_promote = engine_dies
    result = _run(tmp_path, _spec(), platform)
    assert result.exit_code == EXIT_INFRA
    report = json.loads((result.report_dir / "report.json").read_text())
    assert "the Docker engine stopped answering" in report["error"]
    assert "engine stopped answering during the run" in report["error"]
    assert platform.swept == [result.run_id]


def test_a_step_failing_because_the_engine_died_is_exit_3(tmp_path: Path) -> None:
    platform = MemoryPlatform()

    def socket_gone() -> None:  # what the Docker SDK raises: not an InfrastructureError
        platform.engine_lost = "ConnectionError: docker.sock: connection refused"
        raise ConnectionError("Connection aborted")

    platform.on_promote = socket_gone
    spec = _spec(  # the primary survives, so the final read does not wait for one
        topology={"replicas": 2},
        faults=[{"kind": "stop", "target": "replica", "at": 0, "duration": 0.1}],
    )
    result = _run(tmp_path, spec, platform)
    assert result.exit_code == EXIT_INFRA
    assert "engine stopped answering" in (result.error or "")


def test_a_hung_step_is_timed_out_and_never_blocks_exit(tmp_path: Path) -> None:
    script = textwrap.dedent(
        """
        import threading, time
        from drillkit.history import History
        from drillkit.runbook import run_runbook

        class Hang:
            name, delay_seconds, timeout_seconds = "hang", 0.0, 0.2
            def run(self):
                threading.Event().wait()  # never returns

        result = run_runbook([Hang()], History())
        print(result.failed_step, result.error, flush=True)
        """
    )
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=20,
        env={"PYTHONPATH": str(REPO / "src")},
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "hang timed out after 0.2s"
    assert time.monotonic() - started < 10


def test_a_step_timeout_is_recorded_as_a_failed_step() -> None:
    class Slow:
        name, delay_seconds, timeout_seconds = "slow", 0.0, 0.05

        def run(self) -> dict[str, Any]:
            time.sleep(0.5)
            return {}

    history = History()
    result = run_runbook([Slow()], history)
    assert result.failed_step == "slow" and not result.infrastructure
    assert history.ops()[-1].type is OpType.FAIL
