"""Runbook: restore steps, each timed and recorded in the history."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from drillkit.runbook.custom import Shell
from drillkit.runbook.engine import RunbookResult, Step, run_runbook
from drillkit.runbook.patroni_steps import Rejoin, Switchover, WaitForLeader
from drillkit.runbook.pgbackrest_steps import Restore, VerifyRestore
from drillkit.runbook.postgres_steps import Promote, Repoint
from drillkit.runbook.redis_steps import RedisPromote, RedisRestore, WaitSentinelFailover

__all__ = ["STEPS", "RunbookResult", "Step", "make_step", "run_runbook"]

STEPS: dict[str, Callable[[Any, Any], Step]] = {
    "promote": Promote,
    "shell": Shell,
    "restore": Restore,
    "verify-restore": VerifyRestore,
    "repoint": Repoint,
    "wait-for-leader": WaitForLeader,
    "switchover": Switchover,
    "rejoin": Rejoin,
    "wait-sentinel-failover": WaitSentinelFailover,
    "redis-promote": RedisPromote,
    "redis-restore": RedisRestore,
}


def make_step(spec: Any, topology: Any) -> Step:
    """The step for a validated runbook entry (its ``step`` is a key of :data:`STEPS`)."""
    return STEPS[spec.step](spec, topology)
