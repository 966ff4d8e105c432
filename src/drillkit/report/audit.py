"""The audit fields of a report: who ran the drill, on which host, from which drill file and code.

``drillkit run --operator/--environment/--stands-in-for/--controls`` set an :class:`AuditInput`
for the runs inside :func:`audit_input` (as :func:`drillkit.report.bundle.signing` does for the
key); :func:`collect_audit` completes it with what it can find out itself: the host name, the
drill file's SHA-256, drillkit's version and, when drillkit runs from a git checkout, its commit.
"""

from __future__ import annotations

import contextlib
import getpass
import hashlib
import os
import socket
import subprocess
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path

from drillkit import __version__
from drillkit.report.model import Audit, Report

__all__ = [
    "OPERATOR_ENV",
    "AuditInput",
    "audit_input",
    "audit_rows",
    "collect_audit",
    "current_audit_input",
]

OPERATOR_ENV = "DRILLKIT_OPERATOR"


@dataclass(frozen=True)
class AuditInput:
    """What the person running the drill declares (``None``: not declared)."""

    operator: str | None = None
    environment: str | None = None
    stands_in_for: str | None = None
    controls: tuple[str, ...] = ()


_current: ContextVar[AuditInput | None] = ContextVar("drillkit_audit_input", default=None)


@contextlib.contextmanager
def audit_input(value: AuditInput) -> Iterator[None]:
    """Record ``value`` in every report built inside the block."""
    token = _current.set(value)
    try:
        yield
    finally:
        _current.reset(token)


def current_audit_input() -> AuditInput:
    return _current.get() or AuditInput()


def _operator(declared: str | None) -> str | None:
    if declared:
        return declared
    if os.environ.get(OPERATOR_ENV):
        return os.environ[OPERATOR_ENV]
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no user name for this uid (some containers)
        return None


def _sha256(drill_file: str) -> str | None:
    if not drill_file:
        return None
    try:
        return hashlib.sha256(Path(drill_file).read_bytes()).hexdigest()
    except OSError:
        return None


def _git(source: Path, *args: str) -> str | None:
    try:
        done = subprocess.run(
            ["git", "-C", str(source), *args],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def git_revision(source: Path | None = None) -> tuple[str | None, bool | None]:
    """The commit and dirtiness of the checkout drillkit's own source is in; ``(None, None)``
    when drillkit is installed (site-packages) or git is not available."""
    source = source or Path(__file__).resolve().parents[1]
    if "site-packages" in source.parts or "dist-packages" in source.parts:
        return None, None
    commit = _git(source, "rev-parse", "HEAD")
    if commit is None or len(commit) != 40:
        return None, None
    status = _git(source, "status", "--porcelain", "--untracked-files=no", "--", ".")
    return commit, None if status is None else bool(status)


def collect_audit(drill_file: str, declared: AuditInput | None = None) -> Audit:
    """The audit fields of one run of ``drill_file``."""
    declared = declared or current_audit_input()
    commit, dirty = git_revision()
    return Audit(
        operator=_operator(declared.operator),
        host=socket.gethostname() or None,
        drill_file_sha256=_sha256(drill_file),
        drillkit_version=__version__,
        git_commit=commit,
        git_dirty=dirty,
        environment=declared.environment,
        stands_in_for=declared.stands_in_for,
    )


def audit_rows(report: Report) -> list[tuple[str, str]]:
    """The audit fields as (label, value) rows for the summary and the HTML report."""
    a = report.audit
    if a is None:
        return []
    if a.git_commit:
        code = f"drillkit {a.drillkit_version}, git {a.git_commit}"
        code += " (uncommitted changes)" if a.git_dirty else ""
    else:
        code = f"drillkit {a.drillkit_version} (installed package)"
    return [
        ("operator", a.operator or "-"),
        ("host", a.host or "-"),
        ("environment", a.environment or "- (not declared: --environment)"),
        ("stands in for", a.stands_in_for or "- (not declared: --stands-in-for)"),
        ("drill file", f"{report.drill_file or '-'} (SHA-256 {a.drill_file_sha256 or '-'})"),
        ("code", code),
    ]
