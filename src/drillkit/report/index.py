"""An auditor's index of evidence bundles: ``drillkit evidence index DIR [--since DATE]``.

Every folder under DIR holding a ``report.json`` is one row: the drill, when it ran, where and by
whom, its verdict, and what :func:`~drillkit.report.verify.verify_bundle` found (files against the
manifest, the signature against the trusted keys, the approvals and their roles). Written as
``index.html`` (one self-contained page) and ``index.csv``.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import UTC, datetime
from html import escape
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from pydantic import ValidationError

from drillkit.report.model import Report, load_report
from drillkit.report.verify import verify_bundle

__all__ = ["IndexRow", "build_index", "index_csv", "index_html", "write_index"]

_COLUMNS = (
    "started_at",
    "drill",
    "verdict",
    "outcome",
    "environment",
    "stands_in_for",
    "operator",
    "host",
    "git_commit",
    "verification",
    "signed",
    "approvals",
    "controls",
    "bundle",
)


@dataclass(frozen=True)
class IndexRow:
    """One bundle as the index shows it (every value already text)."""

    started_at: str
    drill: str
    verdict: str
    outcome: str
    environment: str
    stands_in_for: str
    operator: str
    host: str
    git_commit: str
    verification: str
    signed: str
    approvals: str
    controls: str
    bundle: str

    @property
    def verified(self) -> bool:
        return self.verification.startswith("OK")


def _parse_time(text: str) -> datetime:
    t = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return t if t.tzinfo else t.replace(tzinfo=UTC)


def _row(bundle: Path, root: Path, keys: list[Ed25519PublicKey]) -> IndexRow | Exception:
    try:
        report: Report = load_report(bundle)
    except (OSError, ValidationError, ValueError) as e:
        return e
    check = verify_bundle(bundle, trusted_keys=keys, trust_bundle_key=not keys)
    if check.ok:
        verification = "OK" if keys else "OK (integrity only: no trusted key given)"
    else:
        verification = "FAILED: " + "; ".join(check.lines()[:3])
    a = report.audit
    return IndexRow(
        started_at=report.started_at,
        drill=report.drill,
        verdict=report.verdict,
        outcome=report.outcome,
        environment=(a.environment if a else None) or "",
        stands_in_for=(a.stands_in_for if a else None) or "",
        operator=(a.operator if a else None) or "",
        host=(a.host if a else None) or "",
        git_commit=(a.git_commit if a else None) or "",
        verification=verification,
        signed=check.key_fingerprint or ("signed" if check.signed else "unsigned"),
        approvals="; ".join(f"{check.roles.get(fp, 'approver')} {fp}" for fp in check.approvals),
        controls="; ".join(f"{c.framework} {c.control}" for c in report.controls),
        bundle=bundle.relative_to(root).as_posix() if bundle != root else ".",
    )


def build_index(
    root: Path, *, since: datetime | None = None, trusted_keys: list[Ed25519PublicKey] | None = None
) -> tuple[list[IndexRow], list[str]]:
    """The rows of every bundle under ``root`` that started at or after ``since`` (newest
    first), and one problem line per folder whose report.json could not be read."""
    rows: list[IndexRow] = []
    problems: list[str] = []
    for report_json in sorted(root.rglob("report.json")):
        got = _row(report_json.parent, root, trusted_keys or [])
        if isinstance(got, Exception):
            problems.append(f"{report_json}: not a readable report ({type(got).__name__})")
            continue
        if since is not None and _parse_time(got.started_at) < since:
            continue
        rows.append(got)
    rows.sort(key=lambda r: r.started_at, reverse=True)
    return rows, problems


def index_csv(rows: list[IndexRow]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(_COLUMNS)
    for r in rows:
        writer.writerow(
            # a cell starting with = + - @ is a formula to spreadsheets: quote it as text
            ["'" + v if v and v[0] in "=+-@" else v for v in (getattr(r, c) for c in _COLUMNS)]
        )
    return out.getvalue()


_CSS = (
    "body{font:14px/1.4 system-ui,sans-serif;margin:16px;color:#222}table{border-collapse:"
    "collapse}td,th{border:1px solid #ccc;padding:3px 6px;text-align:left;vertical-align:top}"
    "th{background:#f0f0f0}.scroll{overflow-x:auto}.bad{color:#b3261e;font-weight:700}"
    "@media print{.scroll{overflow:visible}tr{page-break-inside:avoid}}"
)


def index_html(rows: list[IndexRow], *, root: str, since: datetime | None) -> str:
    period = f"since {since.isoformat()}" if since else "all dates"
    failed = sum(1 for r in rows if not r.verified)
    head = "".join(f"<th>{escape(c.replace('_', ' '))}</th>" for c in _COLUMNS)
    body = []
    for r in rows:
        cells = []
        for c in _COLUMNS:
            value = escape(getattr(r, c))
            if c == "bundle":
                value = f'<a href="{escape(r.bundle)}/report.html">{value}</a>'
            elif c == "verification" and not r.verified:
                value = f'<span class="bad">{value}</span>'
            cells.append(f"<td>{value}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>drillkit evidence index</title><style>{_CSS}</style></head><body>"
        f"<h1>Evidence index</h1><p>{len(rows)} bundles under <code>{escape(root)}</code>, "
        f"{escape(period)}; {failed} failed verification. Each row links to the bundle's "
        "report; <code>drillkit evidence verify BUNDLE --public-key SIGNER.pub</code> repeats "
        "the check.</p>"
        f'<div class="scroll"><table><tr>{head}</tr>{"".join(body)}</table></div>'
        "</body></html>\n"
    )


def write_index(
    root: Path,
    out: Path,
    *,
    since: datetime | None = None,
    trusted_keys: list[Ed25519PublicKey] | None = None,
) -> tuple[list[IndexRow], list[str]]:
    """Write ``index.html`` and ``index.csv`` into ``out``; returns the rows and problems."""
    rows, problems = build_index(root, since=since, trusted_keys=trusted_keys)
    out.mkdir(parents=True, exist_ok=True)
    (out / "index.csv").write_text(index_csv(rows), encoding="utf-8")
    (out / "index.html").write_text(index_html(rows, root=str(root), since=since), "utf-8")
    return rows, problems
