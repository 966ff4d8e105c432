"""``drillkit plan``: which nodes a run would strike, how, when and for how long, and the
runbook, with nothing touched. drillkit's own topologies are planned from the drill file alone;
a stack drillkit did not create through a read-only survey (a fake engine here; the integration
test in tests/integration/test_external.py plans a real Compose project)."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml
from evidence_helpers import REPO
from test_external import FakeContainers, compose
from typer.testing import CliRunner

import drillkit.resources
from drillkit.cli import plan as plan_cli
from drillkit.cli.main import app
from drillkit.faults.schedule import plan as schedule
from drillkit.plan import PlannedNode, plan_drill, render_plan
from drillkit.secrets import Secrets
from drillkit.spec import load_drill
from drillkit.spec.external import ComposeTopology
from drillkit.topology import external as external_topology
from drillkit.topology.external import ExternalPostgres

runner = CliRunner()
DRILLS = REPO / "drills"


def test_own_topology_plans_the_nodes_it_would_create_and_the_schedule() -> None:
    spec = load_drill(DRILLS / "failover.yaml")

    p = plan_drill(spec, file="drills/failover.yaml")

    assert not p.external and p.engine == {}
    assert [n.name for n in p.nodes] == ["pg0", "pg1"]
    [kill] = p.injections
    assert (kill.kind, kill.target, kill.at, kill.heal_at) == ("kill", "primary", 0.0, None)
    assert kill.how == "SIGKILL the container's main process."
    assert kill.heal == "at the end of the drill, after observing: nothing (the node stays down)."
    assert kill.note == "primary: resolved when injected (among pg0, pg1)"
    assert [(s.step, s.parameters["delay_seconds"]) for s in p.runbook] == [("promote", 1.0)]


def test_repeated_faults_follow_the_schedule_the_nemesis_runs() -> None:
    spec = load_drill(DRILLS / "chaos-replica.yaml")

    p = plan_drill(spec, file="x")

    events = schedule(spec.faults)
    assert [i.at for i in p.injections] == [e.at for e in events if e.action == "inject"]
    assert [i.heal_at for i in p.injections] == [e.at for e in events if e.action == "heal"]
    assert [i.at for i in p.injections] == [0.0, 4.0, 8.0]
    assert all(i.heal == f"healed at +{i.heal_at:g} s (after 2 s)" for i in p.injections)


def _external(tmp_path: Path) -> Any:
    doc = {
        "name": "staging-failover",
        "topology": {"kind": "compose", "project": "staging", "services": ["pga", "pgb"]},
        "workload": {"warmup_seconds": 1, "observe_seconds": 3},
        "faults": [
            {"kind": "kill", "target": "primary", "incident": True},
            {"kind": "packet-loss", "target": "pgb", "percent": 30, "at": 0.5, "duration": 1.5},
        ],
        "runbook": [{"step": "shell", "name": "team-promote", "run": "./promote.sh"}],
        "targets": {"rto_seconds": 30},
        "external": {"confirm": "staging"},
    }
    path = tmp_path / "staging.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


NODES = [
    PlannedNode("pga", "primary", "staging-pga-1", "id-a" * 8, "pg:15", "running", 15432),
    PlannedNode("pgb", "replica", "staging-pgb-1", "id-b" * 8, "pg:15", "running", 15433),
]


def _survey(topology: Any) -> tuple[list[PlannedNode], dict[str, str]]:
    assert topology.project == "staging"
    return NODES, {"endpoint": "tcp://127.0.0.1:23750", "daemon_version": "20.10.24"}


def test_an_external_plan_names_the_containers_struck_how_when_and_for_how_long(
    tmp_path: Path,
) -> None:
    p = plan_drill(load_drill(_external(tmp_path)), file="staging.yaml", survey=_survey)

    kill, loss = p.injections
    assert (kill.nodes, kill.containers, kill.incident) == (["pga"], ["staging-pga-1"], True)
    assert kill.note == "the primary now; roles are asked again when it is injected"
    assert (loss.nodes, loss.containers) == (["pgb"], ["staging-pgb-1"])
    assert (loss.at, loss.heal_at, loss.parameters) == (0.5, 2.0, {"percent": 30.0})
    assert [(s.name, s.where) for s in p.runbook] == [("team-promote", "on this host")]
    text = "\n".join(render_plan(p))
    assert "target: compose project 'staging', not drillkit's" in text
    assert "confirmed as 'staging': run it with --target staging" in text
    assert "engine: endpoint tcp://127.0.0.1:23750, daemon_version 20.10.24" in text
    assert "  +0 s  faults[0] kill primary -> pga (staging-pga-1) (the incident)" in text
    assert "  +0.5 s  faults[1] packet-loss pgb -> pgb (staging-pgb-1)" in text
    assert "      heal: healed at +2 s (after 1.5 s)" in text
    step = next(line for line in text.splitlines() if "runbook[0]" in line)
    assert step.startswith("  runbook[0] shell 'team-promote' on this host: ")
    assert "run=./promote.sh" in step
    assert text.endswith("final read, drop the probe table")


def test_a_stack_without_a_single_primary_is_planned_with_a_warning(tmp_path: Path) -> None:
    down = [NODES[0].__class__(**{**NODES[0].__dict__, "status": "exited", "role": "unknown"})]

    p = plan_drill(
        load_drill(_external(tmp_path)),
        file="x",
        survey=lambda _t: (down + NODES[1:], {}),
    )

    assert p.injections[0].nodes == []
    assert p.injections[0].note == "no single primary now (0 found): the run would not start"


def test_the_survey_is_read_only_and_reports_what_it_cannot_know(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Listing and inspecting (a fake engine with nothing else: any other call would raise),
    and one read-only query per running node."""
    a, b = compose("pga"), compose("pgb", 2)
    b.status = "exited"
    engine = SimpleNamespace(containers=FakeContainers([a, b]))
    asked: list[tuple[str, str]] = []

    class Conn:
        read_only = False

        def __init__(self, conninfo: str) -> None:
            self.conninfo = conninfo

        def __enter__(self) -> Conn:
            return self

        def __exit__(self, *exc: object) -> None:
            pass

        def execute(self, sql: str) -> Any:
            assert self.read_only
            asked.append((self.conninfo, sql))
            return SimpleNamespace(fetchone=lambda: (False,))

    monkeypatch.setattr(external_topology.psycopg, "connect", lambda c, **k: Conn(c))
    spec = ComposeTopology(kind="compose", project="staging", services=["pga", "pgb"])
    stack = ExternalPostgres(
        engine, spec, run_id="plan", labels={}, image="", secrets=Secrets(), environ={}
    )

    pga, pgb = stack.survey()

    assert (pga.role, pga.status, pga.host_port, pga.container) == (
        "primary",
        "running",
        15433,
        "staging-pga-1",
    )
    assert (pgb.role, pgb.note) == ("unknown", "exited: a run would refuse to start")
    assert [sql for _c, sql in asked] == ["SELECT pg_is_in_recovery()"]
    assert "port=15433" in asked[0][0]


def test_without_the_password_roles_are_unknown_and_say_why() -> None:
    engine = SimpleNamespace(containers=FakeContainers([compose("pga")]))
    spec = ComposeTopology(
        kind="compose",
        project="staging",
        credentials={"password_env": "STAGING_PW"},  # type: ignore[arg-type]
    )
    stack = ExternalPostgres(
        engine, spec, run_id="plan", labels={}, image="", secrets=Secrets(), environ={}
    )

    [pga] = stack.survey()

    assert (pga.role, pga.note) == ("unknown", "credentials.password_env: STAGING_PW is not set")


def test_the_plan_command_prints_text_and_json(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _external(tmp_path)
    engines: list[object] = []
    monkeypatch.setattr(drillkit.resources, "connect_engine", lambda: engines.append(1) or "c")
    monkeypatch.setattr(plan_cli, "docker_survey", lambda client: _survey)

    text = runner.invoke(app, ["plan", str(path)], terminal_width=200)
    as_json = runner.invoke(app, ["plan", str(path), "--json"])

    assert text.exit_code == 0, text.output
    assert "faults[0] kill primary -> pga (staging-pga-1)" in text.output
    data = json.loads(as_json.output)
    assert data["injections"][1]["heal_at"] == 2.0
    assert data["nodes"][0]["container_id"] == "id-a" * 8
    assert len(engines) == 2


def test_plan_of_an_invalid_drill_exits_2(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("name: bad\ntopology: {kind: compose, project: staging}\n")

    result = runner.invoke(app, ["plan", str(path)])

    assert result.exit_code == 2


def test_own_topology_plan_needs_no_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(drillkit.resources, "connect_engine", lambda: pytest.fail("engine"))

    result = runner.invoke(app, ["plan", str(DRILLS / "redis-split-brain.yaml"), "--json"])

    assert result.exit_code == 0, result.output
    note = json.loads(result.output)["injections"][0]["note"]
    assert "sentinels: resolved when injected" in note
    assert "sentinels: resolved when injected (among" not in note


@pytest.mark.parametrize(
    ("drill", "every"),
    [
        ("cache-pitr-ttl.yaml", ["pg0", "pg1"]),  # never the cache node
        ("patroni-failover.yaml", ["pg0", "pg1", "pg2"]),  # never etcd or HAProxy
        ("redis-failover.yaml", ["r0", "r1", "r2", "s1", "s2", "s3"]),  # the nodes it starts
    ],
)
def test_all_designates_what_it_designates_at_run_time(
    drill: str, every: list[str], tmp_path: Path
) -> None:
    doc = yaml.safe_load((DRILLS / drill).read_text())
    doc["faults"] = [{"kind": "pause", "target": "all", "at": 0, "duration": 1}]
    doc["runbook"] = []
    doc.get("targets", {}).pop("max_ghost_window_seconds", None)
    (tmp_path / "d.yaml").write_text(yaml.safe_dump(doc))

    p = plan_drill(load_drill(tmp_path / "d.yaml"), file="d.yaml")

    [pause] = p.injections
    assert pause.nodes == every
