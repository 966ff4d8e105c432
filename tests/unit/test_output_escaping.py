"""Untrusted text (drill-file text, errors, paths, step output) is printed literally: rich markup
in it is not interpreted (``[/x]`` used to raise MarkupError, ``[red]/`` to vanish) and control
characters never reach the terminal."""

from __future__ import annotations

import importlib
import io
import time
from pathlib import Path

import pytest
import yaml
from evidence_helpers import literal_run
from rich.console import Console
from typer.testing import CliRunner

from drillkit.drill import run_drill
from drillkit.report.console import print_summary
from drillkit.safetext import markup, plain
from drillkit.spec import load_drill
from drillkit.testing import MemoryPlatform

cli_main = importlib.import_module("drillkit.cli.main")  # drillkit.cli.main is also a function
REPO = Path(__file__).resolve().parents[2]
HOSTILE = "[/x] [red]/etc[/red] \x1b[2J\x1b]0;title\x07 \u202eevil"


def _console() -> tuple[Console, io.StringIO]:
    buffer = io.StringIO()
    return Console(file=buffer, width=200, soft_wrap=True), buffer


def test_plain_shows_control_characters_as_escapes() -> None:
    assert plain("a\x1b[2Jb\tc\nd\x7f\x9b\u202e") == "a\\x1b[2Jb\tc\nd\\x7f\\x9b\\u202e"


def test_markup_is_printed_literally() -> None:
    console, buffer = _console()
    console.print(f"[red]error:[/red] {markup(HOSTILE)}")
    text = buffer.getvalue()
    assert "error: [/x] [red]/etc[/red] \\x1b[2J\\x1b]0;title\\x07 \\u202eevil" in text
    assert "\x1b" not in text and "\u202e" not in text


def test_list_prints_a_hostile_description_literally(tmp_path: Path) -> None:
    drills = tmp_path / "drills"
    drills.mkdir()
    doc = yaml.safe_load((REPO / "drills/failover.yaml").read_text())
    doc["topology"] = {"kind": "postgres"}
    doc["description"] = HOSTILE
    (drills / "hostile.yaml").write_text(yaml.safe_dump(doc))
    (drills / "[red]broken.yaml").write_text("name: [/x]\nname: b\n")

    result = CliRunner().invoke(cli_main.app, ["list", "--drills-dir", str(drills)])

    assert result.exception is None, result.output
    assert "[/x] [red]/etc[/red] \\x1b[2J" in result.output
    assert "[red]broken" in result.output and "duplicate key" in result.output
    assert "\x1b" not in result.output


def test_a_progress_message_with_markup_is_printed_not_parsed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    console, buffer = _console()
    monkeypatch.setattr(cli_main, "err", console)
    cli_main._progress()(f"runbook step shell failed: {HOSTILE}")
    assert "failed: [/x] [red]/etc[/red] \\x1b[2J" in buffer.getvalue()


def test_the_summary_prints_hostile_errors_notes_and_reasons_literally() -> None:
    report, _ = literal_run()
    report = report.model_copy(update={"error": HOSTILE, "notes": [HOSTILE, ""]})
    console, buffer = _console()
    print_summary(report, "reports/[red]/x", console)
    text = buffer.getvalue()
    assert f"error: {plain(HOSTILE)}" in text
    assert f"note: {plain(HOSTILE)}" in text
    assert "evidence: reports/[red]/x" in text
    assert "\x1b" not in text


def test_a_step_error_with_markup_does_not_crash_the_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The CLI's progress printer used to raise MarkupError on a failed step's output, turning
    a step failure into a crash of the whole run."""
    console, buffer = _console()
    monkeypatch.setattr(cli_main, "err", console)
    spec = load_drill(REPO / "drills/failover.yaml")
    doc = spec.model_dump(mode="json", exclude_unset=True)
    doc["workload"]["stable_window_seconds"] = 0.05
    doc["topology"] = {"kind": "postgres", "replicas": 2}  # the primary is not struck
    doc["faults"] = [{"kind": "stop", "target": "replica", "at": 0, "duration": 0.1}]
    spec = type(spec).model_validate(doc)

    def refuse() -> None:
        raise RuntimeError(HOSTILE)

    result = run_drill(
        spec,
        drill_file="drills/failover.yaml",
        report_root=tmp_path,
        progress=cli_main._progress(),
        sleep=lambda s: time.sleep(s / 20),
        platform=MemoryPlatform(on_promote=refuse),
    )

    assert result.model.error is None, result.model.error
    shown = buffer.getvalue()
    assert "runbook step promote failed:" in shown and "[/x] [red]/etc[/red]" in shown, shown
    assert "\x1b" not in shown


def test_history_prints_recorded_paths_literally(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from drillkit.trends import default_db, record_run

    report, _ = literal_run()
    record_run(default_db(tmp_path), report, tmp_path / "[/x]\x1b[2J" / "run")
    console, buffer = _console()
    monkeypatch.setattr(importlib.import_module("drillkit.cli.history"), "_out", console)

    result = CliRunner().invoke(cli_main.app, ["history", "--report-dir", str(tmp_path)])

    assert result.exception is None, result.output
    assert "[/x]\\x1b[2J" in buffer.getvalue()
    assert "\x1b" not in buffer.getvalue()
