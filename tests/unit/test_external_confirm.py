"""Safety rails (issue 13): a drill strikes a stack drillkit did not create only when the drill
file confirms it (``external: {confirm: NAME}``, for Compose the project) and ``drillkit run
--target NAME`` matches; otherwise exit 2 naming the file, the field and the fix, and nothing is
touched (no engine call, no lock, no report directory). drillkit's own topologies need neither."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import docker
import pytest
import yaml
from evidence_helpers import REPO
from typer.testing import CliRunner

from drillkit.cli import run as run_module
from drillkit.cli.main import app
from drillkit.drill import run_drill
from drillkit.spec import DrillFileError, DrillSpec, load_drill
from drillkit.spec.external import UnconfirmedTarget

runner = CliRunner()


def _doc(external: dict[str, Any] | None = None, **topology: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "name": "staging-failover",
        "topology": {"kind": "compose", "project": "staging", **topology},
        "faults": [{"kind": "kill", "target": "primary"}],
        "targets": {"rto_seconds": 5},
    }
    if external is not None:
        doc["external"] = external
    return doc


def _write(tmp_path: Path, doc: dict[str, Any]) -> Path:
    path = tmp_path / "drills" / "staging.yaml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    return path


def _problem(tmp_path: Path, doc: dict[str, Any]) -> DrillFileError:
    with pytest.raises(DrillFileError) as info:
        load_drill(_write(tmp_path, doc))
    return info.value


def test_an_external_drill_without_confirm_is_invalid_and_says_how_to_confirm(
    tmp_path: Path,
) -> None:
    e = _problem(tmp_path, _doc())

    assert e.field == "external"
    assert e.problem == (
        "missing; this drill strikes compose project 'staging', which drillkit did not create: "
        "add external: {confirm: staging} and run it with --target staging"
    )
    assert str(e).startswith(f"{tmp_path / 'drills' / 'staging.yaml'}: external: missing")


def test_a_compose_confirmation_must_be_the_project(tmp_path: Path) -> None:
    e = _problem(tmp_path, _doc({"confirm": "prod"}))

    assert e.field == "external.confirm"
    assert e.problem == (
        "'prod' is not the Compose project this drill strikes; "
        "write confirm: staging (topology.project)"
    )
    assert load_drill(_write(tmp_path, _doc({"confirm": "staging"}))).external.confirm == "staging"


def test_containers_are_confirmed_by_any_name_the_team_gives_them(tmp_path: Path) -> None:
    doc = _doc({"confirm": "shared-host-pg"})
    doc["topology"] = {"kind": "containers", "label": "app=staging"}
    assert load_drill(_write(tmp_path, doc)).external.confirm == "shared-host-pg"
    del doc["external"]
    e = _problem(tmp_path, doc)
    assert e.field == "external"
    assert "the containers labelled 'app=staging'" in e.problem
    assert "add external: {confirm: NAME} and run it with --target NAME" in e.problem
    doc["external"] = {"confirm": "no spaces allowed"}
    assert _problem(tmp_path, doc).field == "external.confirm"


def test_drillkits_own_topology_needs_no_confirmation_and_refuses_one(tmp_path: Path) -> None:
    text = (REPO / "drills" / "failover.yaml").read_text()
    path = tmp_path / "drills" / "own.yaml"
    path.parent.mkdir()
    (tmp_path / "scenarios").symlink_to(REPO / "scenarios")
    path.write_text(text + "external: {confirm: staging}\n")

    with pytest.raises(DrillFileError) as info:
        load_drill(path)

    assert info.value.field == "external"
    assert "is drillkit's own and needs no confirmation: remove external" in info.value.problem


@pytest.fixture
def nothing_touched(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """Records any attempt to reach the engine, take the lock or start the suite."""
    touched: list[object] = []

    def refuse(*a: Any, **k: Any) -> Any:
        touched.append((a, k))
        raise AssertionError("touched")

    monkeypatch.setattr(docker, "from_env", refuse)
    monkeypatch.setattr(docker, "DockerClient", refuse)
    monkeypatch.setattr(run_module, "run_lock", refuse)
    monkeypatch.setattr(run_module, "run_suite", refuse)
    return touched


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (
            [],
            "external.confirm: this drill strikes compose project 'staging', which drillkit did "
            "not create; confirm the target on the command line: --target staging",
        ),
        (
            ["--target", "prod"],
            "external.confirm is 'staging' but --target is 'prod'; run it with --target staging"
            " if compose project 'staging' is the stack you mean to strike",
        ),
    ],
)
def test_run_without_a_matching_target_exits_2_and_touches_nothing(
    tmp_path: Path, nothing_touched: list[object], args: list[str], expected: str
) -> None:
    path = _write(tmp_path, _doc({"confirm": "staging"}))
    reports = tmp_path / "reports"

    result = runner.invoke(
        app, ["run", str(path), "--report-dir", str(reports), *args], terminal_width=400
    )

    assert result.exit_code == 2, result.output
    assert f"{path}: {expected}" in " ".join(result.output.split())
    assert nothing_touched == [] and not reports.exists()


def test_a_target_no_drill_confirms_is_refused(
    tmp_path: Path, nothing_touched: list[object]
) -> None:
    (tmp_path / "scenarios").symlink_to(REPO / "scenarios")
    path = tmp_path / "drills" / "failover.yaml"
    path.parent.mkdir()
    path.write_text((REPO / "drills" / "failover.yaml").read_text())

    result = runner.invoke(app, ["run", str(path), "--target", "staging"], terminal_width=400)

    assert result.exit_code == 2
    assert "--target staging: no drill given confirms it (external.confirm)" in result.output
    assert nothing_touched == []


def test_run_with_the_matching_target_starts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _write(tmp_path, _doc({"confirm": "staging"}))
    started: list[Any] = []
    monkeypatch.setattr(run_module, "run_suite", lambda specs, **k: started.append(specs))

    result = runner.invoke(app, ["run", str(path), "--target", "staging"])

    assert len(started) == 1, result.output  # (then fails on the stub's result: not our concern)


def test_run_drill_refuses_an_unconfirmed_spec_built_in_python(
    tmp_path: Path, nothing_touched: list[object]
) -> None:
    spec = DrillSpec.model_validate(_doc())  # skips the file's reference checks
    confirmed = DrillSpec.model_validate(_doc({"confirm": "staging"}))

    with pytest.raises(UnconfirmedTarget, match=r"external\.confirm: missing"):
        run_drill(spec, drill_file="<py>", report_root=tmp_path, target="staging")
    with pytest.raises(UnconfirmedTarget, match="--target staging") as info:
        run_drill(confirmed, drill_file="<py>", report_root=tmp_path)

    assert info.value.exit_code == 2
    assert nothing_touched == [] and list(tmp_path.iterdir()) == []
