"""Finish a run's evidence bundle: the files people read, secrets scrubbed, manifest and signature.

:func:`finalize_evidence` is the one call the drill runner makes after ``report.json`` is written.
It never raises: a step that fails is listed in ``report.json`` under ``evidence.errors`` and the
remaining steps still run, so a bundle is always manifested.
"""

from __future__ import annotations

import json
import re
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from drillkit.history import Op
from drillkit.report.bundle import (
    MANIFEST,
    PUBLIC_KEY,
    SIGNATURE,
    SigningKeyError,
    current_signing_key,
    key_fingerprint,
    write_manifest,
)
from drillkit.report.evidence import write_report
from drillkit.report.fingerprint import (
    CONFIGURATION_FILE,
    NODE_LOG_DIR,
    collect_system_evidence,
    read_configuration,
)
from drillkit.report.html import render_html
from drillkit.report.markdown import render_markdown

__all__ = [
    "HTML_FILE",
    "MARKDOWN_FILE",
    "RUNBOOK_DIR",
    "collect_system_evidence",
    "finalize_evidence",
    "runbook_steps",
]

HTML_FILE = "report.html"
MARKDOWN_FILE = "summary.md"
RUNBOOK_DIR = "runbook"
Redact = Callable[[str], str]


def runbook_steps(report: dict[str, Any]) -> list[dict[str, Any]]:
    """The runbook steps of a report's timeline, in order: name, status, times, output, error."""
    steps = []
    for event in report.get("timeline", []):
        name = str(event.get("event", ""))
        if not name.startswith("runbook:"):
            continue
        steps.append(
            {
                "step": name.removeprefix("runbook:"),
                "status": event.get("status"),
                "started_at": event.get("started_at"),
                "finished_at": event.get("finished_at"),
                "t_start_seconds": event.get("t_start_seconds"),
                "duration_seconds": event.get("duration_seconds"),
                "output": event.get("value"),
                "error": event.get("error"),
            }
        )
    return steps


def _write_runbook(report_dir: Path, report: dict[str, Any], redact: Redact) -> list[str]:
    files = []
    for n, step in enumerate(runbook_steps(report), 1):
        slug = re.sub(r"[^a-z0-9-]+", "-", step["step"].lower()).strip("-") or "step"
        rel = f"{RUNBOOK_DIR}/{n:02d}-{slug}.json"
        path = report_dir / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(redact(json.dumps(step, indent=2, default=str)) + "\n", encoding="utf-8")
        files.append(rel)
    return files


def _scrub(report_dir: Path, redact: Redact) -> int:
    """Redact secrets from every file of the bundle; return how many files changed."""
    changed = 0
    for path in sorted(report_dir.rglob("*")):
        if not path.is_file():
            continue
        raw = path.read_bytes()
        text = raw.decode("utf-8", "surrogateescape")
        clean = redact(text)
        if clean != text:
            path.write_bytes(clean.encode("utf-8", "surrogateescape"))
            changed += 1
    return changed


def _step(errors: list[str], name: str, fn: Callable[[], Any]) -> Any:
    try:
        return fn()
    except Exception:
        errors.append(f"{name} failed:\n{traceback.format_exc()}")
        return None


def finalize_evidence(
    report_dir: Path,
    report: dict[str, Any],
    ops: list[Op],
    *,
    secrets_redact: Redact,
    signing_key: Ed25519PrivateKey | None = None,
    trends_db: Path | None = None,
) -> Path | None:
    """Complete the bundle in ``report_dir`` and record the run in the trends database.

    Adds to ``report`` (and rewrites ``report.json``): ``configuration`` (from the topology's
    ``configuration.json``), ``evidence`` (signed or not, key fingerprint) and ``files``. Writes
    ``report.html``, ``summary.md`` and ``runbook/NN-step.json``, redacts every secret from every
    file, then writes ``manifest.sha256`` (signed with ``signing_key``, or the key from
    :func:`~drillkit.report.bundle.current_signing_key`). The run is recorded in ``trends_db``
    (default ``<report_dir>/../drillkit.sqlite3``). Returns the manifest path (None if even that
    failed).
    """
    from drillkit.trends import default_db, record_run

    errors: list[str] = []
    key = signing_key
    if key is None:
        try:
            key = current_signing_key()
        except SigningKeyError as e:
            errors.append(f"signing key unusable, bundle left unsigned: {e}")
    report["configuration"] = read_configuration(report_dir)
    files: dict[str, Any] = dict(report.get("files") or {})
    files["runbook"] = (
        _step(errors, "runbook outputs", lambda: _write_runbook(report_dir, report, secrets_redact))
        or []
    )
    logs = report_dir / NODE_LOG_DIR
    if logs.is_dir():
        files["node_logs"] = {
            p.stem: f"{NODE_LOG_DIR}/{p.name}" for p in sorted(logs.glob("*.log"))
        }
    if (report_dir / CONFIGURATION_FILE).is_file():
        files["configuration"] = CONFIGURATION_FILE
    files.update(html=HTML_FILE, markdown=MARKDOWN_FILE, manifest=MANIFEST)
    report["files"] = files
    report["evidence"] = {
        "signed": key is not None,
        "algorithm": "ed25519" if key is not None else None,
        "signature": SIGNATURE if key is not None else None,
        "public_key": PUBLIC_KEY if key is not None else None,
        "key_fingerprint": key_fingerprint(key) if key is not None else None,
        "manifest": MANIFEST,
        "errors": errors,
    }
    # Written twice: the HTML and Markdown may fail, and report.json must list that failure.
    _step(errors, "report.json", lambda: write_report(report_dir, report, redact=secrets_redact))
    _step(
        errors,
        HTML_FILE,
        lambda: (report_dir / HTML_FILE).write_text(
            secrets_redact(render_html(report, ops)), encoding="utf-8"
        ),
    )
    _step(
        errors,
        MARKDOWN_FILE,
        lambda: (report_dir / MARKDOWN_FILE).write_text(
            secrets_redact(render_markdown(report, report_dir)), encoding="utf-8"
        ),
    )
    if errors:
        _step(
            errors, "report.json", lambda: write_report(report_dir, report, redact=secrets_redact)
        )
    _step(errors, "redaction", lambda: _scrub(report_dir, secrets_redact))
    db = trends_db or default_db(report_dir.parent)
    _step(errors, "trends database", lambda: record_run(db, report, report_dir))
    manifest: Path | None = _step(errors, MANIFEST, lambda: write_manifest(report_dir, key))
    return manifest
