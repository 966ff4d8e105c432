"""JUnit XML for CI systems: one test suite per drill run, one test case per judged target, one per
runbook step and one for the verdict.

A target that failed is a ``<failure>``; one whose verdict is unknown is an ``<error>`` (the drill
could not tell), so CI marks both red, as the exit code does. A ``verdict`` case carries the
merged verdict, so a run that judged nothing (a crash, no steady state) still shows up red. A
drill that declares ``expect: fail`` and fails is skipped as ``xfail`` (not red); one that passes
anyway is an ``xpass`` failure.

The dialect is Jenkins' and GitLab's (tests/data/junit-jenkins.xsd): the verdict case takes the
drill's duration, each ``runbook:<step>`` case its step's duration (the targets are judged from
the history afterwards and take none); ``hostname`` and ``timestamp`` on the suite, ``file`` (the
drill file) on every case, and the HTML report attached with the Jenkins/GitLab
``[[ATTACHMENT|/abs/path]]`` line in the verdict case's ``system-out``.
"""

from __future__ import annotations

import socket
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from drillkit.report.model import Report

__all__ = ["junit_xml", "write_junit"]

_COUNTS = ("tests", "failures", "errors", "skipped")


@dataclass(frozen=True)
class _Case:
    name: str
    verdict: str
    message: str
    output: str = ""
    expected: str = "pass"  # "pass", "fail" (xfail/xpass) or "fail-allowed" (xfail only)
    seconds: float = 0.0


def _add(suite: ET.Element, drill: str, drill_file: str, c: _Case) -> str:
    """Append the test case; returns the count it adds to: passed, failures, errors, skipped."""
    attrs = {"classname": f"drillkit.{drill}", "name": c.name, "time": f"{c.seconds:.3f}"}
    if drill_file:
        attrs["file"] = drill_file
    case = ET.SubElement(suite, "testcase", attrs)
    outcome = "passed"
    if c.verdict == "fail" and c.expected in ("fail", "fail-allowed"):  # pytest's xfail: not red
        ET.SubElement(case, "skipped", message=f"failed as expected: {c.message}", type="xfail")
        outcome = "skipped"
    elif c.verdict == "pass" and c.expected == "fail":
        text = "passed unexpectedly: the drill declares expect: fail"
        ET.SubElement(case, "failure", message=text, type="xpass").text = text
        outcome = "failures"
    elif c.verdict == "fail":
        ET.SubElement(case, "failure", message=c.message, type="target-missed").text = c.message
        outcome = "failures"
    elif c.verdict != "pass":
        ET.SubElement(case, "error", message=c.message, type="unknown").text = c.output or c.message
        outcome = "errors"
    if c.output:
        ET.SubElement(case, "system-out").text = c.output
    return outcome


def _step_cases(report: Report, allowed: str) -> list[_Case]:
    cases, seen = [], dict[str, int]()
    for event in report.steps():
        step = event.step or ""
        seen[step] = seen.get(step, 0) + 1
        name = f"runbook:{step}" if seen[step] == 1 else f"runbook:{step}#{seen[step]}"
        verdict = {"ok": "pass", "fail": "fail"}.get(event.status or "", "unknown")
        message = (event.error or "").splitlines()[0] if event.error else f"step {event.status}"
        cases.append(
            _Case(name, verdict, message, event.error or "", allowed, event.duration_seconds or 0)
        )
    return cases


def _verdict_case(report: Report, report_dir: str) -> _Case:
    reasons = [n.splitlines()[0] for n in report.notes if n]
    if report.error:
        reasons.insert(0, report.error.splitlines()[0])
    output = [f"evidence: {report_dir}"]
    html = Path(report_dir, "report.html")
    if html.is_file():
        output.append(f"[[ATTACHMENT|{html.resolve()}]]")
    return _Case(
        "verdict",
        report.verdict,
        "; ".join(reasons) or f"verdict {report.verdict}",
        "\n".join(output),
        report.expected,
        float(report.duration_seconds or 0.0),
    )


def junit_xml(reports: Iterable[tuple[Report, str]], *, hostname: str | None = None) -> str:
    """``reports``: (report, report directory) pairs. Returns the XML document.

    ``hostname`` (default: this host's name) goes on every suite.
    """
    host = hostname if hostname is not None else socket.gethostname()
    root = ET.Element("testsuites", name="drillkit")
    totals: Counter[str] = Counter()
    total_time = 0.0
    for report, report_dir in reports:
        duration = float(report.duration_seconds or 0.0)
        attrs = {"name": f"drill:{report.drill}", "timestamp": report.started_at}
        attrs |= {"hostname": host, "time": f"{duration:.3f}"}
        if report.drill_file:
            attrs["file"] = report.drill_file
        suite = ET.SubElement(root, "testsuite", attrs)
        props = ET.SubElement(suite, "properties")
        for key, value in (
            ("run_id", report.run_id),
            ("report", report_dir),
            ("verdict", report.verdict),
            ("expected", report.expected),
        ):
            ET.SubElement(props, "property", name=key, value=str(value))
        allowed = "pass" if report.expected == "pass" else "fail-allowed"
        cases = [
            _Case(
                c.name,
                c.verdict,
                c.reason,
                f"target {c.target}, measured {c.measured}",
                allowed,
            )
            for c in report.checks
        ]
        cases += _step_cases(report, allowed)
        cases.append(_verdict_case(report, report_dir))
        counts = Counter(_add(suite, report.drill, report.drill_file, c) for c in cases)
        counts["tests"] = len(cases)
        for key in _COUNTS:
            suite.set(key, str(counts[key]))
        totals += counts
        total_time += duration
    for key in _COUNTS:
        root.set(key, str(totals[key]))
    root.set("time", f"{total_time:.3f}")
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def write_junit(
    path: Path, reports: Iterable[tuple[Report, str]], *, hostname: str | None = None
) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(junit_xml(reports, hostname=hostname), encoding="utf-8")
    return path
