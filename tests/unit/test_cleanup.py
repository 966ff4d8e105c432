"""Ownership and cleanup (issue 11): runs own their resources by a token and a heartbeat; dead
means a stale heartbeat (never a pid guess); cleanup takes the lock, removes only dead runs by
default, named runs with --run, every run that is not alive with --all, nothing with --dry-run."""

from __future__ import annotations

import importlib
import os
import time
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from drillkit.errors import EXIT_LOCKED
from drillkit.hostlock import LOCK_ENV
from drillkit.ownership import BOOT_LABEL, HOST_LABEL, Heartbeat, RunState, liveness
from drillkit.resources import RUN_LABEL, labels_for, plan_cleanup, sweep_dead_runs
from drillkit.suite import run_lock

cli = importlib.import_module("drillkit.cli.main")


class _Thing:
    def __init__(self, name: str, labels: dict[str, str], gone: list[str]) -> None:
        self.name, self.labels, self.attrs, self.gone = name, labels, {"Labels": labels}, gone

    def remove(self, **_kw: Any) -> None:
        self.gone.append(self.name)


class _Kind:
    def __init__(self, engine: _Engine, kind: str) -> None:
        self.engine, self.kind = engine, kind

    def list(self, filters: dict[str, list[str]] | None = None, **_kw: Any) -> list[_Thing]:
        wanted = (filters or {}).get("label", [RUN_LABEL])[0]
        key, _, value = wanted.partition("=")
        return [
            _Thing(name, labels, self.engine.removed)
            for kind, name, labels in self.engine.things
            if kind == self.kind
            and name not in self.engine.removed
            and key in labels
            and (not value or labels[key] == value)
        ]


class _Engine:
    """Just enough of the Docker SDK client for listing and removing labelled resources."""

    def __init__(self) -> None:
        self.things: list[tuple[str, str, dict[str, str]]] = []
        self.removed: list[str] = []
        self.containers = _Kind(self, "containers")
        self.networks = _Kind(self, "networks")
        self.volumes = _Kind(self, "volumes")

    def add_run(self, run_id: str, labels: dict[str, str]) -> None:
        self.things += [
            ("containers", f"{run_id}-pg0", labels),
            ("networks", f"{run_id}-net", labels),
            ("volumes", f"{run_id}-data", labels),
        ]


def _run(
    engine: _Engine, run_id: str, heartbeats: Path, *, age: float = 0.0, **kw: Any
) -> Heartbeat:
    beat = Heartbeat(run_id, heartbeats, interval=60).start()
    assert beat.path is not None
    if age:
        os.utime(beat.path, (time.time() - age, time.time() - age))
    engine.add_run(run_id, labels_for(run_id, "failover", owner=beat.labels(), **kw))
    return beat


@pytest.fixture
def heartbeats(tmp_path: Path) -> Path:
    path = tmp_path / "runs"
    path.mkdir(mode=0o700)
    return path


def test_a_fresh_heartbeat_is_alive_a_stale_one_dead(heartbeats: Path) -> None:
    engine = _Engine()
    live = _run(engine, "live", heartbeats)
    _run(engine, "crashed", heartbeats, age=120)
    assert liveness("live", live.labels(), heartbeats).state is RunState.ALIVE
    swept = sweep_dead_runs(engine, heartbeats)  # type: ignore[arg-type]
    assert swept.containers == ["crashed-pg0"] and swept.volumes == ["crashed-data"]
    assert not (heartbeats / "crashed.json").exists()
    assert (heartbeats / "live.json").exists()


def test_a_live_run_in_another_pid_namespace_is_not_dead(heartbeats: Path) -> None:
    """The old sweep called os.kill(pid, 0) on the label's pid: another namespace's pid 1 or a
    missing pid made a live run look dead. The heartbeat does not care about pids."""
    engine = _Engine()
    beat = _run(engine, "namespaced", heartbeats)
    engine.things = [
        (k, n, {**labels, "drillkit.owner_pid": "999999"}) for k, n, labels in engine.things
    ]
    assert not sweep_dead_runs(engine, heartbeats)  # type: ignore[arg-type]
    beat.stop()


def test_a_heartbeat_of_another_owner_or_none_at_all_is_unknown(heartbeats: Path) -> None:
    labels = {RUN_LABEL: "x", "drillkit.owner": "t0ken", HOST_LABEL: "elsewhere"}
    assert liveness("x", labels, heartbeats).state is RunState.UNKNOWN
    (heartbeats / "x.json").write_text('{"token": "someone-else"}')
    assert liveness("x", labels, heartbeats).state is RunState.UNKNOWN


def test_a_run_from_before_a_reboot_of_this_host_is_dead(heartbeats: Path) -> None:
    import socket

    labels = {RUN_LABEL: "x", HOST_LABEL: socket.gethostname(), BOOT_LABEL: "an-older-boot"}
    assert liveness("x", labels, heartbeats).state is RunState.DEAD


def test_the_heartbeat_beats_and_stopping_removes_it(heartbeats: Path) -> None:
    beat = Heartbeat("r", heartbeats, interval=0.02).start()
    assert beat.path is not None
    os.utime(beat.path, (0, 0))
    time.sleep(0.2)
    assert time.time() - beat.path.stat().st_mtime < 5
    assert oct(beat.path.stat().st_mode & 0o777) == "0o600"
    beat.stop()
    assert not beat.path.exists()


def test_cleanup_removes_only_dead_runs_by_default(heartbeats: Path) -> None:
    engine = _Engine()
    _run(engine, "alive", heartbeats)
    _run(engine, "dead", heartbeats, age=120)
    _run(engine, "kept", heartbeats, age=120, keep=True)
    engine.add_run("foreign", {RUN_LABEL: "foreign", "drillkit.owner": "x"})
    plan = {d.run.run_id: d for d in plan_cleanup(engine, heartbeats=heartbeats)}
    assert {r for r, d in plan.items() if d.remove} == {"dead"}
    assert plan["kept"].why == "remove with --run kept or --all"
    assert plan["foreign"].liveness.state is RunState.UNKNOWN
    everything = plan_cleanup(engine, everything=True, heartbeats=heartbeats)
    assert {d.run.run_id for d in everything if d.remove} == {"dead", "kept", "foreign"}
    named = plan_cleanup(engine, run_ids=["kept", "alive"], heartbeats=heartbeats)
    assert [(d.run.run_id, d.remove) for d in named] == [("alive", False), ("kept", True)]
    with pytest.raises(KeyError):
        plan_cleanup(engine, run_ids=["nope"], heartbeats=heartbeats)


def _cli(engine: _Engine, monkeypatch: pytest.MonkeyPatch, *args: str) -> Any:
    monkeypatch.setattr(cli, "connect_engine", lambda: engine)
    return CliRunner().invoke(cli.app, ["cleanup", *args])


def test_cleanup_cli_dry_run_lists_and_removes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from drillkit.ownership import heartbeat_dir

    monkeypatch.setenv(LOCK_ENV, str(tmp_path / "l.lock"))
    engine = _Engine()
    _run(engine, "dead", heartbeat_dir(), age=120)
    _run(engine, "kept", heartbeat_dir(), age=120, keep=True)
    result = _cli(engine, monkeypatch, "--dry-run")
    assert result.exit_code == 0, result.output
    assert "would remove  dead  dead: heartbeat 120s old  (1 container(s)" in result.output
    assert (
        "kept          kept  kept: kept with --keep; remove with --run kept or --all"
        in result.output
    )
    assert engine.removed == []
    result = _cli(engine, monkeypatch)
    assert result.exit_code == 0 and sorted(engine.removed) == ["dead-data", "dead-net", "dead-pg0"]
    result = _cli(engine, monkeypatch, "--run", "kept")
    assert result.exit_code == 0 and "kept-pg0" in engine.removed


def test_cleanup_refuses_while_a_run_holds_the_lock(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(LOCK_ENV, str(tmp_path / "l.lock"))
    engine = _Engine()
    engine.add_run("dead", {RUN_LABEL: "dead"})
    with run_lock(tmp_path / "l.lock"):
        result = _cli(engine, monkeypatch, "--all")
    assert result.exit_code == EXIT_LOCKED
    assert "a drillkit run is active" in result.output and "nothing removed" in result.output
    assert engine.removed == []


def test_cleanup_rejects_an_unknown_run_and_run_with_all(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(LOCK_ENV, str(tmp_path / "l.lock"))
    assert _cli(_Engine(), monkeypatch, "--run", "nope").exit_code == 2
    assert _cli(_Engine(), monkeypatch, "--run", "x", "--all").exit_code == 2
