"""Calibration: drillkit's report against an observer that owes nothing to drillkit's history.

Each drill runs with ``keep=True`` so the observer can read the nodes' logs (and the by-hand
client its own table) before the run's resources are removed with drillkit's sweep. Rows of
``drillkit | observer | error`` go to ``reports/calibration-summary.md`` and to stdout.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.calibration.observer import Observer, PgProbe, RedisReadProbe, ReplayAgeProbe

REPO = Path(__file__).resolve().parents[2]
DRILLS = Path(__file__).resolve().parent / "drills"
SUMMARY = REPO / "reports" / "calibration-summary.md"
ROWS: list[str] = []  # this session's rows, repeated in the terminal summary (no -s needed)
# (scenario, quantity, drillkit, observer, error) of this session, for bench/bench_calibration.py
RESULTS: list[tuple[str, str, float | None, float | None, float | None]] = []


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        here = Path(str(item.fspath)).resolve().is_relative_to(Path(__file__).resolve().parent)
        if here and "docker_client" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.calibration)
            item.add_marker(pytest.mark.integration)
            item.add_marker(pytest.mark.quiet)


@dataclass
class Calibrated:
    """One drill run, what drillkit reported and what the observer saw."""

    name: str
    report: dict[str, Any]
    observer: Observer
    probe: PgProbe | None
    redis_probe: RedisReadProbe | None = None
    reconnect_s: float | None = None  # one new client connection, measured before teardown
    replay_age: ReplayAgeProbe | None = None

    @property
    def measured(self) -> dict[str, Any]:
        return dict(self.report.get("measured") or {})


def load_spec(name: str) -> tuple[Any, Path]:
    """The calibration drill ``name``, validated like any drill file."""
    from drillkit.spec import load_drill

    path = DRILLS / f"{name}.yaml"
    if not path.exists():  # a shipped drill, calibrated as users run it
        path = REPO / "drills" / f"{name}.yaml"
    return load_drill(path, scenarios_dir=REPO / "scenarios"), path


def calibrate(
    name: str,
    reports: Path,
    docker_client: Any,
    *,
    probe_rate: float = 0,
    redis_reader: bool = False,
    reconnect: bool = False,
    replay_age: bool = False,
) -> Calibrated:
    """Run calibration drill ``name`` under the observer (and a by-hand client at ``probe_rate``
    writes/s if > 0); read logs before teardown; tear down with drillkit's sweep."""
    from drillkit.drill import run_drill

    spec, path = load_spec(name)
    observer = Observer(docker_client, drill=spec.name)
    probe: PgProbe | None = None
    reader = RedisReadProbe(observer) if redis_reader else None
    ages = ReplayAgeProbe(observer) if replay_age else None
    reconnect_s: float | None = None
    try:
        with observer:
            probe = PgProbe(observer, rate=probe_rate) if probe_rate > 0 else None
            if probe is not None:
                probe.__enter__()
            if reader is not None:
                reader.__enter__()
            if ages is not None:
                ages.__enter__()
            try:
                result = run_drill(
                    spec,
                    drill_file=str(path),
                    report_root=reports,
                    progress=lambda _m: None,
                    keep=True,
                )
            finally:
                if probe is not None:
                    probe.stop()
                if reader is not None:
                    reader.stop()
                if ages is not None:
                    ages.stop()
            observer.attach(result.run_id)
            observer.collect_logs()
            if reconnect:
                reconnect_s = PgProbe(observer).reconnect_seconds()
            if probe is not None:
                try:
                    probe.final_read()
                except Exception as e:
                    probe.error = f"final read: {type(e).__name__}: {e}"
    finally:
        observer.teardown()
    report = json.loads((result.report_dir / "report.json").read_text())
    return Calibrated(name, report, observer, probe, reader, reconnect_s, ages)


# -- the summary table ---------------------------------------------------------------------------
HEADER = (
    "| when (UTC) | scenario | quantity | drillkit | observer | error | tolerance | ok |\n"
    "|---|---|---|---|---|---|---|---|\n"
)


def _fmt(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.4f}"


def record_row(
    scenario: str,
    quantity: str,
    drillkit: float | None,
    observer: float | None,
    tolerance: float | None,
    *,
    path: Path | None = None,
) -> bool | None:
    """Append one ``drillkit vs observer`` row to the summary (and print it); whether the error
    is within ``tolerance`` (None when either side is missing or there is no tolerance)."""
    err = None if drillkit is None or observer is None else drillkit - observer
    ok = None if err is None or tolerance is None else abs(err) <= tolerance
    row = (
        f"| {datetime.now(UTC):%Y-%m-%d %H:%M:%S} | {scenario} | {quantity} | {_fmt(drillkit)} "
        f"| {_fmt(observer)} | {_fmt(err)} | {_fmt(tolerance)} | "
        f"{'n/a' if ok is None else ('yes' if ok else 'NO')} |\n"
    )
    ROWS.append(row)
    RESULTS.append((scenario, quantity, drillkit, observer, err))
    path = path or SUMMARY
    path.parent.mkdir(parents=True, exist_ok=True)
    new = not path.exists()
    with path.open("a", encoding="utf-8") as f:
        if new:
            f.write("# Calibration: drillkit against the independent observer (seconds)\n\n")
            f.write(HEADER)
        f.write(row)
    print(row, end="", flush=True)
    return ok


@pytest.fixture
def reports(tmp_path: Path) -> Path:
    return tmp_path / "reports"


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if ROWS:
        terminalreporter.write_sep("=", "calibration: drillkit vs observer (seconds)")
        terminalreporter.write(HEADER + "".join(ROWS))
