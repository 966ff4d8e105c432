"""Finish a run's evidence bundle: the files people read, secrets scrubbed, manifest and signature.

:func:`finalize_evidence` is the one call the drill runner makes once the run is judged. It never
raises: a step that fails is listed under ``evidence.errors`` and the remaining steps still run,
so a bundle is always manifested.

Order, so that ``report.json`` is written exactly once and complete:

1. the :class:`~drillkit.report.model.Report` is completed in memory: ``configuration``, the
   bundle's ``files`` and the ``evidence`` block (whether and with which key it will be signed:
   all known before anything is written);
2. the runbook outputs, ``report.html`` and ``summary.md`` are written (their failures go into
   ``evidence.errors``);
3. ``report.json`` is written, once;
4. every file is scrubbed of secrets, then ``manifest.sha256`` lists each file's SHA-256 (so it
   covers ``report.json``) and is signed. This is the one step that must follow ``report.json``:
   the signature covers it, so it cannot be inside it. A failure of step 3 or 4 can therefore not
   be listed in ``report.json``; it is in the returned report's ``evidence.errors`` only.
"""

from __future__ import annotations

import contextlib
import json
import re
import traceback
from collections.abc import Callable
from dataclasses import dataclass
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
    remember_key,
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
from drillkit.report.model import Evidence, Report
from drillkit.report.production import comparisons, current_production
from drillkit.secrets import redact_text

__all__ = [
    "HTML_FILE",
    "MARKDOWN_FILE",
    "RUNBOOK_DIR",
    "Bundle",
    "collect_system_evidence",
    "finalize_evidence",
    "runbook_steps",
]

HTML_FILE = "report.html"
MARKDOWN_FILE = "summary.md"
RUNBOOK_DIR = "runbook"
Redact = Callable[[str], str]


def runbook_steps(report: Report) -> list[dict[str, Any]]:
    """The runbook steps of a report's timeline, in order: name, status, times, output, error."""
    return [
        {
            "step": e.step,
            "status": e.status,
            "started_at": e.started_at,
            "finished_at": e.finished_at,
            "t_start_seconds": e.t_start_seconds,
            "duration_seconds": e.duration_seconds,
            "output": e.value,
            "error": e.error,
        }
        for e in report.steps()
    ]


def _write_runbook(report_dir: Path, report: Report, redact: Redact) -> list[str]:
    files = []
    for n, step in enumerate(runbook_steps(report), 1):
        slug = re.sub(r"[^a-z0-9-]+", "-", str(step["step"]).lower()).strip("-") or "step"
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


class _Errors(list[str]):
    """The errors of the finalize steps; ``writes`` names the steps the disk refused."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[str] = []


def _step(errors: list[str], name: str, fn: Callable[[], Any]) -> Any:
    try:
        return fn()
    except OSError as e:  # a full disk, a read-only directory: no traceback, just what failed
        errors.append(f"{name} could not be written: {e}")
        if isinstance(errors, _Errors):
            errors.writes.append(f"{name}: {e}")
        return None
    except Exception:
        errors.append(f"{name} failed:\n{traceback.format_exc()}")
        return None


def _drop_partial(report_dir: Path, manifest_failed: bool) -> None:
    """After a write error: remove report.json's temporary file and a failed manifest (and its
    signature), so nothing incomplete is left looking like a verifiable bundle."""
    partial = [report_dir / "report.json.tmp"]
    if manifest_failed:
        partial += [report_dir / MANIFEST, report_dir / SIGNATURE, report_dir / PUBLIC_KEY]
    for path in partial:
        with contextlib.suppress(OSError):
            path.unlink(missing_ok=True)


@dataclass(frozen=True)
class Bundle:
    """A finished bundle: the report as written (plus any error after writing it), the manifest
    (None if even that failed) and the files the disk refused (``OSError``: the evidence is
    incomplete, an infrastructure failure of the run)."""

    report: Report
    manifest: Path | None
    write_errors: tuple[str, ...] = ()


def _complete(
    report: Report,
    report_dir: Path,
    key: Ed25519PrivateKey | None,
    runbook: list[str],
    errors: list[str],
) -> Report:
    """``report`` with the bundle's parts: configuration, files, evidence (errors so far)."""
    files: dict[str, Any] = {"runbook": runbook}
    logs = report_dir / NODE_LOG_DIR
    if logs.is_dir():
        files["node_logs"] = {
            p.stem: f"{NODE_LOG_DIR}/{p.name}" for p in sorted(logs.glob("*.log"))
        }
    if (report_dir / CONFIGURATION_FILE).is_file():
        files["configuration"] = CONFIGURATION_FILE
    files.update(html=HTML_FILE, markdown=MARKDOWN_FILE, manifest=MANIFEST)
    configuration = read_configuration(report_dir)
    update: dict[str, Any] = {}
    dumps = current_production()
    if dumps:
        update["production"], problems = comparisons(configuration, dumps)
        errors.extend(problems)
    signed = key is not None
    evidence = Evidence(
        signed=signed,
        algorithm="ed25519" if signed else None,
        signature=SIGNATURE if signed else None,
        public_key=PUBLIC_KEY if signed else None,
        key_fingerprint=key_fingerprint(key) if key is not None else None,
        manifest=MANIFEST,
        errors=list(errors),
    )
    return report.model_copy(
        update={
            "configuration": configuration,
            "files": report.files.model_copy(update=files),
            "evidence": evidence,
            **update,
        }
    )


def finalize_evidence(
    report_dir: Path,
    report: Report,
    ops: list[Op],
    *,
    secrets_redact: Redact,
    signing_key: Ed25519PrivateKey | None = None,
) -> Bundle:
    """Complete the bundle in ``report_dir`` and write ``report.json`` (once).

    Adds to ``report``: ``configuration`` (from the topology's ``configuration.json``),
    ``evidence`` (signed or not, key fingerprint) and the bundle's ``files``. Writes
    ``runbook/NN-step.json``, ``report.html``, ``summary.md`` and ``report.json``, redacts every
    secret from every file, then writes ``manifest.sha256`` (signed with ``signing_key``, or the
    key from :func:`~drillkit.report.bundle.current_signing_key`). Recording the run for trends
    is the scheduler's job (:func:`drillkit.suite.run_suite`).
    """
    errors = _Errors()
    key = signing_key
    if key is None:
        try:
            key = current_signing_key()
        except SigningKeyError as e:
            errors.append(f"signing key unusable, bundle left unsigned: {e}")
    if key is not None:
        remember_key(key)

    def redact(text: str) -> str:  # the run's passwords, the signing key, any PEM key
        return redact_text(secrets_redact(text))

    runbook = (
        _step(errors, "runbook outputs", lambda: _write_runbook(report_dir, report, redact)) or []
    )
    report = _complete(report, report_dir, key, runbook, errors)
    before = len(errors)
    _step(
        errors,
        HTML_FILE,
        lambda: (report_dir / HTML_FILE).write_text(
            redact(render_html(report, ops)), encoding="utf-8"
        ),
    )
    _step(
        errors,
        MARKDOWN_FILE,
        lambda: (report_dir / MARKDOWN_FILE).write_text(
            redact(render_markdown(report, report_dir)), encoding="utf-8"
        ),
    )
    report = report.with_evidence_errors(*errors[before:])
    written = len(errors)
    _step(errors, "report.json", lambda: write_report(report_dir, report, redact=redact))
    _step(errors, "redaction", lambda: _scrub(report_dir, redact))
    manifest: Path | None = _step(errors, MANIFEST, lambda: write_manifest(report_dir, key))
    if errors.writes:  # no half-written file may pass for evidence (an empty manifest least)
        _drop_partial(report_dir, manifest is None)
    return Bundle(report.with_evidence_errors(*errors[written:]), manifest, tuple(errors.writes))
