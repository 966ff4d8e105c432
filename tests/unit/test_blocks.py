"""The building blocks on their own (drillkit.deployment), against the in-memory target: a
workload, a fault as a context manager, the final read and the drill's checkers."""

from __future__ import annotations

import time

import pytest

import drillkit
from drillkit.history import OpType
from drillkit.spec import Targets
from drillkit.testing import MemoryPlatform


def test_a_pause_in_a_with_block_is_measured_by_the_drill_checkers() -> None:
    platform = MemoryPlatform()
    with drillkit.deployment({"kind": "postgres", "replicas": 1}, platform=platform) as pg:
        assert [n.role for n in pg.nodes] == ["primary", "replica"]
        with pg.workload(rate=200, op_timeout_seconds=0.05) as writer:
            time.sleep(0.2)
            with pg.fault("pause", target="primary") as fault:
                assert pg.nodes[0].status() == "paused"
                time.sleep(0.3)
            assert pg.nodes[0].status() == "running"  # healed on leaving the block
            time.sleep(0.4)
        assert writer.ok_count > 20 and fault is not None
        ids = pg.final_read()
        analysis = pg.analyze(Targets(rto_seconds=5, max_lost_writes=0), 0.1)
    assert ids and analysis.lost is not None and analysis.lost.count == 0
    assert analysis.rto is not None and 0.2 < (analysis.rto.seconds or 0) < 1.0
    assert analysis.verdict.value == "pass", analysis.notes
    assert platform.swept  # removed like a drill's resources
    kinds = [op.f for op in pg.history.ops() if op.process == "fault" and op.type is OpType.OK]
    assert kinds == ["pause", "heal-pause"]


def test_the_deployment_is_removed_when_the_block_raises() -> None:
    platform = MemoryPlatform()
    with (
        pytest.raises(RuntimeError, match="boom"),
        drillkit.deployment("pg-async-pair", platform=platform),
    ):
        raise RuntimeError("boom")
    assert platform.swept


def test_a_bad_fault_is_a_validation_error_before_anything_is_injected() -> None:
    with drillkit.deployment({"kind": "postgres"}, platform=MemoryPlatform()) as pg:
        with pytest.raises(ValueError), pg.fault("pause", target="primary", duration=-1):
            pass
        assert not [op for op in pg.history.ops() if op.process == "fault"]


def test_a_drill_from_a_mapping_or_a_model_is_validated_like_a_file() -> None:
    doc = {
        "name": "inline",
        "topology": "pg-async-pair",  # a scenario name, as in a file
        "faults": [{"kind": "kill", "target": "primary"}],
        "targets": {"rto_seconds": 10},
    }
    spec = drillkit.parse_drill(doc)
    assert spec.topology.kind == "postgres" and spec.faults[0].kind == "kill"
    assert drillkit.parse_drill(spec) == spec  # a model built in Python round-trips
    bad = {**doc, "faults": [{"kind": "kill", "target": "pg9"}]}
    with pytest.raises(drillkit.DrillFileError) as info:
        drillkit.parse_drill(bad, origin="my-test")
    assert str(info.value).startswith("my-test: faults[0]: 'pg9' is not a node")
