"""``drillkit report pdf BUNDLE``: report.html printed to PDF by headless Chromium (playwright).

The PDF is written *beside* the bundle (``BUNDLE.pdf``), never inside it: the bundle's manifest
lists every file, so a file added later would fail ``drillkit evidence verify``. Playwright is a
development dependency (``./scripts/setup.sh --dev`` installs it and Chromium); without it
:func:`render_pdf` raises :class:`PdfUnavailable`.
"""

from __future__ import annotations

import shutil
from pathlib import Path

__all__ = ["PdfUnavailable", "render_pdf"]

_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]


class PdfUnavailable(RuntimeError):
    """Playwright or Chromium is missing."""


def render_pdf(bundle: Path, out: Path | None = None, *, chromium: str | None = None) -> Path:
    """Print ``bundle/report.html`` (its print stylesheet) to ``out`` (default ``BUNDLE.pdf``),
    A4, backgrounds kept; nothing but the local file is loaded."""
    html = bundle / "report.html"
    if not html.is_file():
        raise FileNotFoundError(f"{html}: no report.html in this folder")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        raise PdfUnavailable(
            "playwright is not installed (./scripts/setup.sh --dev, or pip install playwright)"
        ) from None
    out = out or bundle.with_name(bundle.name + ".pdf")
    executable = chromium or shutil.which("chromium") or shutil.which("chromium-browser")
    with sync_playwright() as p:
        try:
            browser = p.chromium.launch(executable_path=executable, args=_ARGS)
        except Exception as e:  # playwright's own Error: no browser to launch
            raise PdfUnavailable(f"cannot start Chromium: {str(e).splitlines()[0]}") from None
        try:
            page = browser.new_page()
            page.route(
                "**/*", lambda r: r.continue_() if r.request.url.startswith("file:") else r.abort()
            )
            page.goto(html.resolve().as_uri())
            page.emulate_media(media="print")
            out.write_bytes(page.pdf(format="A4", print_background=True))
        finally:
            browser.close()
    return out
