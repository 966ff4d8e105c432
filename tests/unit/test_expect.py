"""``expect: fail`` (a drill that demonstrates a known weakness): the verdict is reported as it is,
the exit code, JUnit and the success metric follow what the drill declares (like pytest's xfail)."""

from __future__ import annotations

import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from prometheus_client import generate_latest

from drillkit.drill import DrillResult, run_drill
from drillkit.metrics import build_registry
from drillkit.report.junit import junit_xml
from drillkit.report.markdown import render_markdown
from drillkit.spec import DrillSpec, load_drill
from drillkit.testing import MemoryPlatform

REPO = Path(__file__).resolve().parents[2]


def _run(tmp_path: Path, *, expect: str, rto: float) -> DrillResult:
    doc: dict[str, Any] = load_drill(REPO / "drills" / "failover.yaml").model_dump(
        mode="json", exclude_unset=True
    )
    doc["workload"]["stable_window_seconds"] = 0.05
    doc["targets"] = {"rto_seconds": rto}
    doc["expect"] = expect
    return run_drill(
        DrillSpec.model_validate(doc),
        drill_file="failover.yaml",
        report_root=tmp_path,
        progress=lambda _m: None,
        sleep=lambda s: time.sleep(s / 20),
        platform=MemoryPlatform(promote_delay_s=0.4),
    )


def test_a_drill_expected_to_fail_that_fails_exits_0_and_says_so(tmp_path: Path) -> None:
    result = _run(tmp_path, expect="fail", rto=0.1)
    assert result.verdict.value == "fail", result.model.notes
    assert result.exit_code == 0
    assert result.model.outcome == "failed as expected"
    assert result.report["expected"] == "fail"
    assert "failed as expected" in render_markdown(result.model)
    suite = ET.fromstring(junit_xml([(result.model, str(result.report_dir))])).find("testsuite")
    assert suite is not None
    assert (suite.get("failures"), suite.get("errors"), suite.get("skipped")) == ("0", "0", "2")
    metrics = generate_latest(build_registry([result.model])).decode()
    assert 'drillkit_drill_success{drill="failover"} 1.0' in metrics
    assert 'drillkit_drill_verdict{drill="failover",verdict="fail"} 1.0' in metrics


def test_a_drill_expected_to_fail_that_passes_exits_1(tmp_path: Path) -> None:
    result = _run(tmp_path, expect="fail", rto=30)
    assert result.verdict.value == "pass"
    assert result.exit_code == 1
    assert result.model.outcome == "passed unexpectedly"
    suite = ET.fromstring(junit_xml([(result.model, str(result.report_dir))])).find("testsuite")
    assert suite is not None and suite.get("failures") == "1"


def test_the_default_expectation_is_pass(tmp_path: Path) -> None:
    result = _run(tmp_path, expect="pass", rto=0.1)
    assert result.verdict.value == "fail" and result.exit_code == 1
    assert result.model.outcome == "fail"
