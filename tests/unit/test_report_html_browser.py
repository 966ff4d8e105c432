"""report.html in headless Chromium at desktop (1280 px) and phone (400 px) widths, and printed:
the parts are visible, nothing overflows sideways, chart labels stay >= 10 px, the bar colours
differ in lightness (greyscale and colour-blind safe). Skipped when playwright or chromium is
missing (``./scripts/setup.sh --dev`` installs both); CI fails instead."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from evidence_helpers import literal_run

from drillkit.report.audit import AuditInput, audit_input
from drillkit.report.chart import COLORS
from drillkit.report.html import render_html


def _need_browser() -> tuple[Any, str]:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    try:
        from playwright import sync_api
    except ImportError:
        sync_api = None
    if chromium is None or sync_api is None:
        message = "playwright or chromium is not installed (./scripts/setup.sh --dev)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return sync_api, chromium


@pytest.fixture(scope="module")
def page_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    with audit_input(AuditInput(operator="alice", environment="dr-lab", controls=("soc2",))):
        report, ops = literal_run(survivors=[1, 2, 3, 7, 8, 9, 10, 11, 12])  # 4, 5 lost
    assert report.measured.lost_writes == 2
    report = report.model_copy(
        update={
            "configuration": {
                "kind": "postgres",
                "nodes": {"pg0": {"image_id": "sha256:" + "ab" * 32, "settings": {"fsync": "on"}}},
            }
        }
    )
    path = tmp_path_factory.mktemp("html") / "report.html"
    path.write_text(render_html(report, ops), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    sync_api, chromium = _need_browser()
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium, args=["--no-sandbox", "--disable-gpu"])
        try:
            yield b
        finally:
            b.close()


_SMALLEST_LABEL = """svg => {
  const scale = svg.getBoundingClientRect().width / svg.viewBox.baseVal.width;
  return Math.min(...[...svg.querySelectorAll('text')].map(
    t => parseFloat(getComputedStyle(t).fontSize) * scale));
}"""


@pytest.mark.parametrize(
    ("width", "chart"), [(1280, "#timeline-chart"), (400, "#timeline-chart-narrow")]
)
def test_the_report_reads_at_desktop_and_phone_widths(
    browser: Any, page_file: Path, width: int, chart: str
) -> None:
    page = browser.new_page(viewport={"width": width, "height": 900})
    fetched: list[str] = []
    page.on("request", lambda r: fetched.append(r.url) if not r.url.startswith("file:") else None)
    page.goto(page_file.as_uri())
    assert page.evaluate("document.documentElement.scrollWidth") <= width  # no sideways scroll
    assert page.locator("#verdict").is_visible()
    svg = page.locator(chart)
    assert svg.is_visible()
    other = "#timeline-chart-narrow" if chart == "#timeline-chart" else "#timeline-chart"
    assert not page.locator(other).is_visible()  # one chart at a time
    box = svg.bounding_box()
    assert box is not None and box["width"] >= min(width - 24, 976) - 2 and box["height"] > 200
    assert svg.evaluate(_SMALLEST_LABEL) >= 10
    for part in (".rpo-window", ".rto-window", ".lost-writes", ".fault-band", ".marker-runbook"):
        assert svg.locator(part).count() >= 1, part
    rpo = svg.locator(".rpo-window rect").first.bounding_box()
    assert rpo is not None and rpo["width"] >= 4  # a window of milliseconds is still visible
    labels = svg.locator("text.axis-label").all_text_contents()
    assert any("time since the incident" in t and "(s)" in t for t in labels)
    assert any(t.startswith("writes per") for t in labels)
    assert "acknowledged writes lost" in (svg.get_attribute("aria-label") or "")
    summary = page.locator("#timeline-summary")
    assert summary.is_visible() and "2 acknowledged writes lost" in summary.inner_text()
    assert page.locator("#configuration table").is_visible()
    assert page.locator("#audit").is_visible() and page.locator("#controls").is_visible()
    # only the incident's effective time is shown as a time of day
    text = page.locator("body").inner_text()
    stamps = set(re.findall(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[.\d]*[+\-Z][\d:]*", text))
    assert len(stamps) <= 3, stamps  # started, finished, the incident took effect
    assert fetched == []
    page.close()


def _luminance(hex_colour: str) -> float:
    def channel(c: int) -> float:
        s = c / 255
        return s / 12.92 if s <= 0.03928 else ((s + 0.055) / 1.055) ** 2.4

    r, g, b = (int(hex_colour[i : i + 2], 16) for i in (1, 3, 5))
    return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)


def _contrast(a: str, b: str) -> float:
    la, lb = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def test_bar_colours_differ_in_lightness_and_are_the_ones_drawn(
    browser: Any, page_file: Path
) -> None:
    assert _contrast(COLORS["ok"], COLORS["fail"]) >= 3  # was 1.46 (green vs red)
    assert _contrast(COLORS["ok"], COLORS["info"]) >= 2.5
    assert _contrast(COLORS["info"], COLORS["fail"]) >= 7
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(page_file.as_uri())
    fill = page.locator("#timeline-chart rect.op-ok").first.get_attribute("fill")
    assert fill == COLORS["ok"]
    info = page.locator("#timeline-chart rect.op-info").first.get_attribute("fill") or ""
    assert info.startswith("url(#")  # hatched as well as coloured
    page.close()


def test_the_printed_report_keeps_the_chart_and_the_tables(browser: Any, page_file: Path) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(page_file.as_uri())
    page.emulate_media(media="print")
    assert page.locator("#timeline-chart").is_visible()
    assert not page.locator("#timeline-chart-narrow").is_visible()
    clipped = page.evaluate(
        "[...document.querySelectorAll('.scroll')].filter("
        "e => getComputedStyle(e).overflowX !== 'visible').length"
    )
    assert clipped == 0
    pdf = page.pdf(format="A4")
    assert pdf.startswith(b"%PDF") and len(pdf) > 10_000
    page.close()


def test_report_pdf_prints_beside_the_bundle_so_it_still_verifies(
    page_file: Path, tmp_path: Path
) -> None:
    _need_browser()
    bundle = tmp_path / "failover-20260102T030405Z"
    bundle.mkdir()
    shutil.copy(page_file, bundle / "report.html")
    # a process of its own: the module's browser already runs playwright's loop in this one
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2] / "src")}
    command = [sys.executable, "-m", "drillkit", "report", "pdf"]
    done = subprocess.run([*command, str(bundle)], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    pdf = tmp_path / "failover-20260102T030405Z.pdf"
    assert pdf.read_bytes().startswith(b"%PDF")
    assert [p.name for p in bundle.iterdir()] == ["report.html"]  # nothing added to the bundle
    missing = subprocess.run([*command, str(tmp_path / "nope")], capture_output=True, env=env)
    assert missing.returncode == 2
