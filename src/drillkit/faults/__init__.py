"""Faults: the registry of fault kinds, each with its inject and heal."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from drillkit.faults.base import Fault, FaultTopology, record
from drillkit.faults.data import DeleteRange, DropTable, Truncate
from drillkit.faults.disk import Corrupt, DeleteWal, FillDisk, WipeData
from drillkit.faults.network import (
    Bandwidth,
    CutClient,
    CutLink,
    Isolate,
    OneWayPartition,
    PacketLoss,
    Partition,
    ReplicationLag,
)
from drillkit.faults.process import CrashRestart, Kill, Pause, Restart, Stop
from drillkit.faults.redis_data import DeleteRedisFiles, Flushall

__all__ = ["FAULTS", "Fault", "FaultTopology", "make_fault", "record"]

FAULTS: dict[str, Callable[[Any], Fault]] = {
    "kill": Kill,
    "stop": Stop,
    "restart": Restart,
    "pause": Pause,
    "crash-restart": CrashRestart,
    "isolate": Isolate,
    "partition": Partition,
    "partition-one-way": OneWayPartition,
    "cut-link": CutLink,
    "cut-client": CutClient,
    "packet-loss": PacketLoss,
    "bandwidth": Bandwidth,
    "replication-lag": ReplicationLag,
    "drop-table": DropTable,
    "truncate": Truncate,
    "delete-range": DeleteRange,
    "wipe-data": WipeData,
    "delete-wal": DeleteWal,
    "corrupt": Corrupt,
    "fill-disk": FillDisk,
    "flushall": Flushall,
    "delete-redis-files": DeleteRedisFiles,
}


def make_fault(spec: Any) -> Fault:
    """The fault for a validated fault spec (its ``kind`` is a key of :data:`FAULTS`)."""
    try:
        factory = FAULTS[spec.kind]
    except KeyError:
        raise NotImplementedError(f"fault kind {spec.kind!r} has no implementation yet") from None
    return factory(spec)
