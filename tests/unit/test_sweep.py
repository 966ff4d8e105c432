"""Sweeps: the matrix, the columns, the aggregation (pure), and ``drillkit sweep`` end to end on
the in-memory target (milliseconds per run)."""

from __future__ import annotations

import csv
import io
import json
import time
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from drillkit.cli.sweep import SweepRequest, sweep_command
from drillkit.drill import DrillResult, run_drill
from drillkit.history import Op, OpType
from drillkit.report.evidence import steady_writes_per_second
from drillkit.report.model import report_schema
from drillkit.spec import DrillSpec
from drillkit.suite import LockHeld, run_lock
from drillkit.sweep import (
    COLUMNS,
    Axis,
    Cell,
    CellSummary,
    RunRow,
    SweepError,
    column_value,
    expand,
    parse_axes,
)
from drillkit.sweep_run import plan_sweep
from drillkit.testing import MemoryPlatform

REPO = Path(__file__).resolve().parents[2]
FAILOVER = REPO / "drills" / "failover.yaml"
FAST = "workload.stable_window_seconds=0.05"  # the memory target's sleeps are scaled 20x


# -- the matrix (pure) --------------------------------------------------------------------------


def test_axes_split_at_commas_outside_brackets_and_single_values_are_fixed() -> None:
    axes, fixed = parse_axes(
        ["topology.replication=async,sync", "workload.rate=100", "x.y=[a, b],'c,d'"]
    )
    assert axes == [
        Axis("topology.replication", ("async", "sync")),
        Axis("x.y", ("[a, b]", "'c,d'")),
    ]
    assert fixed == ["workload.rate=100"]


@pytest.mark.parametrize(
    ("items", "message"),
    [
        (["topology.replication"], "expected KEY=V1,V2"),
        (["a.b=1,2", "a.b=3"], "given twice"),
        (["a.b=1,,2"], "an empty value"),
        (["a.b=1,1"], "a value repeats"),
    ],
)
def test_malformed_sets_are_refused_with_the_reason(items: list[str], message: str) -> None:
    with pytest.raises(SweepError, match=message):
        parse_axes(items)


def test_the_matrix_is_the_cartesian_product_first_axis_slowest() -> None:
    cells = expand(
        [
            Axis("topology.replication", ("async", "sync")),
            Axis("t.synchronous_commit", ("on", "x")),
        ],
        ["workload.rate=9"],
    )
    assert [c.name for c in cells] == [
        "replication=async synchronous_commit=on",
        "replication=async synchronous_commit=x",
        "replication=sync synchronous_commit=on",
        "replication=sync synchronous_commit=x",
    ]
    assert cells[2].overrides == [
        "workload.rate=9",
        "topology.replication=sync",
        "t.synchronous_commit=on",
    ]
    assert cells[0].slug == "01-replication-async_synchronous_commit-on"
    assert expand([], []) == [Cell(0, ())] and Cell(0, ()).name == "baseline"


def test_cell_names_keep_the_full_key_when_last_parts_collide() -> None:
    (cell,) = expand([Axis("a.rate", ("1",)), Axis("b.rate", ("2",))])
    assert cell.name == "a.rate=1 b.rate=2"
    assert "/" not in Cell(0, (("k", "../x y"),)).slug


def test_every_column_reads_a_field_of_the_report_schema() -> None:
    schema = report_schema()
    for column in COLUMNS:
        section, name = column.field.split(".")
        ref = schema["properties"][section]["$ref"].rsplit("/", 1)[-1]
        assert name in schema["$defs"][ref]["properties"], column


def test_column_values_are_numbers_or_none() -> None:
    rpo = COLUMNS[0]
    assert column_value({"measured": {"rpo_seconds": 0}}, rpo) == 0.0
    assert column_value({"measured": {"rpo_seconds": None}}, rpo) is None
    assert column_value({"measured": {}}, rpo) is None
    assert column_value({"measured": {"rpo_seconds": True}}, rpo) is None
    assert column_value({}, rpo) is None


def test_a_cell_aggregates_p50_p95_n_and_verdicts() -> None:
    summary = CellSummary(Cell(0, ()))
    for n, (rpo, verdict) in enumerate([(0.1, "pass"), (0.3, "fail"), (None, "unknown")], 1):
        report = {"verdict": verdict, "measured": {"rpo_seconds": rpo, "lost_writes": 2 * n}}
        summary.runs.append(RunRow.of(n, f"c/{n}", report, 0))
    rpo = summary.stat(COLUMNS[0])
    assert (rpo.n, rpo.p50, rpo.p95) == (2, pytest.approx(0.2), pytest.approx(0.29))
    lost = summary.stat(COLUMNS[2])
    assert (lost.n, lost.p50, lost.p95) == (3, 4.0, pytest.approx(5.8))
    assert summary.verdicts == {"pass": 1, "fail": 1, "unknown": 1}
    assert summary.stat(COLUMNS[3]).n == 0


def _write(t: int, f: str = "write", type_: OpType = OpType.OK) -> Op:
    return Op(index=t, process="writer-1", type=type_, f=f, time_ns=t * 10_000_000)


def test_throughput_counts_acknowledged_writes_before_the_incident() -> None:
    ops = [_write(t) for t in range(0, 11)]  # one ack every 10 ms: 100/s
    ops += [_write(11, type_=OpType.FAIL), _write(12, f="read"), _write(50)]
    assert steady_writes_per_second(ops, incident_ns=105_000_000) == 100.0
    assert steady_writes_per_second(ops, incident_ns=None) == 22.0  # 11 gaps in 0.5 s
    assert steady_writes_per_second(ops[:1], incident_ns=None) is None


# -- validation before anything runs ------------------------------------------------------------


def test_every_cell_is_validated_and_an_invalid_one_is_named() -> None:
    plan = plan_sweep(
        FAILOVER, ["topology.replication=async,sync", "topology.synchronous_commit=on,local"]
    )
    assert sorted(plan.specs) == [0, 1, 2]
    (line,) = plan.problem_lines()
    assert line.startswith("cell 'replication=sync synchronous_commit=local': ")
    assert "waits for no standby" in line
    assert plan.specs[2].topology.replication == "sync"
    assert plan.specs[2].topology.synchronous_commit == "on"  # YAML reads on as true


# -- end to end on the in-memory target ---------------------------------------------------------


def _consoles() -> tuple[Console, Console, io.StringIO, io.StringIO]:
    out, err = io.StringIO(), io.StringIO()
    return Console(file=out, width=300), Console(file=err, width=300), out, err


def _memory_runner(calls: list[DrillSpec], hook: Any = None) -> Any:
    def runner(spec: DrillSpec, folder: Path) -> DrillResult:
        calls.append(spec)
        # the sweep holds the host lock around every run
        with pytest.raises(LockHeld), run_lock():
            pass
        if hook is not None:
            hook(len(calls))
        return run_drill(
            spec,
            drill_file=str(FAILOVER),
            report_dir=folder,
            progress=lambda _m: None,
            sleep=lambda s: time.sleep(s / 20),
            platform=MemoryPlatform(),
        )

    return runner


@pytest.fixture(autouse=True)
def _no_docker_for_the_lock(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("drillkit.suite.daemon_key", lambda: "unit-test-daemon")


def _sweep(tmp_path: Path, sets: list[str], repeat: int, **kw: Any) -> tuple[int, str, str]:
    out, err, out_text, err_text = _consoles()
    req = SweepRequest(FAILOVER, [FAST, *sets], repeat, tmp_path, kw.pop("skip", False))
    code = sweep_command(req, out=out, err=err, progress=lambda _m: None, **kw)
    return code, out_text.getvalue(), err_text.getvalue()


def test_sweep_runs_every_cell_repeat_times_and_writes_the_summary(tmp_path: Path) -> None:
    calls: list[DrillSpec] = []
    started = time.monotonic()
    code, out, _err = _sweep(
        tmp_path, ["topology.replication=async,sync"], 2, runner=_memory_runner(calls)
    )
    assert time.monotonic() - started < 15  # ~0.5 s per run
    assert code == 0, out
    assert [s.topology.replication for s in calls] == ["async", "async", "sync", "sync"]
    (folder,) = tmp_path.glob("sweep-failover-*")
    for cell in ("01-replication-async", "02-replication-sync"):
        for n in (1, 2):
            report = json.loads((folder / cell / str(n) / "report.json").read_text())
            assert report["overrides"]["topology.replication"] == cell.rsplit("-", 1)[-1]
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["interrupted"] is False and summary["exit_code"] == 0
    assert [c["key"] for c in summary["columns"]] == [
        "rpo",
        "rto",
        "lost_writes",
        "throughput",
        "staleness",
    ]
    first = summary["cells"][0]
    assert first["cell"] == "replication=async" and first["verdicts"]["pass"] == 2
    assert first["stats"]["rto"]["n"] == 2 and first["stats"]["rto"]["p50"] > 0
    assert first["stats"]["throughput"]["p50"] > 50  # the memory target writes at ~500/s
    assert [r["report_dir"] for r in first["runs"]] == [
        "01-replication-async/1",
        "01-replication-async/2",
    ]
    rows = list(csv.DictReader(io.StringIO((folder / "summary.csv").read_text())))
    assert [r["topology.replication"] for r in rows] == ["async", "sync"]
    assert rows[1]["pass"] == "2" and rows[1]["lost_writes_p95"] == "0.0"
    assert rows[1]["evidence"] == "02-replication-sync/1 02-replication-sync/2"
    html = (folder / "summary.html").read_text()
    assert 'href="02-replication-sync/2/report.html"' in html
    assert html.count('<svg class="sweep-chart"') == len(COLUMNS)
    assert "#e69f00" in html and "#56b4e9" in html  # Okabe-Ito, one colour per cell
    assert "replication=sync" in out and "summary.html" in out


def test_an_invalid_cell_is_bad_input_and_nothing_runs(tmp_path: Path) -> None:
    calls: list[DrillSpec] = []
    sets = ["topology.replication=async,sync", "topology.synchronous_commit=on,local"]
    code, _out, err = _sweep(tmp_path, sets, 1, runner=_memory_runner(calls))
    assert code == 2 and calls == []
    assert "cell 'replication=sync synchronous_commit=local'" in err
    assert "pass --skip-invalid" in err
    assert list(tmp_path.iterdir()) == []


def test_skip_invalid_runs_the_others_and_shows_why_in_the_summary(tmp_path: Path) -> None:
    calls: list[DrillSpec] = []
    sets = ["topology.replication=sync", "topology.synchronous_commit=on,local"]
    code, out, err = _sweep(tmp_path, sets, 1, runner=_memory_runner(calls), skip=True)
    assert code == 0 and len(calls) == 1
    assert "skipped:" in err and "skipped: " in out
    (folder,) = tmp_path.glob("sweep-*")
    cells = json.loads((folder / "summary.json").read_text())["cells"]
    assert cells[1]["skipped"] is not None and "waits for no standby" in cells[1]["skipped"]
    assert cells[1]["runs"] == []
    assert "skipped: " in (folder / "summary.html").read_text()


def test_a_malformed_set_is_bad_input(tmp_path: Path) -> None:
    code, _out, err = _sweep(tmp_path, ["topology.replication=async,,sync"], 1, runner=None)
    assert code == 2 and "an empty value" in err


@pytest.mark.parametrize("where", ["during a run", "between runs"])
def test_ctrl_c_stops_the_sweep_and_still_writes_the_summary(tmp_path: Path, where: str) -> None:
    calls: list[DrillSpec] = []

    def interrupt(n: int) -> None:
        if n == 2 and where == "between runs":
            raise KeyboardInterrupt

    runner = _memory_runner(calls, interrupt)

    def interrupted_second_run(spec: DrillSpec, folder: Path) -> DrillResult:
        result = runner(spec, folder)
        if len(calls) == 2:  # run_drill caught Ctrl-C, cleaned up and said so
            result.interrupted = True
        return result

    code, _out, _err = _sweep(
        tmp_path, ["topology.replication=async,sync"], 2, runner=interrupted_second_run
    )
    assert code == 130
    (folder,) = tmp_path.glob("sweep-*")
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["interrupted"] is True and summary["finished_at"] is not None
    finished = 2 if where == "during a run" else 1
    assert sum(len(c["runs"]) for c in summary["cells"]) == finished
    assert "interrupted" in (folder / "summary.html").read_text()


def test_an_unreadable_signing_key_is_bad_input(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DRILLKIT_SIGNING_KEY_FILE", str(tmp_path / "missing.pem"))
    code, _out, err = _sweep(tmp_path, ["topology.replication=async,sync"], 1, runner=None)
    assert code == 2 and "DRILLKIT_SIGNING_KEY_FILE" in err


def test_the_command_is_registered_and_refuses_bad_input_with_exit_2(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from drillkit.cli.main import app

    runner = CliRunner()
    unknown = runner.invoke(app, ["sweep", "no-such-drill", "--drills-dir", str(REPO / "drills")])
    assert unknown.exit_code == 2 and "no such drill" in unknown.output
    zero = runner.invoke(app, ["sweep", str(FAILOVER), "--repeat", "0"])
    assert zero.exit_code == 2
    bad = runner.invoke(
        app,
        [
            "sweep",
            str(FAILOVER),
            "--set",
            "topology.replication=async,bogus",
            "--report-dir",
            str(tmp_path),
        ],
    )
    assert bad.exit_code == 2 and "cell 'replication=bogus'" in bad.output
    assert list(tmp_path.iterdir()) == []


def test_a_sweep_of_a_stack_drillkit_did_not_create_needs_its_target(tmp_path: Path) -> None:
    """As for ``drillkit run``: without ``--target`` naming ``external.confirm`` nothing runs."""
    drill = tmp_path / "staging.yaml"
    drill.write_text(
        "name: staging\ntopology: {kind: compose, project: staging}\n"
        "external: {confirm: staging}\nfaults: [{kind: kill, target: primary}]\n"
        "targets: {rto_seconds: 5}\n",
        encoding="utf-8",
    )
    calls: list[DrillSpec] = []
    out, err, _out_text, err_text = _consoles()
    req = SweepRequest(drill, ["workload.rate=100,200"], 1, tmp_path / "reports")
    code = sweep_command(
        req, out=out, err=err, progress=lambda _m: None, runner=_memory_runner(calls)
    )
    assert code == 2 and calls == []
    assert "--target staging" in err_text.getvalue() and "nothing ran" in err_text.getvalue()
    assert not (tmp_path / "reports").exists()
