"""The pure parts of restoring: the target read from the history, the entrypoint's settings,
and the restore duration it logs."""

from __future__ import annotations

from datetime import UTC, datetime

import psycopg
import pytest
from builders import ms

from drillkit.history import History, OpType
from drillkit.runbook.pgbackrest_steps import Restore, wall_time
from drillkit.spec.steps import RestoreStep
from drillkit.topology.pgbackrest import (
    BackupRepo,
    restore_environment,
    restore_seconds,
    restored_backup_set,
)

START_WALL = datetime(2026, 1, 31, 12, 0, 0, tzinfo=UTC)


def started_history() -> History:
    history = History(clock=lambda: 0)
    history.append(
        "drill",
        OpType.OK,
        "start",
        time_ns=ms(1000),
        wall_time_ns=int(START_WALL.timestamp()) * 1_000_000_000,
    )
    return history


def test_wall_time_maps_the_monotonic_clock_through_the_start_marker() -> None:
    ops = started_history().ops()

    assert wall_time(ops, ms(1000)) == START_WALL
    assert wall_time(ops, ms(3500)) == datetime(2026, 1, 31, 12, 0, 2, 500000, tzinfo=UTC)


class FakeRestorable:
    def __init__(self) -> None:
        self.repo = BackupRepo(None, None, volume_name="v", labels={})  # type: ignore[arg-type]
        self.restored: list[str] = []

    def restore(self, **_: object) -> None: ...
    def current_primary(self) -> None: ...
    def node(self, name: str) -> None: ...
    def connect(self, node: object) -> None: ...


def restore_step(history: History, **fields: object) -> Restore:
    step = Restore(RestoreStep(step="restore", **fields), FakeRestorable())  # type: ignore[arg-type]
    step.observe(history)
    return step


def test_the_default_target_is_when_the_first_fault_was_requested() -> None:
    history = started_history()
    history.append("fault", OpType.INVOKE, "drop-table", time_ns=ms(6000))
    history.append("fault", OpType.OK, "drop-table", time_ns=ms(6040))

    when, mono = restore_step(history)._target()

    assert when == datetime(2026, 1, 31, 12, 0, 5, tzinfo=UTC)
    assert mono == ms(6000)


def test_a_target_can_be_set_back_from_the_fault() -> None:
    history = started_history()
    history.append("fault", OpType.INVOKE, "heal-pause", time_ns=ms(2000))  # heals do not count
    history.append("fault", OpType.INVOKE, "drop-table", time_ns=ms(6000))

    when, mono = restore_step(history, before_fault_seconds=1.5)._target()

    assert when == datetime(2026, 1, 31, 12, 0, 3, 500000, tzinfo=UTC)
    assert mono == ms(4500)


def test_an_explicit_target_is_also_placed_on_the_history_clock() -> None:
    target = datetime(2026, 1, 31, 13, 0, 2, tzinfo=UTC)

    when, mono = restore_step(started_history(), target_time=target)._target()

    assert when == target
    assert mono == ms(1000) + 3602 * 1000 * ms(1)


def test_no_fault_and_no_target_is_an_error() -> None:
    with pytest.raises(RuntimeError, match="give target_time"):
        restore_step(started_history())._target()


def test_restore_environment() -> None:
    assert restore_environment("time", "2026-01-31 12:00:05.000000+00") == {
        "DK_RESTORE_TYPE": "time",
        "DK_RESTORE_TARGET": "2026-01-31 12:00:05.000000+00",
    }
    assert restore_environment("latest", None) == {"DK_RESTORE_TYPE": "default"}
    with pytest.raises(ValueError, match="needs a target"):
        restore_environment("time", None)


def test_restore_seconds_is_read_from_the_entrypoint_log() -> None:
    log = "P00   INFO: restore command end: completed successfully\n"
    log += "drillkit: pgbackrest restore took 1.234s\n2026-01-31 LOG:  starting ..."

    assert restore_seconds(log) == 1.234
    assert restore_seconds("nothing here") is None


def test_the_backup_set_is_read_from_the_restore_log() -> None:
    log = "P00   INFO: restore backup set 20261125-090331F_20261125-090337I, recovery will start"

    assert restored_backup_set(log) == "20261125-090331F_20261125-090337I"
    assert restored_backup_set("") is None


class _RestoredNode:
    name = "pg0"

    def logs(self, tail: object = "all") -> str:
        return "drillkit: pgbackrest restore took 1.250s\n"


class FakePatroniRestorable(FakeRestorable):
    """A topology whose restore has phases (as PatroniCluster's)."""

    def restore(self, **_: object) -> _RestoredNode:  # type: ignore[override]
        return _RestoredNode()

    def connect(self, node: object) -> None:
        raise psycopg.OperationalError("not in a unit test")

    def restore_phases(self, node: str) -> dict[str, float]:
        return {"stop_patroni": 1.5, "replicas": 2.0} if node == "pg0" else {}


def test_a_restore_with_phases_reports_them_beside_the_copy() -> None:
    spec = RestoreStep(step="restore", type="latest", onto="primary", flush_wal=False)
    step = Restore(spec, FakePatroniRestorable())  # type: ignore[arg-type]
    step.observe(started_history())

    out = step.run()

    assert out["node"] == "pg0" and out["timeline"] is None
    assert out["seconds"]["restore_copy"] == 1.25
    assert out["seconds"]["phases"] == {"stop_patroni": 1.5, "replicas": 2.0}
