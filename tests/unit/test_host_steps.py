"""Host steps are visible and refusable (issue 11): ``validate`` lists them, ``run
--no-host-steps`` (or DRILLKIT_NO_HOST_STEPS=1) refuses the drill before anything starts."""

from __future__ import annotations

from pathlib import Path

import pytest
from evidence_helpers import REPO
from typer.testing import CliRunner

from drillkit.cli import run as run_module
from drillkit.cli.main import app
from drillkit.runbook.custom import host_steps
from drillkit.spec import load_drill

DRILLS = REPO / "drills"
runner = CliRunner()


def _drill_with_host_step(tmp_path: Path) -> Path:
    text = (DRILLS / "failover.yaml").read_text().replace("name: failover", "name: host-demo")
    text = text.replace(
        "runbook:\n",
        "runbook:\n  - step: shell\n    name: notify\n    run: echo 'failover [/x] done'\n"
        "  - step: shell\n    name: inside\n    target: primary\n    run: 'true'\n",
        1,
    )
    path = tmp_path / "drills" / "host-demo.yaml"
    path.parent.mkdir()
    path.write_text(text)
    (tmp_path / "scenarios").symlink_to(REPO / "scenarios")
    return path


def test_host_steps_names_only_the_steps_that_run_on_this_host(tmp_path: Path) -> None:
    spec = load_drill(_drill_with_host_step(tmp_path))

    assert host_steps(spec.runbook) == ["runbook[0] shell 'notify': \"echo 'failover [/x] done'\""]
    assert host_steps(load_drill(DRILLS / "pitr-restore.yaml").runbook) == []  # inside a node


def test_validate_lists_the_host_steps(tmp_path: Path) -> None:
    result = runner.invoke(app, ["validate", str(_drill_with_host_step(tmp_path))])

    assert result.exit_code == 0, result.output
    assert "runs on this host: runbook[0] shell 'notify'" in result.output
    assert "inside" not in result.output


@pytest.mark.parametrize("from_env", [False, True])
def test_no_host_steps_refuses_the_drill_before_anything_starts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, from_env: bool
) -> None:
    path = _drill_with_host_step(tmp_path)
    started: list[object] = []
    monkeypatch.setattr(run_module, "run_suite", lambda *a, **k: started.append(a))
    monkeypatch.setattr(run_module, "run_lock", lambda **k: started.append(k))
    args = ["run", str(path), "--report-dir", str(tmp_path / "reports")]
    if from_env:
        monkeypatch.setenv("DRILLKIT_NO_HOST_STEPS", "1")
    else:
        args.append("--no-host-steps")

    result = runner.invoke(app, args)

    assert result.exit_code == 2, result.output
    assert f"{path}: runbook[0] shell 'notify'" in result.output
    assert "runs on this host; refused by --no-host-steps" in result.output
    assert started == [] and not (tmp_path / "reports").exists()


def test_the_shipped_drills_have_no_host_steps_so_no_host_steps_runs_them() -> None:
    specs = [(path, load_drill(path)) for path in sorted(DRILLS.glob("*.yaml"))]

    assert len(specs) >= 10
    assert run_module.refuse_host_steps(specs) == []
