"""JUnit XML as CI systems read it: valid against the Jenkins/GitLab dialect's schema
(tests/data/junit-jenkins.xsd) for passing, failing, unknown, xfail and xpass runs; real times
(the drill's duration on the verdict case, each runbook step's on its case); hostname and
timestamp on the suite; the drill file on every case; the HTML report attached."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import xmlschema
from evidence_helpers import edited, literal_run

from drillkit.report.junit import junit_xml, write_junit
from drillkit.report.model import Report

SCHEMA = xmlschema.XMLSchema(Path(__file__).resolve().parents[1] / "data" / "junit-jenkins.xsd")


def _runs() -> list[Report]:
    passed, _ = literal_run(drill="alpha")
    failed, _ = literal_run(drill="beta")
    failed = edited(failed, lambda r: r["checks"][0].update(verdict="fail", reason="0.2s > 0.1s"))
    failed = failed.model_copy(update={"verdict": "fail"})
    unknown, _ = literal_run(drill="gamma")
    unknown = unknown.model_copy(
        update={"verdict": "unknown", "checks": [], "error": "Traceback\n  boom <&>"}
    )
    xfail, _ = literal_run(drill="delta")
    xfail = edited(xfail, lambda r: r["checks"][0].update(verdict="fail"))
    xfail = xfail.model_copy(update={"verdict": "fail", "expected": "fail"})
    xpass, _ = literal_run(drill="epsilon")
    xpass = xpass.model_copy(update={"expected": "fail"})
    return [passed, failed, unknown, xfail, xpass]


def test_the_xml_is_valid_for_every_kind_of_outcome(tmp_path: Path) -> None:
    path = write_junit(tmp_path / "junit.xml", [(r, str(tmp_path / r.drill)) for r in _runs()])
    SCHEMA.validate(str(path))
    root = ET.parse(path).getroot()
    assert (root.get("failures"), root.get("errors"), root.get("skipped")) == ("3", "1", "2")


def test_the_schema_rejects_what_ci_systems_would_misread() -> None:
    """The schema is not a rubber stamp: a case without a name or a negative time fails."""
    bad = '<testsuites><testsuite name="s" tests="1" failures="0" errors="0">'
    with pytest.raises(xmlschema.XMLSchemaValidationError):
        SCHEMA.validate(bad + '<testcase time="0"/></testsuite></testsuites>')
    with pytest.raises(xmlschema.XMLSchemaValidationError):
        SCHEMA.validate(bad + '<testcase name="c" time="-1"/></testsuite></testsuites>')


def test_cases_carry_real_times_the_drill_file_and_the_suite_its_host_and_start() -> None:
    report, _ = literal_run()
    root = ET.fromstring(junit_xml([(report, "reports/x")], hostname="drill-host-1"))
    suite = root.find("testsuite")
    assert suite is not None
    assert suite.get("hostname") == "drill-host-1"
    assert suite.get("timestamp") == report.started_at == "2026-01-02T03:04:05.000+00:00"
    assert suite.get("time") == "3.000" and suite.get("file") == "drills/x.yaml"
    cases = {c.get("name"): c for c in suite.iter("testcase")}
    assert cases["verdict"].get("time") == "3.000"  # the drill's duration
    assert cases["runbook:promote"].get("time") == "0.300"  # the step's duration
    assert cases["rto_seconds"].get("time") == "0.000"  # judged from the history afterwards
    assert {c.get("file") for c in cases.values()} == {"drills/x.yaml"}
    assert suite.get("tests") == str(len(cases)) == "5"


def test_the_hostname_defaults_to_this_host() -> None:
    import socket

    report, _ = literal_run()
    suite = ET.fromstring(junit_xml([(report, "reports/x")])).find("testsuite")
    assert suite is not None and suite.get("hostname") == socket.gethostname()


def test_the_html_report_is_attached_by_absolute_path_when_it_exists(tmp_path: Path) -> None:
    report, _ = literal_run()
    evidence = tmp_path / "reports" / "failover-1"
    evidence.mkdir(parents=True)
    xml = junit_xml([(report, str(evidence))])
    assert "[[ATTACHMENT|" not in xml  # nothing to attach yet
    (evidence / "report.html").write_text("<html></html>")
    case = next(
        c
        for c in ET.fromstring(junit_xml([(report, str(evidence))])).iter("testcase")
        if c.get("name") == "verdict"
    )
    out = case.findtext("system-out") or ""
    assert f"[[ATTACHMENT|{(evidence / 'report.html').resolve()}]]" in out.splitlines()


def test_a_failed_step_is_a_failure_and_expected_failures_stay_xfail() -> None:
    def fail_step(r: dict[str, object]) -> None:
        for e in r["timeline"]:  # type: ignore[attr-defined]
            if e["event"] == "runbook:promote":
                e.update(status="fail", error="pg_promote: timeout\ndetail")

    report, _ = literal_run()
    report = edited(report, fail_step).model_copy(update={"verdict": "fail"})
    case = next(
        c
        for c in ET.fromstring(junit_xml([(report, "r")])).iter("testcase")
        if c.get("name") == "runbook:promote"
    )
    failure = case.find("failure")
    assert failure is not None and failure.get("message") == "pg_promote: timeout"
    expected = report.model_copy(update={"expected": "fail"})
    suite = ET.fromstring(junit_xml([(expected, "r")])).find("testsuite")
    assert suite is not None
    assert (suite.get("failures"), suite.get("skipped")) == ("0", "2")
