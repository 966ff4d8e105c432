"""``pytest examples/pytest`` runs real drills as tests through the plugin (issue 14)."""

from __future__ import annotations

import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]


def test_the_example_suite_runs_drills_as_tests(tmp_path: Path, docker_client: Any) -> None:
    xml = tmp_path / "junit.xml"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "examples/pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            f"--junitxml={xml}",
            "--drillkit-reports",
            str(tmp_path / "reports"),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    cases = {c.get("name"): c for c in ET.parse(xml).iter("testcase")}
    assert set(cases) == {"test_failover_meets_its_targets", "test_a_paused_primary_loses_nothing"}
    for case in cases.values():
        props = {p.get("name"): p.get("value") for p in case.iter("property")}
        assert props["drillkit_verdict"] == "pass"
        assert Path(props["drillkit_evidence"], "report.json").is_file()
