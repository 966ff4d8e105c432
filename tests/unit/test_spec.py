"""Drill files are validated completely, and every error reads ``FILE: FIELD: problem``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from drillkit.spec import DrillFileError, DrillSpec, load_drill, resolve_drill_path

REPO = Path(__file__).resolve().parents[2]


def drill(**fields: Any) -> dict[str, Any]:
    """A minimal valid drill, with ``fields`` replaced (a value of None removes the field)."""
    doc: dict[str, Any] = {
        "name": "unit",
        "topology": {"kind": "postgres"},
        "faults": [{"kind": "kill"}],
        "targets": {"rpo_seconds": 1},
    }
    doc.update(fields)
    return {k: v for k, v in doc.items() if v is not None}


def write(tmp_path: Path, doc: dict[str, Any] | str, name: str = "drill.yaml") -> Path:
    path = tmp_path / "drills" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(doc if isinstance(doc, str) else yaml.safe_dump(doc), encoding="utf-8")
    return path


def scenario(tmp_path: Path, name: str, doc: dict[str, Any]) -> Path:
    path = tmp_path / "scenarios" / f"{name}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    return path


def error(path: Path) -> DrillFileError:
    with pytest.raises(DrillFileError) as info:
        load_drill(path)
    return info.value


def test_a_minimal_drill_loads_with_defaults(tmp_path: Path) -> None:
    spec = load_drill(write(tmp_path, drill()))

    assert isinstance(spec, DrillSpec)
    assert spec.name == "unit"
    assert spec.topology.replicas == 1
    assert spec.workload.stable_window_seconds == 1.0
    assert spec.faults[0].kind == "kill"
    assert spec.faults[0].target == "primary"
    assert spec.targets.rpo_seconds == 1.0
    assert spec.targets.rto_seconds is None


@pytest.mark.parametrize("path", sorted((REPO / "drills").glob("*.yaml")), ids=lambda p: p.name)
def test_the_shipped_drills_validate(path: Path) -> None:
    assert load_drill(path).name == path.stem


def test_error_text_is_file_field_problem() -> None:
    e = DrillFileError("drills/x.yaml", "faults[1].kind", "bad")

    assert str(e) == "drills/x.yaml: faults[1].kind: bad"
    assert (e.path, e.field, e.problem) == ("drills/x.yaml", "faults[1].kind", "bad")
    assert str(DrillFileError("drills/x.yaml", "", "no such file")) == "drills/x.yaml: no such file"


def test_unknown_fault_kind_names_the_field_and_the_known_kinds(tmp_path: Path) -> None:
    path = write(tmp_path, drill(faults=[{"kind": "kill"}, {"kind": "nuke"}]))

    e = error(path)

    assert e.field == "faults[1].kind"
    assert e.problem.startswith("'nuke' is not a fault; expected one of kill")
    assert str(e).startswith(f"{path}: faults[1].kind: 'nuke' is not a fault; expected one of kill")


def test_fault_without_kind(tmp_path: Path) -> None:
    e = error(write(tmp_path, drill(faults=[{"target": "primary"}])))

    assert (e.field, e.problem) == ("faults[0].kind", "missing 'kind'; say which one this is")


def test_unknown_runbook_step(tmp_path: Path) -> None:
    e = error(write(tmp_path, drill(runbook=[{"step": "reboot"}])))

    assert e.field == "runbook[0].step"
    assert e.problem.startswith("'reboot' is not a runbook step")
    assert "; expected one of promote" in e.problem


@pytest.mark.parametrize(
    ("fields", "field", "hint"),
    [
        ({"colour": "red"}, "colour", ""),
        ({"workload": {"writerz": 2}}, "workload.writerz", " (did you mean 'writers'?)"),
        ({"faults": [{"kind": "kill", "bogus": 1}]}, "faults[0].bogus", ""),
        (
            {"faults": [{"kind": "kill", "dration": 1}]},
            "faults[0].dration",
            " (did you mean 'duration'?)",
        ),
        (
            {"targets": {"rto_secnds": 1}},
            "targets.rto_secnds",
            " (did you mean 'rto_seconds' or 'rpo_seconds'?)",
        ),
    ],
)
def test_unknown_field(tmp_path: Path, fields: dict[str, Any], field: str, hint: str) -> None:
    path = write(tmp_path, drill(**fields))

    assert str(error(path)) == (
        f"{path}: {field}: unknown field{hint}; check the spelling against "
        "docs/reference/drill-file.md"
    )


def test_a_misspelt_kind_suggests_the_closest(tmp_path: Path) -> None:
    e = error(write(tmp_path, drill(faults=[{"kind": "kil", "target": "primary"}])))

    assert e.problem.startswith("'kil' is not a fault (did you mean 'kill'?); expected one of kill")


def test_every_problem_is_reported_not_only_the_first(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        drill(
            workload={"rat": 5},
            faults=[{"kind": "kil", "target": "primary"}],
            targets={"rto_secnds": 1},
        ),
    )
    e = error(path)

    assert e.field == "workload.rat"  # the first, as before, for the API
    assert [p.field for p in e.problems] == ["workload.rat", "faults[0].kind", "targets.rto_secnds"]


def test_negative_fault_time(tmp_path: Path) -> None:
    path = write(tmp_path, drill(faults=[{"kind": "kill"}, {"kind": "kill", "at": -1}]))

    assert str(error(path)) == f"{path}: faults[1].at: Input should be greater than or equal to 0"


def test_literal_choice_lists_what_is_allowed(tmp_path: Path) -> None:
    path = write(tmp_path, drill(topology={"kind": "postgres", "replication": "logical"}))

    assert str(error(path)) == (
        f"{path}: topology.replication: 'logical' is not allowed; expected 'async' or 'sync'"
    )


def test_fault_target_must_be_a_node_or_role(tmp_path: Path) -> None:
    e = error(write(tmp_path, drill(faults=[{"kind": "kill", "target": "pg7"}])))

    assert e.field == "faults[0]"
    assert e.problem.startswith("'pg7' is not a node of this topology; expected one of pg0, pg1")


def test_missing_targets(tmp_path: Path) -> None:
    path = write(tmp_path, drill(targets=None))

    assert str(error(path)) == f"{path}: targets: required field is missing"


def test_empty_targets(tmp_path: Path) -> None:
    path = write(tmp_path, drill(targets={}))

    assert str(error(path)) == (
        f"{path}: targets: declare at least one of rpo_seconds, rto_seconds, max_lost_writes, "
        "max_staleness_seconds, max_monotonic_violations, max_convergence_seconds, "
        "max_ghost_reads, max_ghost_window_seconds, max_stale_reads, "
        "max_cache_stale_window_seconds"
    )


def test_no_faults(tmp_path: Path) -> None:
    e = error(write(tmp_path, drill(faults=[])))

    assert e.field == "faults"
    assert "at least 1 item" in e.problem


def test_stable_window_longer_than_observation(tmp_path: Path) -> None:
    path = write(tmp_path, drill(workload={"observe_seconds": 2, "stable_window_seconds": 3}))

    assert str(error(path)) == (
        f"{path}: workload: stable_window_seconds (3.0) must not exceed observe_seconds (2.0): "
        "recovery could never be confirmed"
    )


def test_stable_window_equal_to_observation_is_allowed(tmp_path: Path) -> None:
    path = write(tmp_path, drill(workload={"observe_seconds": 2, "stable_window_seconds": 2}))

    assert load_drill(path).workload.observe_seconds == 2


def test_topology_by_name_comes_from_the_scenarios_dir_beside_drills(tmp_path: Path) -> None:
    scenario(
        tmp_path, "pg-triple", {"description": "x", "topology": {"kind": "postgres", "replicas": 2}}
    )

    spec = load_drill(write(tmp_path, drill(topology="pg-triple")))

    assert spec.topology.replicas == 2


def test_unknown_scenario_name_lists_the_known_ones(tmp_path: Path) -> None:
    scenario(tmp_path, "pg-async-pair", {"topology": {"kind": "postgres"}})
    scenario(tmp_path, "pg-triple", {"topology": {"kind": "postgres", "replicas": 2}})
    path = write(tmp_path, drill(topology="pg-nope"))

    assert str(error(path)) == (
        f"{path}: topology: no scenario 'pg-nope' in {tmp_path / 'scenarios'}; "
        "expected one of pg-async-pair, pg-triple or an inline mapping"
    )


def test_unknown_scenario_without_a_scenarios_dir(tmp_path: Path) -> None:
    e = error(write(tmp_path, drill(topology="pg-nope")))

    assert e.field == "topology"
    assert "expected one of (none) or an inline mapping" in e.problem


def test_unknown_field_in_a_scenario_names_the_scenario_file(tmp_path: Path) -> None:
    bad = scenario(tmp_path, "pg-odd", {"topology": {"kind": "postgres"}, "owner": "me"})

    assert str(error(write(tmp_path, drill(topology="pg-odd")))) == f"{bad}: owner: unknown field"


def test_an_invalid_scenario_value_names_the_scenario_file(tmp_path: Path) -> None:
    bad = scenario(tmp_path, "pg-none", {"topology": {"kind": "postgres", "replicas": 0}})

    e = error(write(tmp_path, drill(topology="pg-none")))

    assert e.field == "topology.replicas"
    assert e.path == str(bad)  # actual: the drill file


def test_invalid_yaml_names_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, "name: unit\ntopology: {kind: postgres}\nfaults: [kind: kill\n")

    e = error(path)

    assert e.field == "line 4"
    assert str(e).startswith(f"{path}: line 4: not valid YAML: ")


def test_a_drill_file_must_be_a_mapping(tmp_path: Path) -> None:
    path = write(tmp_path, "- kill\n- promote\n")

    assert str(error(path)) == (
        f"{path}: a drill file must be a YAML mapping (name, topology, ...)"
    )


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "drills" / "nope.yaml"

    assert str(error(path)) == f"{path}: no such file"


def test_a_file_that_is_not_utf8_is_a_drill_file_error(tmp_path: Path) -> None:
    path = tmp_path / "drills" / "latin1.yaml"
    path.parent.mkdir()
    path.write_bytes("name: café\n".encode("latin-1"))

    assert error(path).field == ""


def test_resolve_drill_path(tmp_path: Path) -> None:
    drills = tmp_path / "drills"

    assert resolve_drill_path("failover", drills) == drills / "failover.yaml"
    assert resolve_drill_path("mine.yaml", drills) == Path("mine.yaml")
    assert resolve_drill_path("mine.yml", drills) == Path("mine.yml")
    assert resolve_drill_path("elsewhere/failover", drills) == Path("elsewhere/failover")


def test_declared_seconds_is_warm_up_plus_runbook_delays_plus_observation() -> None:
    """What a drill asks for (the benchmarks' overhead is a run's wall time beyond it)."""
    spec = load_drill(REPO / "drills" / "failover.yaml")
    assert spec.declared_seconds() == 2 + 1 + 4
