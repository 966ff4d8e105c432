"""Prometheus metrics of a literal run: conventional names and units, labelled by drill; values
that were not measured are absent; the example alerts and dashboard only use exported names."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from evidence_helpers import REPO, edited, literal_run
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from drillkit.metrics import JOB, METRICS, build_registry, push_metrics, write_metrics_file


def _samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def _value(samples: dict[Any, float], name: str, **labels: str) -> float:
    return samples[(name, frozenset(labels.items()))]


def test_a_passing_run_exports_measurements_targets_steps_and_times(tmp_path: Path) -> None:
    report, _ = literal_run()
    path = write_metrics_file(tmp_path / "drillkit.prom", [report])
    samples = _samples(path.read_text())
    d = {"drill": "failover"}
    assert _value(samples, "drillkit_drill_success", **d) == 1
    assert _value(samples, "drillkit_rto_seconds", **d) == pytest.approx(0.51)
    assert _value(samples, "drillkit_rpo_seconds", **d) == 0
    assert _value(samples, "drillkit_lost_writes", **d) == 0
    assert _value(samples, "drillkit_target_rto_seconds", **d) == 10
    assert _value(samples, "drillkit_step_duration_seconds", step="promote", **d) == (
        pytest.approx(0.3)
    )
    assert _value(samples, "drillkit_target_met", target="rto_seconds", **d) == 1
    assert _value(samples, "drillkit_drill_verdict", verdict="pass", **d) == 1
    finished = 1767323048.0  # 2026-01-02T03:04:08Z: the report's finished_at
    assert _value(samples, "drillkit_last_run_timestamp_seconds", **d) == finished
    assert _value(samples, "drillkit_last_success_timestamp_seconds", **d) == finished
    assert path.read_text().count("# TYPE drillkit_rto_seconds gauge") == 1


def test_a_failed_run_keeps_the_last_success_and_omits_what_was_not_measured() -> None:
    report, _ = literal_run()

    def fail_rto(r: dict[str, Any]) -> None:
        r["verdict"] = "fail"
        r["measured"]["rto_seconds"] = None
        r["checks"] = [
            {**c, "verdict": "fail"} if c["name"] == "rto_seconds" else c for c in r["checks"]
        ]

    report = edited(report, fail_rto)
    text = _samples(
        generate_latest(build_registry([report], last_success={"failover": 1000.0})).decode()
    )
    d = {"drill": "failover"}
    assert _value(text, "drillkit_drill_success", **d) == 0
    assert _value(text, "drillkit_last_success_timestamp_seconds", **d) == 1000.0
    assert _value(text, "drillkit_target_met", target="rto_seconds", **d) == 0
    assert ("drillkit_rto_seconds", frozenset(d.items())) not in text


def test_several_drills_share_one_file_and_each_is_pushed_as_its_own_group() -> None:
    a, _ = literal_run(drill="alpha")
    b, _ = literal_run(drill="beta")
    text = generate_latest(build_registry([a, b])).decode()
    assert 'drillkit_drill_success{drill="alpha"} 1.0' in text
    assert 'drillkit_drill_success{drill="beta"} 1.0' in text
    calls: list[dict[str, Any]] = []
    pushed = push_metrics("http://127.0.0.1:1", [a, b], push=lambda url, **kw: calls.append(kw))
    assert pushed == [f"job={JOB},drill=alpha", f"job={JOB},drill=beta"]
    assert [c["grouping_key"] for c in calls] == [{"drill": "alpha"}, {"drill": "beta"}]


def _names_in(expr: str) -> set[str]:
    return set(re.findall(r"\bdrillkit_[a-z_]+\b", expr))


def test_example_alert_rules_and_dashboard_use_only_exported_metrics() -> None:
    rules = yaml.safe_load((REPO / "examples/prometheus/drillkit-alerts.yml").read_text())
    used = set()
    for group in rules["groups"]:
        for rule in group["rules"]:
            used |= _names_in(rule["expr"])
    dashboard = json.loads((REPO / "examples/grafana/drillkit-dashboard.json").read_text())
    for panel in dashboard["panels"]:
        for target in panel["targets"]:
            used |= _names_in(target["expr"])
    assert used and used <= set(METRICS), used - set(METRICS)
    for name in METRICS:  # conventional units: seconds and timestamps say so in the name
        assert not name.endswith(("_ms", "_milliseconds", "_minutes"))


def test_the_metrics_file_keeps_the_drills_this_invocation_did_not_run(tmp_path: Path) -> None:
    """A nightly `run alpha` and a weekly `run beta` share one textfile: beta's series (and its
    last-run time, which the "not run" alert watches) survive alpha's runs."""
    path = tmp_path / "drillkit.prom"
    a, _ = literal_run(drill="alpha")
    b, _ = literal_run(drill="beta")
    write_metrics_file(path, [a, b])
    step = 'drillkit_step_duration_seconds{drill="alpha",step="promote"}'
    assert step in path.read_text()

    def no_steps(r: dict[str, Any]) -> None:
        r["verdict"] = "fail"
        r["timeline"] = [e for e in r["timeline"] if not e["event"].startswith("runbook:")]

    write_metrics_file(path, [edited(a, no_steps)])
    samples = _samples(path.read_text())
    assert _value(samples, "drillkit_last_run_timestamp_seconds", drill="beta") == 1767323048.0
    assert _value(samples, "drillkit_drill_verdict", drill="beta", verdict="pass") == 1
    assert _value(samples, "drillkit_drill_verdict", drill="alpha", verdict="fail") == 1
    assert step not in path.read_text()  # alpha's series are replaced, not merged
    assert path.read_text().count("# TYPE drillkit_drill_verdict gauge") == 1
    assert not list(tmp_path.glob("*.prom.*[0-9]"))  # no temporary file left behind


def test_a_merge_drops_names_drillkit_no_longer_exports_and_survives_a_garbled_file(
    tmp_path: Path,
) -> None:
    path = tmp_path / "drillkit.prom"
    path.write_text(
        'drillkit_lost_writes_target{drill="old"} 5\n'
        'drillkit_last_run_timestamp_seconds{drill="old"} 100\n'
    )
    a, _ = literal_run(drill="alpha")
    write_metrics_file(path, [a])
    text = path.read_text()
    assert "drillkit_lost_writes_target" not in text
    assert 'drillkit_last_run_timestamp_seconds{drill="old"} 100.0' in text
    path.write_text("this is { not the text format\n")
    write_metrics_file(path, [a])
    assert 'drillkit_drill_success{drill="alpha"} 1.0' in path.read_text()


def test_build_info_names_the_drillkit_and_python_versions() -> None:
    import platform

    from drillkit import __version__

    a, _ = literal_run(drill="alpha")
    samples = _samples(generate_latest(build_registry([a])).decode())
    info = {"version": __version__, "python": platform.python_version()}
    assert _value(samples, "drillkit_build_info", **info) == 1


def test_every_target_is_named_after_its_target_met_label() -> None:
    report = _with_cache(_with_readers(literal_run()[0]))
    samples = _samples(generate_latest(build_registry([report])).decode())
    labels = {dict(k[1])["target"] for k in samples if k[0] == "drillkit_target_met"}
    assert labels == {
        "rto_seconds",
        "rpo_seconds",
        "max_lost_writes",
        "max_staleness_seconds",
        "max_monotonic_violations",
        "max_convergence_seconds",
        "max_ghost_reads",
        "max_ghost_window_seconds",
        "max_stale_reads",
        "max_cache_stale_window_seconds",
    }
    targets = {n for n in METRICS if n.startswith("drillkit_target_")} - {"drillkit_target_met"}
    assert targets == {f"drillkit_target_{label}" for label in labels}
    for label in labels:
        assert (f"drillkit_target_{label}", frozenset({("drill", "failover")})) in samples


def _phase(p50: float, p95: float, top: float) -> dict[str, Any]:
    return {
        "reads": 100,
        "unanswered": 2,
        "p50_seconds": p50,
        "p95_seconds": p95,
        "max_seconds": top,
        "p50_writes": 1,
        "p95_writes": 5,
        "max_writes": 9,
    }


def _with_readers(report: Any) -> Any:
    """The literal run as a run with readers: staleness per phase, violations, convergence,
    and the three reader targets, judged."""

    def readers(r: dict[str, Any]) -> None:
        r["readers"] = {
            "sources": ["client", "pg1"],
            "phases": {
                "steady": _phase(0.001, 0.004, 0.006),
                "fault": _phase(0.8, 1.9, 2.1),
                "after": {"reads": 0, "unanswered": 3},  # nothing answered: no quantiles
            },
            "fault_phase_seconds": [0, 1.2],
            "max_staleness_by_source": {"client": 0.01, "pg1": 2.1},
            "read_interval_seconds": 0.021,
            "staleness_resolution_seconds": 0.023,
            "monotonic_violations": 7,
            "monotonic_regressions": 1,
            "violations_by_reader": {"reader-client-0": 7, "reader-pg1-0": 0},
            "convergence_seconds": 0.04,
            "convergence_by_source": {"pg1": 0.04},
            "convergence_needed_id": 120,
        }
        r["measured"].update(
            staleness_seconds=2.1,
            staleness_resolution_seconds=0.023,
            monotonic_violations=7,
            convergence_seconds=0.04,
            convergence_resolution_seconds=0.021,
        )
        r["targets"].update(
            max_staleness_seconds=3, max_monotonic_violations=0, max_convergence_seconds=1
        )
        r["checks"] += [
            {
                "name": "max_staleness_seconds",
                "target": 3,
                "measured": 2.1,
                "verdict": "pass",
                "reason": "r",
            },
            {
                "name": "max_monotonic_violations",
                "target": 0,
                "measured": 7,
                "verdict": "fail",
                "reason": "r",
            },
            {
                "name": "max_convergence_seconds",
                "target": 1,
                "measured": 0.04,
                "verdict": "pass",
                "reason": "r",
            },
        ]

    return edited(report, readers)


def test_a_run_with_readers_exports_staleness_per_phase_violations_and_convergence() -> None:
    report = _with_readers(literal_run()[0])
    samples = _samples(generate_latest(build_registry([report])).decode())
    d = {"drill": "failover"}
    assert _value(samples, "drillkit_staleness_seconds", **d) == pytest.approx(2.1)
    assert _value(samples, "drillkit_staleness_resolution_seconds", **d) == pytest.approx(0.023)
    assert _value(samples, "drillkit_monotonic_violations", **d) == 7
    assert _value(samples, "drillkit_convergence_seconds", **d) == pytest.approx(0.04)
    assert _value(samples, "drillkit_convergence_resolution_seconds", **d) == pytest.approx(0.021)
    phase = "drillkit_staleness_phase_seconds"
    expected = {
        ("steady", "0.5"): 0.001,
        ("steady", "0.95"): 0.004,
        ("steady", "1"): 0.006,
        ("fault", "0.5"): 0.8,
        ("fault", "0.95"): 1.9,
        ("fault", "1"): 2.1,
    }
    got = {
        (dict(k[1])["phase"], dict(k[1])["quantile"]): v
        for k, v in samples.items()
        if k[0] == phase
    }
    assert got == pytest.approx(expected)  # the after phase answered nothing: absent, not 0
    assert _value(samples, "drillkit_target_met", target="max_monotonic_violations", **d) == 0
    assert _value(samples, "drillkit_target_max_monotonic_violations", **d) == 0


def test_a_run_without_readers_exports_no_reader_series() -> None:
    report, _ = literal_run()
    samples = _samples(generate_latest(build_registry([report])).decode())
    reader_names = {
        "drillkit_staleness_seconds",
        "drillkit_staleness_resolution_seconds",
        "drillkit_staleness_phase_seconds",
        "drillkit_monotonic_violations",
        "drillkit_convergence_seconds",
        "drillkit_convergence_resolution_seconds",
    }
    assert not {name for name, _ in samples} & reader_names


def _with_cache(report: Any) -> Any:
    """The literal run as a cache drill: ghost reads, the ghost window and stale reads, with
    three cache targets of which two are judged."""

    def cache(r: dict[str, Any]) -> None:
        r["measured"].update(
            ghost_reads=479,
            ghost_window_seconds=2.39,
            ghost_window_resolution_seconds=0.107,
            stale_reads=12,
            cache_stale_window_seconds=2.9,
            cache_stale_window_resolution_seconds=0.01,
        )
        r["targets"].update(
            max_ghost_reads=0,
            max_ghost_window_seconds=3,
            max_stale_reads=50,
            max_cache_stale_window_seconds=2.5,
        )
        r["checks"] += [
            {
                "name": "max_ghost_reads",
                "target": 0,
                "measured": 479,
                "verdict": "fail",
                "reason": "r",
            },
            {
                "name": "max_ghost_window_seconds",
                "target": 3,
                "measured": 2.39,
                "verdict": "pass",
                "reason": "r",
            },
            {
                "name": "max_stale_reads",
                "target": 50,
                "measured": 12,
                "verdict": "pass",
                "reason": "r",
            },
            {
                "name": "max_cache_stale_window_seconds",
                "target": 2.5,
                "measured": 2.9,
                "verdict": "fail",
                "reason": "r",
            },
        ]

    return edited(report, cache)


def test_a_cache_drill_exports_ghost_reads_window_and_stale_reads_with_their_targets() -> None:
    report = _with_cache(literal_run()[0])
    samples = _samples(generate_latest(build_registry([report])).decode())
    d = {"drill": "failover"}
    assert _value(samples, "drillkit_ghost_reads", **d) == 479
    assert _value(samples, "drillkit_ghost_window_seconds", **d) == pytest.approx(2.39)
    assert _value(samples, "drillkit_ghost_window_resolution_seconds", **d) == pytest.approx(0.107)
    assert _value(samples, "drillkit_stale_reads", **d) == 12
    assert _value(samples, "drillkit_target_max_ghost_reads", **d) == 0
    assert _value(samples, "drillkit_target_max_ghost_window_seconds", **d) == 3
    assert _value(samples, "drillkit_target_met", target="max_ghost_reads", **d) == 0
    assert _value(samples, "drillkit_target_met", target="max_ghost_window_seconds", **d) == 1
    assert _value(samples, "drillkit_cache_stale_window_seconds", **d) == pytest.approx(2.9)
    assert _value(samples, "drillkit_cache_stale_window_resolution_seconds", **d) == 0.01
    assert _value(samples, "drillkit_target_max_cache_stale_window_seconds", **d) == 2.5
    met = _value(samples, "drillkit_target_met", target="max_cache_stale_window_seconds", **d)
    assert met == 0


def test_a_run_without_a_cache_exports_no_cache_series() -> None:
    report, _ = literal_run()
    names = {name for name, _ in _samples(generate_latest(build_registry([report])).decode())}
    assert not {n for n in names if "ghost" in n or "stale_reads" in n}
