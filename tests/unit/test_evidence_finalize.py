"""finalize_evidence on a literal run: a schema-valid report.json, every file manifested, secrets
scrubbed from every file, the run recorded for trends, and no exception whatever fails."""

from __future__ import annotations

import base64
import copy
import json
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import quote

import jsonschema
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from evidence_helpers import literal_run

from drillkit.checkers import Verdict
from drillkit.drill import DrillResult
from drillkit.report import evidence, finalize
from drillkit.report.bundle import signing
from drillkit.report.finalize import finalize_evidence
from drillkit.report.model import Report
from drillkit.report.verify import verify_bundle
from drillkit.secrets import Secrets
from drillkit.suite import record
from drillkit.trends import default_db, recent_runs

SCHEMA = json.loads(resources.files("drillkit.report").joinpath("report.schema.json").read_text())


def _prepare(tmp_path: Path, secrets: Secrets) -> tuple[Path, Report, Any]:
    report, ops = literal_run()
    d = tmp_path / "reports" / "failover-20260102T030405Z"
    (d / "nodes").mkdir(parents=True)
    (d / "nodes" / "pg0.log").write_text(f"LOG: password {secrets['postgres']} leaked\n")
    (d / "configuration.json").write_text(
        json.dumps(
            {"kind": "postgres", "nodes": {"pg0": {"settings": {"synchronous_commit": "on"}}}}
        )
    )
    (d / "history.jsonl").write_text(json.dumps({"error": secrets["replicator"]}) + "\n")
    evidence.write_report(d, report, redact=secrets.redact)
    return d, report, ops


def test_the_bundle_is_complete_valid_verifiable_and_free_of_secrets(tmp_path: Path) -> None:
    secrets = Secrets.generate("postgres", "replicator")
    d, report, ops = _prepare(tmp_path, secrets)
    bundle = finalize_evidence(d, report, ops, secrets_redact=secrets.redact)
    assert bundle.manifest == d / "manifest.sha256"
    written = json.loads((d / "report.json").read_text())
    jsonschema.validate(written, SCHEMA)
    assert bundle.report.as_json() == written  # written once, as returned
    assert Report.model_validate(written) == bundle.report
    assert written["evidence"]["signed"] is False and written["evidence"]["errors"] == []
    assert written["configuration"]["nodes"]["pg0"]["settings"]["synchronous_commit"] == "on"
    assert written["files"]["node_logs"] == {"pg0": "nodes/pg0.log"}
    assert written["files"]["runbook"] == ["runbook/01-promote.json"]
    step = json.loads((d / "runbook/01-promote.json").read_text())
    assert step["output"] == {"promoted": "pg1"} and step["duration_seconds"] == 0.3
    for name in ("report.html", "summary.md", "configuration.json"):
        assert (d / name).is_file()
    check = verify_bundle(d)
    assert check.ok and not check.signed
    for path in d.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            for value in secrets.values.values():
                assert value.encode() not in data, path
    assert not (tmp_path / "reports" / "drillkit.sqlite3").exists()  # trends: the suite's job


def test_the_suite_records_each_run_for_trends(tmp_path: Path) -> None:
    report, _ = literal_run()
    d = tmp_path / "reports" / "failover-20260102T030405Z"
    result = DrillResult("r1", d, Verdict.PASS, None, report)  # type: ignore[arg-type]
    assert record(result, tmp_path / "reports") is result
    (run,) = recent_runs(default_db(tmp_path / "reports"))
    assert (run.drill, run.verdict, run.rto_seconds) == ("failover", "pass", 0.51)
    assert run.report_path == str(d)
    (tmp_path / "blocked").write_text("a file where the folder should be")
    failed = record(result, tmp_path / "blocked")
    assert failed.model.evidence is not None
    assert "trends database failed" in failed.model.evidence.errors[0]


def test_a_signing_key_set_by_the_caller_signs_and_the_report_says_so(tmp_path: Path) -> None:
    secrets = Secrets.generate("postgres", "replicator")
    d, report, ops = _prepare(tmp_path, secrets)
    key = Ed25519PrivateKey.generate()
    with signing(key):
        finalize_evidence(d, report, ops, secrets_redact=secrets.redact)
    written = json.loads((d / "report.json").read_text())
    jsonschema.validate(written, SCHEMA)
    assert written["evidence"]["signed"] is True
    assert written["evidence"]["key_fingerprint"].startswith("sha256:")
    check = verify_bundle(d, public_key=key.public_key())
    assert check.ok and check.signature_valid and check.key_trusted


def test_a_failing_step_is_recorded_and_the_bundle_is_still_manifested(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secrets = Secrets.generate("postgres", "replicator")
    d, report, ops = _prepare(tmp_path, secrets)

    def broken(*_a: Any) -> str:
        raise RuntimeError("renderer exploded")

    monkeypatch.setattr(finalize, "render_html", broken)
    finalize_evidence(d, report, ops, secrets_redact=secrets.redact)
    written = json.loads((d / "report.json").read_text())
    assert any(
        "report.html failed" in e and "renderer exploded" in e
        for e in written["evidence"]["errors"]
    )
    assert verify_bundle(d).ok


def test_the_schema_rejects_a_report_that_breaks_the_contract() -> None:
    literal, _ = literal_run()
    report = literal.as_json()
    jsonschema.validate(report | {"files": {"history": "history.jsonl"}}, SCHEMA)
    for mutate in (
        lambda r: r.update(verdict="maybe"),
        lambda r: r.pop("measured"),
        lambda r: r["measured"].update(lost_writes=-1),
        lambda r: r.update(schema_version=2),
        lambda r: r["checks"][0].update(verdict="ok"),
    ):
        bad = copy.deepcopy(report)
        mutate(bad)
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(bad, SCHEMA)


def test_the_signing_key_and_any_private_key_are_scrubbed_from_every_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A host step that printed its environment (issue 11): the key, JSON-escaped in the history,
    base64-encoded in a node log, URL-encoded in the markdown of a step; and an unknown key."""
    secrets = Secrets.generate("postgres", "replicator")
    d, report, ops = _prepare(tmp_path, secrets)
    pem = (
        Ed25519PrivateKey.generate()
        .private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        .decode()
    )
    other = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    monkeypatch.setenv("DRILLKIT_SIGNING_KEY", pem)
    with (d / "history.jsonl").open("a") as fh:
        fh.write(json.dumps({"output": f"DRILLKIT_SIGNING_KEY={pem}\n"}) + "\n")
        fh.write(json.dumps({"output": other.decode()}) + "\n")
    (d / "nodes" / "pg1.log").write_text(base64.b64encode(pem.encode()).decode() + "\n")
    (d / "nodes" / "pg2.log").write_text(
        quote(pem, safe="") + " " + base64.b64encode(secrets["postgres"].encode()).decode()
    )

    finalize_evidence(d, report, ops, secrets_redact=secrets.redact)

    body = "".join(pem.splitlines()[1:-1])
    for path in d.rglob("*"):
        if path.is_file() and path.suffix not in (".pub", ".sig"):
            text = path.read_text()
            assert "PRIVATE KEY" not in text and body not in text, path
            assert base64.b64encode(pem.encode()).decode()[8:40] not in text, path
            assert base64.b64encode(secrets["postgres"].encode()).decode()[4:28] not in text
    written = json.loads((d / "report.json").read_text())
    assert written["evidence"]["signed"] is True
    for line in (d / "history.jsonl").read_text().splitlines():
        json.loads(line)  # still valid JSON lines after redaction
