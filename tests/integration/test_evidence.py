"""The evidence bundle of a real failover drill, as an auditor, a browser, a Pushgateway and
Prometheus's own tooling see it.

Tools (Debian packages chromium, prometheus-pushgateway, prometheus for promtool) are installed by
scripts/setup.sh; without them these tests skip locally and fail under CI=true.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from prometheus_client.parser import text_string_to_metric_families

from drillkit.drill import DrillResult, run_drill
from drillkit.images import NodeImages
from drillkit.metrics import push_metrics
from drillkit.report.bundle import generate_key, load_public_key, signing
from drillkit.report.model import Report
from drillkit.report.verify import verify_bundle
from drillkit.secrets import Secrets
from drillkit.spec import load_drill

from .conftest import REPO

ARTIFACTS = Path(os.environ.get("DRILLKIT_TEST_ARTIFACTS", REPO / "build" / "test-artifacts"))
SCHEMA = json.loads(resources.files("drillkit.report").joinpath("report.schema.json").read_text())


def need(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        message = f"{tool} is not installed (scripts/setup.sh installs it)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return path


class Run:
    def __init__(self, result: DrillResult, secrets: list[Secrets], key: Ed25519PrivateKey):
        self.result, self.secrets, self.key = result, secrets, key
        self.dir = result.report_dir
        self.report = json.loads((self.dir / "report.json").read_text())


@pytest.fixture(scope="module")
def run(
    tmp_path_factory: pytest.TempPathFactory, docker_client: Any, images: NodeImages
) -> Iterator[Run]:
    """One failover drill, signed, with the passwords it generated captured for the scan."""
    generated: list[Secrets] = []
    original = Secrets.generate.__func__  # type: ignore[attr-defined]

    def capture(cls: type[Secrets], *names: str) -> Secrets:
        secrets: Secrets = original(cls, *names)
        generated.append(secrets)
        return secrets

    key = Ed25519PrivateKey.generate()
    spec = load_drill(REPO / "drills" / "failover.yaml")
    with pytest.MonkeyPatch.context() as mp, signing(key):
        mp.setattr(Secrets, "generate", classmethod(capture))
        result = run_drill(
            spec,
            drill_file="drills/failover.yaml",
            report_root=tmp_path_factory.mktemp("reports"),
            progress=lambda _m: None,
        )
    assert result.error is None, result.error
    yield Run(result, generated, key)


def drillkit(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "drillkit", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_report_json_follows_the_published_schema_and_says_it_is_signed(run: Run) -> None:
    jsonschema.validate(run.report, SCHEMA)
    evidence = run.report["evidence"]
    assert evidence["signed"] is True and evidence["errors"] == []
    assert evidence["key_fingerprint"].startswith("sha256:")


def test_bundle_holds_node_logs_configuration_and_runbook_outputs(run: Run) -> None:
    files = run.report["files"]
    assert set(files["node_logs"]) == {"pg0", "pg1"}
    assert "database system is ready" in (run.dir / files["node_logs"]["pg1"]).read_text()
    config = run.report["configuration"]
    assert config == json.loads((run.dir / "configuration.json").read_text())
    pg1 = config["nodes"]["pg1"]  # promoted, still running at teardown
    assert pg1["image_id"].startswith("sha256:")
    assert pg1["settings"]["synchronous_commit"] == "on"
    assert pg1["settings"]["synchronous_standby_names"] == ""
    assert pg1["settings"]["server_version"].startswith("15.")
    assert pg1["in_recovery"] is False
    pg0 = config["nodes"]["pg0"]  # the killed primary: settings read from its config files
    assert pg0["status"] == "exited" and "not running" in pg0["settings_source"]
    assert pg0["settings"]["wal_level"] == "replica"
    promote = json.loads((run.dir / "runbook" / "02-promote.json").read_text())
    assert promote["step"] == "promote" and promote["output"]["node"] == "pg1"


def test_no_generated_password_appears_in_any_file(run: Run) -> None:
    passwords = [v for s in run.secrets for v in s.values.values()]
    assert len(passwords) >= 2
    files = [p for p in run.dir.rglob("*") if p.is_file()]
    assert len(files) >= 10
    for path in files:
        data = path.read_bytes()
        for password in passwords:
            assert password.encode() not in data, f"a generated password is in {path}"


def test_manifest_and_signature_verify_and_any_tampering_fails(run: Run, tmp_path: Path) -> None:
    public = tmp_path / "signer.pub"
    public.write_bytes((run.dir / "manifest.sha256.pub").read_bytes())
    assert verify_bundle(run.dir, public_key=run.key.public_key()).ok
    ok = drillkit("evidence", "verify", str(run.dir), "--public-key", str(public))
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "signature valid" in ok.stdout and ": OK" in ok.stdout
    for name, tamper, expect in (
        ("changed", lambda d: (d / "history.jsonl").write_text("{}\n"), "changed: history.jsonl"),
        ("added", lambda d: (d / "nodes" / "extra.log").write_text("x"), "added: nodes/extra.log"),
        ("removed", lambda d: (d / "summary.md").unlink(), "removed: summary.md"),
        ("resigned", lambda d: _resign(d), "bad signature"),
    ):
        copy = tmp_path / name
        shutil.copytree(run.dir, copy)
        tamper(copy)
        bad = drillkit("evidence", "verify", str(copy), "--public-key", str(public))
        assert bad.returncode == 1, (name, bad.stdout)
        assert expect in bad.stdout and "FAILED" in bad.stdout


def _resign(bundle: Path) -> None:
    """An attacker changes the verdict and signs a fresh manifest with their own key."""
    from drillkit.report.bundle import write_manifest

    report = json.loads((bundle / "report.json").read_text())
    report["verdict"] = "pass" if report["verdict"] == "fail" else "fail"
    (bundle / "report.json").write_text(json.dumps(report))
    write_manifest(bundle, Ed25519PrivateKey.generate())


def test_html_report_renders_in_headless_chromium(run: Run) -> None:
    chromium = need("chromium")
    sync_api = pytest.importorskip("playwright.sync_api")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    errors: list[str] = []
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=chromium,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        try:
            page = browser.new_page(viewport={"width": 1100, "height": 900})
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on(
                "request",
                lambda r: (
                    errors.append(f"fetched {r.url}") if not r.url.startswith("file://") else None
                ),
            )
            page.goto((run.dir / "report.html").as_uri())
            verdict = page.locator("#verdict")
            assert verdict.is_visible()
            assert verdict.inner_text().strip() == run.report["verdict"].upper()
            chart = page.locator("#timeline-chart")
            assert chart.is_visible()
            box = chart.bounding_box()
            assert box is not None and box["width"] > 500 and box["height"] > 150
            assert page.locator("#timeline-chart rect.op-ok").count() > 10
            assert page.locator("#timeline-chart .marker-fault").count() >= 1
            assert page.locator("#timeline-chart .marker-runbook").count() == 2
            assert page.locator("#timeline-chart rect.rto-window").count() == 1
            page.screenshot(path=str(ARTIFACTS / "report-html.png"), full_page=True)
        finally:
            browser.close()
    assert errors == []
    assert (ARTIFACTS / "report-html.png").stat().st_size > 10_000


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def pushgateway(tmp_path: Path) -> Iterator[str]:
    binary = need("prometheus-pushgateway")
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    log = (tmp_path / "pushgateway.log").open("w")
    proc = subprocess.Popen(
        [binary, f"--web.listen-address=127.0.0.1:{port}"], stdout=log, stderr=log
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                with urllib.request.urlopen(f"{url}/-/ready", timeout=1) as r:
                    if r.status == 200:
                        break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError((tmp_path / "pushgateway.log").read_text()) from None
                time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        log.close()


def _scrape(url: str) -> dict[tuple[str, str], float]:
    with urllib.request.urlopen(f"{url}/metrics", timeout=5) as r:
        text = r.read().decode()
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name.startswith("drillkit_") and s.labels.get("job") == "drillkit":
                out[(s.name, s.labels.get("target") or s.labels.get("step") or "")] = s.value
    return out


def test_metrics_reach_a_real_pushgateway(run: Run, pushgateway: str) -> None:
    report = run.report
    model = Report.model_validate(report)  # report.json as read back from disk
    assert push_metrics(pushgateway, [model]) == ["job=drillkit,drill=failover"]
    got = _scrape(pushgateway)
    measured = report["measured"]
    assert got[("drillkit_rto_seconds", "")] == pytest.approx(measured["rto_seconds"])
    assert got[("drillkit_rpo_seconds", "")] == pytest.approx(measured["rpo_seconds"])
    assert got[("drillkit_lost_writes", "")] == measured["lost_writes"]
    assert got[("drillkit_drill_success", "")] == (1 if report["verdict"] == "pass" else 0)
    assert got[("drillkit_step_duration_seconds", "promote")] > 0
    assert got[("drillkit_last_run_timestamp_seconds", "")] > time.time() - 3600
    # A later failed run replaces the group but keeps the time of the last success.
    failed = model.model_copy(update={"verdict": "fail"})
    push_metrics(pushgateway, [failed], last_success={"failover": 1234.0})
    again = _scrape(pushgateway)
    assert again[("drillkit_drill_success", "")] == 0
    if report["verdict"] == "pass":
        assert again[("drillkit_last_success_timestamp_seconds", "")] == 1234.0


def test_example_alert_rules_pass_promtool() -> None:
    promtool = need("promtool")
    rules = REPO / "examples" / "prometheus"
    check = subprocess.run(
        [promtool, "check", "rules", "drillkit-alerts.yml"],
        cwd=rules,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert check.returncode == 0, check.stdout + check.stderr
    test = subprocess.run(
        [promtool, "test", "rules", "drillkit-alerts.test.yml"],
        cwd=rules,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert test.returncode == 0, test.stdout + test.stderr


def test_cli_run_writes_junit_metrics_json_logs_and_history(
    tmp_path: Path, docker_client: Any, images: NodeImages
) -> None:
    """The scheduled-run path end to end: the real CLI, as cron would call it."""
    key = tmp_path / "signing.pem"
    generate_key(key)
    reports = tmp_path / "reports"
    env = {**os.environ, "DRILLKIT_LOCK_FILE": str(tmp_path / "run.lock")}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "drillkit",
            "run",
            "failover",
            "--report-dir",
            str(reports),
            "--junit",
            str(tmp_path / "junit.xml"),
            "--metrics-file",
            str(tmp_path / "dk.prom"),
            "--log-format",
            "json",
            "--signing-key",
            str(key),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    events = [json.loads(line) for line in proc.stdout.splitlines()]
    verdict = next(e for e in events if e["event"] == "verdict")
    assert proc.returncode == verdict["exit_code"] == (0 if verdict["verdict"] == "pass" else 1)
    names = {e["event"] for e in events}
    assert {"progress", "fault:kill", "runbook:promote", "check", "verdict", "suite"} <= names
    assert verdict["signed"] is True
    public = (tmp_path / "signing.pem.pub").read_bytes()
    assert verify_bundle(Path(verdict["evidence"]), public_key=load_public_key(public)).ok
    assert not verify_bundle(Path(verdict["evidence"])).ok  # signed, but no trusted key given
    assert '<testsuite name="drill:failover"' in (tmp_path / "junit.xml").read_text()
    assert 'drillkit_drill_success{drill="failover"}' in (tmp_path / "dk.prom").read_text()
    history = drillkit("history", "failover", "--report-dir", str(reports))
    assert history.returncode == 0
    assert "failover" in history.stdout and verdict["verdict"] in history.stdout
    assert "RTO p50" in history.stdout
