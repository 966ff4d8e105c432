"""Bad fault entries are rejected before anything starts, naming the file and the field."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from drillkit.spec import DrillFileError, load_drill


def _drill(tmp_path: Path, *faults: dict[str, Any], **topology: Any) -> Path:
    path = tmp_path / "drill.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "name": "d",
                "topology": {"kind": "postgres", "replicas": 2, **topology},
                "faults": list(faults),
                "targets": {"rto_seconds": 5},
            }
        )
    )
    return path


@pytest.mark.parametrize(
    ("fault", "field", "message"),
    [
        (
            {"kind": "partition", "groups": [["pg0"], ["pg1", "pg0"]]},
            "faults[0].groups",
            "'pg0' is named twice",
        ),
        ({"kind": "partition", "groups": [["pg0"], []]}, "faults[0].groups", "group 1 is empty"),
        ({"kind": "partition", "groups": [["pg0", "pg1"]]}, "faults[0].groups", "at least 2 items"),
        ({"kind": "pause", "at": -1}, "faults[0].at", "greater than or equal to 0"),
        ({"kind": "pause", "duration": -2}, "faults[0].duration", "greater than 0"),
        ({"kind": "kill", "target": "Primary!"}, "faults[0].target", "is not a target"),
        ({"kind": "cut-link", "between": ["pg1", "pg1"]}, "faults[0].between", "must differ"),
        ({"kind": "packet-loss", "percent": 150}, "faults[0].percent", "less than or equal to 100"),
        ({"kind": "bandwidth", "rate": "fast"}, "faults[0].rate", "should match pattern"),
        ({"kind": "replication-lag"}, "faults[0].duration", "required field is missing"),
        ({"kind": "pause", "volume": 3}, "faults[0].volume", "unknown field"),
    ],
)
def test_bad_fault_entries_name_the_field(
    tmp_path: Path, fault: dict[str, Any], field: str, message: str
) -> None:
    path = _drill(tmp_path, fault)
    with pytest.raises(DrillFileError) as info:
        load_drill(path)
    assert info.value.path == str(path)
    assert info.value.field == field
    assert message in info.value.problem


def test_a_target_the_topology_does_not_have_is_rejected(tmp_path: Path) -> None:
    path = _drill(tmp_path, {"kind": "kill", "target": "pg0"}, {"kind": "isolate", "target": "pg7"})
    with pytest.raises(DrillFileError) as info:
        load_drill(path)
    assert str(info.value) == (
        f"{path}: faults[1]: 'pg7' is not a node of this topology; expected one of pg0, pg1, pg2 "
        "or a role (" + info.value.problem.split("role (")[1]
    )


def test_fill_disk_needs_a_sized_volume(tmp_path: Path) -> None:
    with pytest.raises(DrillFileError, match=r"set topology\.data_volume_size"):
        load_drill(_drill(tmp_path, {"kind": "fill-disk", "target": "pg1"}))
    assert (
        load_drill(
            _drill(tmp_path, {"kind": "fill-disk", "target": "pg1"}, data_volume_size="128m")
        )
        .faults[0]
        .kind
        == "fill-disk"
    )


def test_a_valid_chaos_schedule_loads(tmp_path: Path) -> None:
    spec = load_drill(
        _drill(
            tmp_path,
            {
                "kind": "isolate",
                "target": "replica",
                "at": 1,
                "duration": 2,
                "repeat": {"every": 5, "times": 3},
            },
            {"kind": "partition", "groups": [["primary"], ["replicas"]], "at": 20, "duration": 3},
        )
    )
    assert [f.kind for f in spec.faults] == ["isolate", "partition"]


def test_a_role_the_topology_kind_lacks_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(DrillFileError) as info:
        load_drill(_drill(tmp_path, {"kind": "isolate", "target": "etcd"}))
    assert info.value.field == "faults[0]"
    assert info.value.problem == "role 'etcd' needs topology.kind: patroni"


def test_only_one_fault_may_be_the_incident(tmp_path: Path) -> None:
    ok = load_drill(_drill(tmp_path, {"kind": "isolate", "target": "pg1"}, {"kind": "kill"}))
    assert [f.incident for f in ok.faults] == [False, False]
    marked = load_drill(_drill(tmp_path, {"kind": "kill", "incident": True}))
    assert marked.faults[0].incident is True
    path = _drill(
        tmp_path,
        {"kind": "isolate", "target": "pg1", "incident": True},
        {"kind": "pause", "target": "pg2", "duration": 1},
        {"kind": "kill", "at": 2, "incident": True},
    )
    with pytest.raises(DrillFileError) as info:
        load_drill(path)
    assert str(info.value).startswith(
        f"{path}: faults[0].incident and faults[2].incident are all true; "
        "mark exactly one fault as the incident"
    )


def test_overlapping_exclusive_faults_on_one_node_are_rejected(tmp_path: Path) -> None:
    path = _drill(
        tmp_path,
        {"kind": "pause", "target": "primary", "duration": 3},
        {"kind": "pause", "target": "primary", "at": 1, "duration": 1},
    )
    with pytest.raises(DrillFileError) as info:
        load_drill(path)
    assert str(info.value) == (
        f"{path}: faults[1]: overlaps faults[0] (pause on primary from 0 to 3 s); a node can be "
        "paused by one fault at a time: move faults[1].at or shorten faults[0].duration"
    )


def test_an_exclusive_fault_without_duration_lasts_to_the_end(tmp_path: Path) -> None:
    path = _drill(
        tmp_path,
        {"kind": "bandwidth", "target": "pg1", "rate": "1mbit", "at": 2},
        {"kind": "bandwidth", "target": "pg1", "rate": "2mbit", "at": 10, "duration": 1},
    )
    with pytest.raises(DrillFileError, match=r"faults\[1\]: overlaps faults\[0\] \(bandwidth on "):
        load_drill(path)
    with pytest.raises(DrillFileError, match="from 2 s to the end"):
        load_drill(path)


@pytest.mark.parametrize(
    "faults",
    [
        # back to back: the second starts when the first is healed
        [{"kind": "pause", "duration": 1}, {"kind": "pause", "at": 1, "duration": 1}],
        # other nodes, or kinds that compose (own iptables chains)
        [{"kind": "pause", "duration": 3}, {"kind": "pause", "target": "pg1", "duration": 3}],
        [{"kind": "isolate", "target": "pg1"}, {"kind": "isolate", "target": "pg1", "at": 1}],
        # repeats interleaved with another entry's window
        [
            {
                "kind": "stop",
                "target": "pg1",
                "at": 0,
                "duration": 1,
                "repeat": {"every": 4, "times": 2},
            },
            {"kind": "stop", "target": "pg1", "at": 2, "duration": 1},
        ],
    ],
)
def test_faults_that_do_not_conflict_load(tmp_path: Path, faults: list[dict[str, Any]]) -> None:
    assert len(load_drill(_drill(tmp_path, *faults)).faults) == 2


def test_repeats_that_overlap_another_entry_are_rejected(tmp_path: Path) -> None:
    path = _drill(
        tmp_path,
        {"kind": "stop", "target": "pg1", "duration": 1, "repeat": {"every": 4, "times": 2}},
        {"kind": "stop", "target": "pg1", "at": 4.5, "duration": 1},
    )
    with pytest.raises(DrillFileError, match=r"overlaps faults\[0\] \(stop on pg1 from 4 to 5 s\)"):
        load_drill(path)
