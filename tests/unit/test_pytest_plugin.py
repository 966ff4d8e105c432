"""The pytest plugin end to end (pytester), against the in-memory target: a marked drill passes,
a missed target fails the test, results land in the JUnit XML as properties."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

pytest_plugins = ["pytester"]

DRILL = """\
name: %s
topology: {kind: postgres, replicas: 1}
workload: {rate: 200, warmup_seconds: 0.3, observe_seconds: 0.6, stable_window_seconds: 0.1}
steady_state: {min_ok_writes: 5}
faults: [{kind: kill, target: primary}]
runbook: [{step: promote, delay_seconds: 0.1}]
targets: {rto_seconds: %s, max_lost_writes: 1000}
"""

CONFTEST = """\
import pytest
from drillkit.testing import MemoryPlatform

@pytest.fixture
def drillkit_platform():
    return MemoryPlatform()
"""


@pytest.fixture
def suite(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makeconftest(CONFTEST)
    drills = pytester.mkdir("drills")
    (drills / "quick.yaml").write_text(DRILL % ("quick", 30))
    (drills / "too-tight.yaml").write_text(DRILL % ("too-tight", 0.001))
    return pytester


def test_a_marked_drill_passes_and_its_numbers_reach_the_test_and_junit(
    suite: pytest.Pytester,
) -> None:
    suite.makepyfile(
        """
        import pytest

        @pytest.mark.drill("quick")
        def test_quick(drill_result):
            assert drill_result.passed
            assert drill_result.rto_seconds < 30
            assert drill_result.lost_writes is not None
        """
    )
    xml = suite.path / "junit.xml"
    result = suite.runpytest_inprocess(f"--junitxml={xml}", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    props = {p.get("name"): p.get("value") for p in ET.parse(xml).iter("property")}
    assert props["drillkit_verdict"] == "pass"
    assert float(props["drillkit_rto_seconds"]) > 0
    assert "/reports/quick-" in props["drillkit_evidence"]


def test_a_missed_target_fails_the_test_with_the_evidence_path(suite: pytest.Pytester) -> None:
    suite.makepyfile(
        """
        import pytest

        @pytest.mark.drill("too-tight")
        def test_tight(drill_result):
            pass

        @pytest.mark.drill("too-tight", expect=None)
        def test_judged_by_the_test(drill_result):
            assert not drill_result.passed
        """
    )
    result = suite.runpytest_inprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*drill too-tight: verdict *, expected pass (evidence *"])


def test_drillkit_run_runs_any_drill_from_a_test(suite: pytest.Pytester) -> None:
    suite.makepyfile(
        """
        def test_two(drillkit_run):
            first = drillkit_run("quick")
            second = drillkit_run("drills/too-tight.yaml")
            assert first.passed and not second.passed
            assert first.report_dir != second.report_dir
        """
    )
    suite.runpytest_inprocess("-p", "no:cacheprovider").assert_outcomes(passed=1)


def test_the_marker_without_a_drill_is_a_usage_error(suite: pytest.Pytester) -> None:
    suite.makepyfile(
        """
        def test_unmarked(drill_result):
            pass
        """
    )
    result = suite.runpytest_inprocess("-p", "no:cacheprovider")
    result.stdout.fnmatch_lines(["*drill_result needs @pytest.mark.drill*"])


def test_drillkit_deployment_provisions_for_the_test_and_removes_it(suite: pytest.Pytester) -> None:
    suite.makepyfile(
        """
        import time

        def test_blocks(drillkit_deployment):
            pg = drillkit_deployment({"kind": "postgres", "replicas": 1})
            with pg.workload(rate=100):
                time.sleep(0.1)
                with pg.fault("kill", target="replica"):
                    time.sleep(0.1)
            assert pg.final_read()
        """
    )
    suite.runpytest_inprocess("-p", "no:cacheprovider").assert_outcomes(passed=1)
