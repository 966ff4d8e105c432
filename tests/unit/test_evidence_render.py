"""The reports people read, from a literal run: Markdown summary, JUnit XML, self-contained HTML."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from evidence_helpers import edited, literal_run

from drillkit.report.html import render_html
from drillkit.report.junit import junit_xml
from drillkit.report.markdown import render_markdown
from drillkit.report.model import Report


def test_markdown_summary_has_the_verdict_targets_and_runbook_steps() -> None:
    report, _ = literal_run()
    md = render_markdown(report, "reports/failover-x")
    assert md.startswith("### Drill `failover`: **PASS**")
    assert "| RTO | 10.000s | 0.510s | ±0.110s | pass |" in md
    assert "| RPO | 1.000s | 0.000s | exact | pass |" in md
    assert "Incident: `fault #1 kill`: fault #1 kill is the only fault that took effect." in md
    assert "| fault #1 kill (incident) | ok | 0.000s | - / - | - / - | 6 | 0 | 1 |" in md
    assert "| promote | ok | 0.100s | 0.300s |" in md
    assert "`reports/failover-x` (unsigned;" in md
    assert "\n\n\n" not in md


def test_markdown_lists_what_went_wrong_and_escapes_table_cells() -> None:
    report, _ = literal_run(survivors=[1, 2, 3, 7, 8, 9, 10, 11, 12])
    report = edited(report, lambda r: r["checks"][0].update(verdict="fail", reason="a | b"))
    report = report.model_copy(update={"error": "drill crashed:\nTraceback"})
    md = render_markdown(report)
    assert "- rpo_seconds: a \\| b" in md
    assert "- error: drill crashed:" in md and "Traceback" not in md


def _junit(reports: list[Report]) -> ET.Element:
    return ET.fromstring(junit_xml([(r, f"reports/{r.drill}") for r in reports]))


def test_junit_has_one_suite_per_drill_and_a_case_per_target_and_step_plus_the_verdict() -> None:
    passed, _ = literal_run(drill="alpha")
    failed, _ = literal_run(drill="beta")
    failed = edited(failed, lambda r: r["checks"][0].update(verdict="fail", reason="0.2s > 0.1s"))
    failed = failed.model_copy(update={"verdict": "fail"})
    unknown, _ = literal_run(drill="gamma")
    unknown = unknown.model_copy(
        update={"verdict": "unknown", "checks": [], "notes": ["steady state not reached"]}
    )
    root = _junit([passed, failed, unknown])
    assert root.tag == "testsuites"
    assert (root.get("tests"), root.get("failures"), root.get("errors")) == ("12", "2", "1")
    suites = {s.get("name"): s for s in root.iter("testsuite")}
    assert list(suites) == ["drill:alpha", "drill:beta", "drill:gamma"]
    beta = suites["drill:beta"]
    failures = {c.get("name"): c.find("failure") for c in beta.iter("testcase")}
    assert failures["rpo_seconds"] is not None
    assert failures["rpo_seconds"].get("message") == "0.2s > 0.1s"
    assert failures["verdict"] is not None and failures["rto_seconds"] is None
    step, case = suites["drill:gamma"].iter("testcase")  # the runbook step and the verdict
    assert step.get("name") == "runbook:promote" and step.find("error") is None
    error = case.find("error")
    assert error is not None and error.get("message") == "steady state not reached"
    props = {p.get("name"): p.get("value") for p in suites["drill:alpha"].iter("property")}
    assert props["report"] == "reports/alpha" and props["verdict"] == "pass"


def test_html_is_self_contained_and_shows_verdict_chart_markers_and_windows() -> None:
    report, ops = literal_run(survivors=[1, 2, 3, 7, 8, 9, 10, 11, 12])  # 4, 5 lost: RPO 0.19 s
    html = render_html(report, ops)
    assert 'id="verdict"' in html and ">PASS<" in html
    assert '<svg id="timeline-chart"' in html
    # Nothing is fetched: no scripts, stylesheets, images or fonts from anywhere (url(#id)
    # names a pattern inside the page).
    assert not re.search(r"<script|<link|<img|@import|url\((?!#)", html)
    assert set(re.findall(r"https?://[^\"' ]+", html)) == {"http://www.w3.org/2000/svg"}
    for cls in (
        "op-ok",
        "op-info",
        "rto-window",
        "rpo-window",
        "marker-fault",
        "marker-runbook",
        "marker-recovered",
    ):
        assert f'class="{cls}"' in html, cls
    assert "<td>promote</td>" in html


def test_html_escapes_everything_it_shows() -> None:
    report, ops = literal_run()
    report = report.model_copy(
        update={"description": "<script>alert(1)</script>", "notes": ["<b>x</b>"]}
    )
    html = render_html(report, ops)
    assert "<script>" not in html and "&lt;script&gt;" in html and "&lt;b&gt;x" in html


def test_html_without_operations_says_so_instead_of_drawing() -> None:
    report, _ = literal_run()
    report = report.model_copy(update={"timeline": []})
    assert "nothing to chart" in render_html(report, [])
