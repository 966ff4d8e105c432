"""Shipped fault drills end to end: schedules run as declared and the numbers match ground truth."""

from __future__ import annotations

import itertools
from typing import Any

from drillkit.drill import run_drill
from drillkit.history import OpType, read_history
from drillkit.images import NodeImages
from drillkit.spec import load_drill

from .conftest import REPO, labelled


def _run(name: str, tmp_path: Any) -> Any:
    spec = load_drill(REPO / "drills" / f"{name}.yaml")
    return spec, run_drill(
        spec, drill_file=f"drills/{name}.yaml", report_root=tmp_path, progress=lambda _m: None
    )


def test_pause_primary_rto_matches_the_pause_and_nothing_is_lost(
    tmp_path: Any, docker_client: Any, images: NodeImages
) -> None:
    spec, result = _run("pause-primary", tmp_path)
    pause = spec.faults[0].duration
    measured = result.report["measured"]
    assert result.error is None
    assert measured["lost_writes"] == 0 and measured["rpo_seconds"] == 0
    # Ground truth: writes cannot succeed while the primary is frozen for `pause` seconds.
    assert pause - 0.1 <= measured["rto_seconds"] <= pause + 1.0
    assert labelled(docker_client, result.run_id)["containers"] == []


def test_chaos_schedule_injects_and_heals_every_repetition(
    tmp_path: Any, docker_client: Any, images: NodeImages
) -> None:
    spec, result = _run("chaos-replica", tmp_path)
    ops = read_history(result.report_dir / "history.jsonl")
    injected = [op for op in ops if op.f == "isolate" and op.type is OpType.OK]
    healed = [op for op in ops if op.f == "heal-isolate" and op.type is OpType.OK]
    repeat = spec.faults[0].repeat
    assert repeat is not None
    assert len(injected) == len(healed) == repeat.times
    # Each repetition heals about `duration` after it was injected, and starts `every` apart.
    starts = [op.extra["effective_ns"] for op in injected]
    assert all(abs((b - a) / 1e9 - repeat.every) < 0.5 for a, b in itertools.pairwise(starts))
    for inj, heal in zip(injected, healed, strict=True):
        assert abs((heal.time_ns - inj.time_ns) / 1e9 - spec.faults[0].duration) < 0.5
    # The primary never stopped serving: no acknowledged write lost.
    assert result.report["measured"]["lost_writes"] == 0
    assert labelled(docker_client, result.run_id)["containers"] == []
