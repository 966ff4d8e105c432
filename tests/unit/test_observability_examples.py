"""The example alert rules and Grafana dashboard: every alert has a runbook section in docs/ and a
promtool case where it fires and one where it does not; the dashboard can be provisioned from a
file (a datasource variable, no ``__inputs``), judges each drill against its own targets and only
queries metrics drillkit exports. (promtool itself runs in tests/integration/test_evidence.py.)"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import yaml
from evidence_helpers import REPO

from drillkit.metrics import METRICS

PROM = REPO / "examples/prometheus"
DASHBOARD = REPO / "examples/grafana/drillkit-dashboard.json"
DS = "${datasource}"


def _alerts() -> list[dict[str, Any]]:
    rules = yaml.safe_load((PROM / "drillkit-alerts.yml").read_text())
    return [r for g in rules["groups"] for r in g["rules"] if "alert" in r]


def _anchors(markdown: str) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens."""
    headings = re.findall(r"^#+ (.+)$", markdown, flags=re.M)
    return {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-") for h in headings}


def test_every_alert_has_a_runbook_url_pointing_at_a_section_of_the_docs() -> None:
    alerts = _alerts()
    assert len(alerts) >= 5
    for rule in alerts:
        url = rule["annotations"].get("runbook_url", "")
        path, _, anchor = url.partition("#")
        assert path.startswith("docs/") and anchor, (rule["alert"], url)
        assert anchor in _anchors((REPO / path).read_text()), (rule["alert"], url)


def test_every_alert_has_a_promtool_case_where_it_fires_and_one_where_it_does_not() -> None:
    tests = yaml.safe_load((PROM / "drillkit-alerts.test.yml").read_text())["tests"]
    cases = [c for t in tests for c in t["alert_rule_test"]]
    for rule in _alerts():
        mine = [c for c in cases if c["alertname"] == rule["alert"]]
        assert any(c["exp_alerts"] for c in mine), f"{rule['alert']}: no case where it fires"
        assert any(not c["exp_alerts"] for c in mine), f"{rule['alert']}: no quiet case"
        for case in mine:  # the test pins the runbook link as well
            for alert in case["exp_alerts"]:
                assert alert["exp_annotations"]["runbook_url"] == rule["annotations"]["runbook_url"]


def _dashboard() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return data


def _queries(dashboard: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(where, object with a datasource) for every panel, panel target, annotation and variable
    that queries Prometheus."""
    for panel in dashboard["panels"]:
        yield f"panel {panel['title']}", panel
        for target in panel.get("targets", []):
            yield f"panel {panel['title']} {target['refId']}", target
    for ann in dashboard["annotations"]["list"]:
        if not ann.get("builtIn"):
            yield f"annotation {ann['name']}", ann
    for var in dashboard["templating"]["list"]:
        if var["type"] == "query":
            yield f"variable {var['name']}", var


def _exprs(dashboard: dict[str, Any]) -> list[str]:
    exprs = []
    for _, q in _queries(dashboard):
        if isinstance(q.get("expr"), str):
            exprs.append(q["expr"])
        if isinstance(q.get("definition"), str):
            exprs.append(q["definition"])
    return exprs


def test_the_dashboard_can_be_provisioned_from_a_file() -> None:
    dashboard = _dashboard()
    assert "__inputs" not in dashboard and "__requires" not in dashboard
    assert "${DS_" not in DASHBOARD.read_text()
    (var,) = [v for v in dashboard["templating"]["list"] if v["name"] == "datasource"]
    assert var["type"] == "datasource" and var["query"] == "prometheus"
    for where, q in _queries(dashboard):
        assert q.get("datasource") == {"type": "prometheus", "uid": DS}, where


def test_every_dashboard_query_names_only_metrics_drillkit_exports() -> None:
    exprs = _exprs(_dashboard())
    used = {n for e in exprs for n in re.findall(r"\bdrillkit_[a-z_]+\b", e)}
    assert used and used <= set(METRICS), used - set(METRICS)
    for needed in ("drillkit_target_met", "drillkit_drill_verdict", "drillkit_drill_success"):
        assert needed in used, needed


def test_lost_writes_are_judged_against_the_declared_target_not_a_fixed_threshold() -> None:
    """A drill that may lose 500 writes and lost 3 is green; one that may lose 0 and lost 1 is
    red: every coloured stat about a measurement compares it with its target series, and each
    measurement is drawn with its target."""
    panels = _dashboard()["panels"]
    for panel in panels:
        if panel["type"] != "stat":
            continue
        exprs = " ".join(t["expr"] for t in panel.get("targets", []))
        for measured, target in (
            ("drillkit_lost_writes", "drillkit_target_max_lost_writes"),
            ("drillkit_rto_seconds", "drillkit_target_rto_seconds"),
            ("drillkit_rpo_seconds", "drillkit_target_rpo_seconds"),
        ):
            if re.search(rf"\b{measured}\b", exprs):
                assert re.search(rf"{target}\{{[^}}]*\}} - {measured}\b", exprs), panel["title"]
                steps = panel["fieldConfig"]["defaults"]["thresholds"]["steps"]
                assert steps == [
                    {"color": "red", "value": None},
                    {"color": "green", "value": 0},
                ], panel["title"]
    drawn = [" ".join(t["expr"] for t in p["targets"]) for p in panels if p["type"] == "timeseries"]
    for target in ("max_lost_writes", "rto_seconds", "rpo_seconds"):
        assert any(f"drillkit_target_{target}" in e for e in drawn), target


def test_runs_are_annotated_from_the_last_run_timestamp() -> None:
    anns = [a for a in _dashboard()["annotations"]["list"] if not a.get("builtIn")]
    assert anns and all(a["enable"] for a in anns)
    assert all("changes(drillkit_last_run_timestamp_seconds" in a["expr"] for a in anns)
