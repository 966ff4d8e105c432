"""The CLI conventions of issue 15: validate NAME|PATH with every problem, "did you mean",
``drillkit schema``, ``--json`` on the read commands, plain untruncated output when piped,
``--set`` overrides recorded in the evidence, exit 2 for every bad input."""

from __future__ import annotations

import functools
import io
import json
import time
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from typer.testing import CliRunner

from drillkit import docgen
from drillkit.cli import run as rn
from drillkit.cli.main import app
from drillkit.cli.output import PlainConsole
from drillkit.drill import run_drill
from drillkit.shipped import DRILLS
from drillkit.spec import load_drill
from drillkit.testing import MemoryPlatform

REPO = Path(__file__).resolve().parents[2]
SHIPPED = sorted(DRILLS.glob("*.yaml"))
runner = CliRunner()


def _cli(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


def _bad_drill(tmp_path: Path) -> Path:
    doc = yaml.safe_load((DRILLS / "failover.yaml").read_text())
    doc["workload"]["rat"] = 5
    doc["faults"] = [{"kind": "kil", "target": "primary"}]
    doc["targets"]["rto_secnds"] = 1
    (tmp_path / "drills").mkdir(exist_ok=True)
    path = tmp_path / "drills" / "bad.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


# validate NAME|PATH, every problem at once


def test_validate_takes_a_drill_name_like_run() -> None:
    code, output = _cli("validate", "failover", "--drills-dir", str(DRILLS))

    assert code == 0, output
    assert "ok (drill failover" in output


def test_validate_lists_every_problem_and_exits_2(tmp_path: Path) -> None:
    code, output = _cli("validate", str(_bad_drill(tmp_path)))

    assert code == 2
    assert "workload.rat: unknown field (did you mean 'rate'?)" in output
    assert "faults[0].kind: 'kil' is not a fault (did you mean 'kill'?)" in output
    assert "targets.rto_secnds: unknown field (did you mean 'rto_seconds'" in output
    assert "3 problems" in output


def test_validate_json_gives_every_problem_with_the_same_exit_code(tmp_path: Path) -> None:
    code, output = _cli("validate", str(_bad_drill(tmp_path)), "--json")

    assert code == 2
    doc = json.loads(output)
    assert doc["ok"] is False
    assert [e["field"] for e in doc["errors"]] == [
        "workload.rat",
        "faults[0].kind",
        "targets.rto_secnds",
    ]


def test_validate_json_of_a_good_drill() -> None:
    code, output = _cli("validate", str(DRILLS / "failover.yaml"), "--json")

    assert code == 0
    doc = json.loads(output)
    assert (doc["ok"], doc["drill"], doc["faults"], doc["runbook"]) == (
        True,
        "failover",
        ["kill"],
        ["promote"],
    )


# did you mean, for drill names


@pytest.mark.parametrize("command", ["run", "validate"])
def test_a_misspelt_drill_name_suggests_the_closest_and_lists_the_drills(command: str) -> None:
    code, output = _cli(command, "falover", "--drills-dir", str(DRILLS))

    assert code == 2
    assert "did you mean failover" in output
    assert (
        "available: cache-failover-write-through, cache-pitr-delete-on-write, cache-pitr-ttl,"
        in output
    )


def test_run_bad_input_is_json_too_with_log_format_json() -> None:
    code, output = _cli("run", "falover", "--drills-dir", str(DRILLS), "--log-format", "json")

    assert code == 2
    event = json.loads(output.splitlines()[0])
    assert (event["event"], event["exit_code"]) == ("bad-input", 2)
    assert "did you mean failover" in event["message"]


# drillkit schema


def test_the_drill_schema_is_valid_json_schema_and_accepts_every_shipped_drill() -> None:
    code, output = _cli("schema", "drill")
    assert code == 0
    schema = json.loads(output)
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    for path in SHIPPED:
        errors = [e.message for e in validator.iter_errors(yaml.safe_load(path.read_text()))]
        assert not errors, f"{path.name}: {errors}"


def test_the_drill_schema_rejects_what_validate_rejects(tmp_path: Path) -> None:
    validator = jsonschema.Draft202012Validator(docgen.drill_schema())
    bad = yaml.safe_load(_bad_drill(tmp_path).read_text())

    messages = " ".join(e.message for e in validator.iter_errors(bad))

    assert "'rat'" in messages and "'rto_secnds'" in messages


def test_the_suite_schema() -> None:
    code, output = _cli("schema", "suite")
    assert code == 0
    schema = json.loads(output)
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)

    assert validator.is_valid({"drills": ["failover", "drills/pitr-restore.yaml"]})
    assert not validator.is_valid({"drills": []})
    assert not validator.is_valid({"drills": ["failover"], "colour": "red"})
    assert _cli("schema", "scenario")[0] == 2


def test_the_schemas_are_published_under_docs_reference() -> None:
    for name in ("drill-file.schema.json", "suite-file.schema.json"):
        assert (REPO / "docs" / "reference" / name).is_file()


# --json on every read command


def test_list_json() -> None:
    code, output = _cli("list", "--drills-dir", str(DRILLS), "--json")

    assert code == 0
    rows = json.loads(output)
    assert [r["name"] for r in rows] == [p.stem for p in SHIPPED]
    assert all(r["ok"] for r in rows)


def test_list_json_of_an_empty_directory_is_an_error_in_json(tmp_path: Path) -> None:
    code, output = _cli("list", "--drills-dir", str(tmp_path), "--json")

    assert code == 2
    assert json.loads(output)["ok"] is False


def test_faults_json() -> None:
    code, output = _cli("faults", "--json")

    assert code == 0
    kill = next(r for r in json.loads(output) if r["kind"] == "kill")
    assert {"name": "target", "required": False, "default": "primary"} in kill["parameters"]
    assert any(t["topology"] == "postgres" for t in kill["topologies"])


def test_history_json(tmp_path: Path) -> None:
    from evidence_helpers import literal_run

    from drillkit.trends import default_db, record_run

    report, _ = literal_run()
    record_run(default_db(tmp_path), report, tmp_path / "run")

    code, output = _cli("history", "--report-dir", str(tmp_path), "--json")

    assert code == 0
    doc = json.loads(output)
    assert [r["drill"] for r in doc["runs"]] == ["failover"]
    assert doc["drills"][0]["runs"] == 1


def test_evidence_verify_json_of_a_missing_folder_exits_2(tmp_path: Path) -> None:
    code, output = _cli("evidence", "verify", str(tmp_path / "nope"), "--json")

    assert code == 2
    assert "no such evidence folder" in json.loads(output)["errors"][0]


def test_evidence_verify_json(tmp_path: Path) -> None:
    from drillkit.report.bundle import write_manifest

    (tmp_path / "report.json").write_text("{}")
    write_manifest(tmp_path, None)

    code, output = _cli("evidence", "verify", str(tmp_path), "--json")

    doc = json.loads(output)
    assert (code, doc["ok"], doc["signed"]) == (0, True, False)


# plain, untruncated output when not a terminal


def test_piped_tables_are_not_truncated(tmp_path: Path) -> None:
    from evidence_helpers import literal_run

    from drillkit.trends import default_db, record_run

    report, _ = literal_run()
    deep = tmp_path / ("a-very-long-folder-name-" * 8) / "failover-20261130T212223Z"
    record_run(default_db(tmp_path), report, deep)

    code, output = _cli("history", "--report-dir", str(tmp_path))

    assert code == 0
    assert "…" not in output
    assert str(deep) in output
    assert report.started_at in output


def test_the_summary_says_not_judged_without_markup_slips() -> None:
    from evidence_helpers import literal_run

    from drillkit.report import print_summary

    report, _ = literal_run()
    report = report.model_copy(update={"checks": []})
    buffer = io.StringIO()
    print_summary(report, "reports/x", PlainConsole(file=buffer))

    assert "not judged" in buffer.getvalue()
    assert "[]" not in buffer.getvalue()


# --set overrides


def test_set_overrides_are_validated_like_the_file() -> None:
    path = str(DRILLS / "failover.yaml")
    assert _cli("validate", path, "--set", "workload.rate=100")[0] == 0

    code, output = _cli("validate", path, "--set", "workload.rate=fast")
    assert code == 2
    assert "workload.rate:" in output and "(from --set workload.rate)" in output

    code, output = _cli("validate", path, "--set", "workload.rate")
    assert code == 2
    assert "expected KEY=VALUE" in output


def test_set_overrides_apply_and_are_recorded_in_the_evidence(tmp_path: Path) -> None:
    spec = load_drill(
        DRILLS / "failover.yaml",
        overrides=[
            "workload.rate=100",
            "targets.rto_seconds=5",
            "workload.stable_window_seconds=0.05",
        ],
    )
    assert (spec.workload.rate, spec.targets.rto_seconds) == (100, 5)

    result = run_drill(
        spec,
        drill_file="drills/failover.yaml",
        report_root=tmp_path,
        progress=lambda _m: None,
        sleep=lambda s: time.sleep(s / 20),
        platform=MemoryPlatform(),
    )

    report = json.loads((result.report_dir / "report.json").read_text())
    assert report["overrides"] == {
        "workload.rate": 100,
        "targets.rto_seconds": 5,
        "workload.stable_window_seconds": 0.05,
    }
    assert report["spec"]["workload"]["rate"] == 100


def test_json_progress_events_carry_the_drill_and_the_run_id(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fast = functools.partial(
        run_drill, platform=MemoryPlatform(), sleep=lambda s: time.sleep(s / 20)
    )
    monkeypatch.setattr(rn, "run_drill", fast)

    code, output = _cli(
        "run",
        str(DRILLS / "failover.yaml"),
        "--report-dir",
        str(tmp_path),
        "--log-format",
        "json",
        "--set",
        "workload.stable_window_seconds=0.05",
    )

    events: list[dict[str, Any]] = [json.loads(line) for line in output.splitlines()]
    progress = [e for e in events if e["event"] == "progress"]
    assert progress, output
    run_id = progress[0]["run_id"]
    assert all(e["drill"] == "failover" and e["run_id"] == run_id for e in progress)
    assert code in (0, 1)


def test_the_overrides_are_in_the_summaries() -> None:
    from evidence_helpers import literal_run

    from drillkit.report import print_summary
    from drillkit.report.markdown import render_markdown

    report, _ = literal_run()
    report = report.model_copy(update={"overrides": {"workload.rate": 100}})
    buffer = io.StringIO()
    print_summary(report, "reports/x", PlainConsole(file=buffer))

    assert "overrides: --set workload.rate=100" in buffer.getvalue()
    assert "Overrides (`--set`): workload.rate=100." in render_markdown(report)


def test_the_suite_table_wraps_long_names_and_paths_instead_of_cutting_them() -> None:
    from types import SimpleNamespace

    from evidence_helpers import literal_run
    from rich.console import Console

    report, _ = literal_run(drill="a-drill-with-a-rather-long-name-for-a-narrow-terminal")
    result = SimpleNamespace(
        model=report,
        verdict=SimpleNamespace(value="pass"),
        report_dir=Path("reports/a-drill-with-a-rather-long-name-20261130T212223Z"),
    )
    buffer = io.StringIO()
    Console(file=buffer, width=60, force_terminal=True, color_system=None).print(
        rn._summary_table([result])  # type: ignore[list-item]
    )

    assert "…" not in buffer.getvalue()


# exit code 2 for every bad input (nothing starts: none of these reach Docker)


@pytest.mark.parametrize(
    "args",
    [
        ["run", "falover"],
        ["run"],
        ["run", "failover", "--all"],
        ["run", "failover", "--log-format", "xml"],
        ["run", "failover", "--set", "nokey"],
        ["run", "failover", "--set", "workload.rate=-1"],
        ["run", "failover", "--signing-key", "/nonexistent/key.pem"],
        ["run", "--suite", "/nonexistent/suite.yaml"],
        ["validate", "/nonexistent/drill.yaml"],
        ["validate", "failover", "--set", "faults.9.at=1"],
        ["schema", "scenario"],
        ["evidence", "verify", "/nonexistent/bundle"],
        ["evidence", "verify", "/nonexistent/bundle", "--json"],
        ["images", "build", "--base-source", "ftp"],
        ["cleanup", "--run", "x", "--all"],
    ],
)
def test_every_bad_input_exits_2(args: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    def no_run(*_a: object, **_k: object) -> None:
        raise AssertionError("bad input got past validation")

    monkeypatch.setattr(rn, "run_suite", no_run)
    code, output = _cli(*args, *(["--drills-dir", str(DRILLS)] if args[0] == "run" else []))

    assert code == 2, output


def test_many_problems_print_the_first_twenty_and_json_all(tmp_path: Path) -> None:
    doc = yaml.safe_load((DRILLS / "failover.yaml").read_text())
    doc["faults"] = [{"kind": f"nuke{i}", "target": "primary"} for i in range(30)]
    path = tmp_path / "many.yaml"
    path.write_text(yaml.safe_dump(doc))

    code, output = _cli("validate", str(path))
    assert code == 2
    assert output.count("error:") == 20
    assert "... and 10 more (--json lists all)" in output

    code, output = _cli("validate", str(path), "--json")
    assert (code, len(json.loads(output)["errors"])) == (2, 30)
