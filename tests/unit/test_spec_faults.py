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
    assert info.value.problem.startswith("the role 'etcd' exists only in a patroni topology")
