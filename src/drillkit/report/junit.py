"""JUnit XML for CI systems: one test suite per drill run, one test case per judged target.

A target that failed is a ``<failure>``; one whose verdict is unknown is an ``<error>`` (the drill
could not tell), so CI marks both red, as the exit code does. A ``verdict`` case carries the
merged verdict, so a run that judged nothing (a crash, no steady state) still shows up red.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable
from pathlib import Path

from drillkit.report.model import Report

__all__ = ["junit_xml", "write_junit"]


def _case(
    suite: ET.Element,
    drill: str,
    name: str,
    verdict: str,
    message: str,
    output: str = "",
    expected: str = "pass",
) -> tuple[int, int]:
    case = ET.SubElement(suite, "testcase", classname=f"drillkit.{drill}", name=name, time="0")
    failures = errors = 0
    if verdict == "fail" and expected in ("fail", "fail-allowed"):  # pytest's xfail: not red
        ET.SubElement(case, "skipped", message=f"failed as expected: {message}", type="xfail")
        suite.set("skipped", str(int(suite.get("skipped", "0")) + 1))
    elif verdict == "pass" and expected == "fail":
        text = "passed unexpectedly: the drill declares expect: fail"
        ET.SubElement(case, "failure", message=text, type="xpass").text = text
        failures = 1
    elif verdict == "fail":
        ET.SubElement(case, "failure", message=message, type="target-missed").text = message
        failures = 1
    elif verdict != "pass":
        ET.SubElement(case, "error", message=message, type="unknown").text = output or message
        errors = 1
    if output:
        ET.SubElement(case, "system-out").text = output
    return failures, errors


def junit_xml(reports: Iterable[tuple[Report, str]]) -> str:
    """``reports``: (report, report directory) pairs. Returns the XML document."""
    root = ET.Element("testsuites", name="drillkit")
    total = total_fail = total_err = 0
    total_time = 0.0
    for report, report_dir in reports:
        drill = report.drill
        duration = float(report.duration_seconds or 0.0)
        suite = ET.SubElement(
            root,
            "testsuite",
            name=f"drill:{drill}",
            timestamp=report.started_at,
            time=f"{duration:.3f}",
            skipped="0",
        )
        props = ET.SubElement(suite, "properties")
        for key, value in (
            ("run_id", report.run_id),
            ("report", report_dir),
            ("verdict", report.verdict),
            ("expected", report.expected),
        ):
            ET.SubElement(props, "property", name=key, value=str(value))
        fails = errs = 0
        checks = report.checks
        for check in checks:
            f, e = _case(
                suite,
                drill,
                check.name,
                check.verdict,
                check.reason,
                f"target {check.target}, measured {check.measured}",
                "pass" if report.expected == "pass" else "fail-allowed",
            )
            fails, errs = fails + f, errs + e
        reasons = [n.splitlines()[0] for n in report.notes if n]
        if report.error:
            reasons.insert(0, report.error.splitlines()[0])
        verdict = report.verdict
        f, e = _case(
            suite,
            drill,
            "verdict",
            verdict,
            "; ".join(reasons) or f"verdict {verdict}",
            f"evidence: {report_dir}",
            report.expected,
        )
        fails, errs = fails + f, errs + e
        suite.set("tests", str(len(checks) + 1))
        suite.set("failures", str(fails))
        suite.set("errors", str(errs))
        total += len(checks) + 1
        total_fail += fails
        total_err += errs
        total_time += duration
    root.set("tests", str(total))
    root.set("failures", str(total_fail))
    root.set("errors", str(total_err))
    root.set("time", f"{total_time:.3f}")
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def write_junit(path: Path, reports: Iterable[tuple[Report, str]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(junit_xml(reports), encoding="utf-8")
    return path
