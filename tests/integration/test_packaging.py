"""The built wheel, installed into a fresh virtualenv outside the checkout, runs a shipped drill
(issue 14: a package that installs anywhere). Dependencies come from the package index (or pip's
cache); nothing from the source tree is on the path."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``bin/`` of a fresh venv with the wheel built from this checkout installed."""
    root = tmp_path_factory.mktemp("wheel")
    pip = [sys.executable, "-m", "pip", "-q", "--disable-pip-version-check"]
    subprocess.run([*pip, "wheel", "--no-deps", str(REPO), "-w", str(root / "dist")], check=True)
    (wheel,) = (root / "dist").glob("drillkit-*.whl")
    subprocess.run([sys.executable, "-m", "venv", str(root / "venv")], check=True)
    bin_dir = root / "venv" / "bin"
    subprocess.run(
        [bin_dir / "pip", "install", "-q", "--disable-pip-version-check", str(wheel)], check=True
    )
    return bin_dir


def _drillkit(bin_dir: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DRILLKIT_", "PYTHON"))}
    return subprocess.run(
        [str(bin_dir / "drillkit"), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_the_wheel_lists_initialises_and_runs_a_shipped_drill_from_anywhere(
    installed: Path, tmp_path: Path, docker_client: Any
) -> None:
    version = _drillkit(installed, tmp_path, "--version")
    assert version.returncode == 0 and version.stdout.startswith("drillkit "), version
    listed = _drillkit(installed, tmp_path, "list")
    assert listed.returncode == 0, listed.stderr
    assert "failover" in listed.stdout and "redis-failover" in listed.stdout
    # init copies editable drills; a copied drill finds its scenario beside it
    init = _drillkit(installed, tmp_path, "init", "mine")
    assert init.returncode == 0, init.stderr
    assert (tmp_path / "mine" / "drills" / "failover.yaml").is_file()
    assert (tmp_path / "mine" / "scenarios" / "pg-async-pair.yaml").is_file()
    again = _drillkit(installed, tmp_path, "init", "mine")
    assert "already" in again.stdout  # never overwrites
    # a lone copy of a drill that names a scenario falls back to the shipped scenario
    alone = tmp_path / "alone.yaml"
    alone.write_text((tmp_path / "mine" / "drills" / "failover.yaml").read_text())
    checked = _drillkit(installed, tmp_path, "validate", str(alone))
    assert checked.returncode == 0, checked.stderr

    ran = _drillkit(installed, tmp_path, "run", "failover", "--log-format", "json")
    assert ran.returncode == 0, ran.stdout[-2000:] + ran.stderr[-2000:]
    (report,) = (tmp_path / "reports").glob("failover-*/report.json")
    assert json.loads(report.read_text())["verdict"] == "pass"
