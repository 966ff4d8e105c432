"""Audit fields, the control mapping and the evidence index, on in-memory runs."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from drillkit.cli.main import app
from drillkit.drill import DrillResult, run_drill
from drillkit.report.audit import AuditInput, audit_input, git_revision
from drillkit.report.controls import FRAMEWORKS
from drillkit.spec import DrillSpec, load_drill
from drillkit.testing import MemoryPlatform

REPO = Path(__file__).resolve().parents[2]
DRILL = REPO / "drills" / "failover.yaml"
runner = CliRunner()


def _run(root: Path, declared: AuditInput) -> DrillResult:
    spec = load_drill(DRILL)
    doc = spec.model_dump(mode="json", exclude_unset=True)
    doc["workload"]["stable_window_seconds"] = 0.05
    with audit_input(declared):
        return run_drill(
            DrillSpec.model_validate(doc),
            drill_file=str(DRILL),
            report_root=root,
            progress=lambda _m: None,
            sleep=lambda s: time.sleep(s / 20),
            platform=MemoryPlatform(),
        )


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    declared = AuditInput(
        operator="alice@example",
        environment="dr-lab",
        stands_in_for="payments-db (prod-eu-1)",
        controls=("soc2", "nist"),
    )
    return _run(tmp_path_factory.mktemp("audit") / "reports", declared).report_dir


def test_report_json_records_who_where_what_and_for_which_system(bundle: Path) -> None:
    report = json.loads((bundle / "report.json").read_text())
    audit = report["audit"]
    assert audit["operator"] == "alice@example"
    assert audit["environment"] == "dr-lab"
    assert audit["stands_in_for"] == "payments-db (prod-eu-1)"
    assert audit["drill_file_sha256"] == hashlib.sha256(DRILL.read_bytes()).hexdigest()
    assert audit["drillkit_version"] == report["versions"]["drillkit"]
    assert audit["host"]
    commit, _dirty = git_revision()
    assert audit["git_commit"] == commit  # a checkout here; None when installed


def test_the_control_mapping_says_what_is_evidenced_and_what_needs_a_person(bundle: Path) -> None:
    report = json.loads((bundle / "report.json").read_text())
    controls = {(c["framework"], c["control"]): c for c in report["controls"]}
    assert set(controls) == {
        ("SOC 2 (TSC 2017)", "A1.3"),
        ("NIST SP 800-53 Rev. 5", "CP-4"),
        ("NIST SP 800-53 Rev. 5", "CP-9"),
        ("NIST SP 800-53 Rev. 5", "CP-10"),
    }
    soc2 = controls[("SOC 2 (TSC 2017)", "A1.3")]
    assert f"verdict {report['verdict']}" in soc2["evidences"]  # this run's facts
    assert "approv" in soc2["needs_human"]
    every = [c for cs in FRAMEWORKS.values() for c in cs]
    assert all(c.needs_human and "certif" not in c.evidences for c in every)


def test_summary_and_html_show_the_audit_fields_and_controls(bundle: Path) -> None:
    summary = (bundle / "summary.md").read_text()
    assert "- operator: alice@example" in summary and "- environment: dr-lab" in summary
    assert "SHA-256 " in summary and "| SOC 2 (TSC 2017) A1.3" in summary
    html = (bundle / "report.html").read_text()
    assert 'id="audit"' in html and "payments-db (prod-eu-1)" in html
    assert 'id="controls"' in html and "CP-10" in html


def test_an_installed_drillkit_records_no_git_commit(tmp_path: Path) -> None:
    assert git_revision(tmp_path / "lib" / "site-packages" / "drillkit") == (None, None)
    assert git_revision(tmp_path) == (None, None)  # not a checkout


def test_run_refuses_an_unknown_control_framework() -> None:
    result = runner.invoke(app, ["run", "failover", "--controls", "soc2,sox"])
    assert result.exit_code == 2
    assert "sox unknown" in result.output and "iso27001" in result.output


def test_the_evidence_index_lists_every_bundle_with_its_verification(tmp_path: Path) -> None:
    root = tmp_path / "reports"
    good = _run(root, AuditInput(environment="staging")).report_dir
    time.sleep(1.1)  # report folders are named by the second
    bad = _run(root, AuditInput(environment="dr-lab")).report_dir
    (bad / "history.jsonl").write_text("{}\n")  # tampered after the run

    result = runner.invoke(app, ["evidence", "index", str(root)])
    assert result.exit_code == 1, result.output  # one bundle fails verification
    assert "1 failed verification" in result.output
    rows = list(csv.DictReader(io.StringIO((root / "index.csv").read_text())))
    by_bundle = {r["bundle"]: r for r in rows}
    assert by_bundle[good.name]["verification"].startswith("OK")
    assert by_bundle[good.name]["environment"] == "staging"
    assert by_bundle[bad.name]["verification"].startswith("FAILED: changed: history.jsonl")
    html = (root / "index.html").read_text()
    assert f'href="{good.name}/report.html"' in html and "FAILED" in html

    future = runner.invoke(app, ["evidence", "index", str(root), "--since", "2999-01-01"])
    assert future.exit_code == 0 and "0 bundles" in future.output
    wrong = runner.invoke(app, ["evidence", "index", str(root), "--since", "yesterday"])
    assert wrong.exit_code == 2
