"""Redis data loss: an operator's FLUSHALL, and a node that loses its persistence files.

``flushall`` empties the master at a time the history records; replication copies it to every
replica and, when RDB save points are configured, Redis also overwrites ``dump.rdb`` with the
empty dataset at once, so only an AOF or a backup copy still holds the data. The evidence says
how many keys went and how old the last RDB snapshot was, which is what a snapshot restore can
bring back.

``delete-redis-files`` SIGKILLs a data node, deletes its ``dump.rdb`` and/or ``appendonlydir``
from its volume (a short-lived helper mounts the volume) and starts it again: it comes
back with whatever is left. A master that restarts empty before the Sentinels notice hands its
empty dataset to every replica; that is the drill's to show.

Healing is 'nothing to undo': putting data back is the runbook's job, and the drill measures it.
"""

from __future__ import annotations

from typing import Any, Protocol, cast, runtime_checkable

from drillkit.backend.node import Node, VolumeNode
from drillkit.faults.base import FaultTopology, NodeFault

__all__ = ["CacheTopology", "DeleteRedisFiles", "FlushCache", "Flushall", "RedisDataTopology"]

DATA_DIR = "/data"
_FILES = {"rdb": "dump.rdb", "aof": "appendonlydir", "all": "dump.rdb appendonlydir"}


@runtime_checkable
class RedisDataTopology(FaultTopology, Protocol):
    """A topology of Redis nodes (their data volumes are reached through the node)."""

    def redis(self, node: Node, timeout: float = 1.0) -> Any:
        """A client for the node on its published port."""
        ...


def _redis_topology(topology: FaultTopology, kind: str) -> RedisDataTopology:
    """``topology`` as a :class:`RedisDataTopology`: ``kind`` requires "redis" in the registry,
    so a drill whose topology lacks it was refused at validation."""
    return cast(RedisDataTopology, topology)


class _RedisDataFault(NodeFault):
    """A data-loss fault on Redis data nodes (never Sentinels)."""

    heal_note = "nothing to undo: restoring the data is the runbook's job"

    def check(self, topology: FaultTopology, nodes: list[Node]) -> None:
        _redis_topology(topology, self.kind)
        sentinels = [n.name for n in nodes if n.role == "sentinel"]
        if sentinels:
            raise ValueError(f"{self.kind} needs data nodes; {', '.join(sentinels)} hold no data")


class Flushall(_RedisDataFault):
    """``FLUSHALL`` on the target (the master by default); its evidence dates the last snapshot."""

    kind = "flushall"

    def _inject(self, topology: FaultTopology, node: Node) -> str:
        with _redis_topology(topology, self.kind).redis(node, timeout=5.0) as r:
            keys = int(r.dbsize())
            persistence = r.info("persistence")
            save = str(r.config_get("save").get("save", ""))
            seconds, micros = r.time()
            r.flushall()
        files = _persisted(persistence, save, float(seconds) + float(micros) / 1e6)
        return f"{node.name}: FLUSHALL removed {keys} keys; {files}"


def _persisted(persistence: dict[str, Any], save: str, now: float) -> str:
    """What the node's files held when the flush hit: the AOF, or a snapshot of some age."""
    if int(persistence.get("aof_enabled", 0)):
        return "AOF on: it holds every write, then this FLUSHALL"
    if not save.strip():
        return "no persistence (no save points, AOF off)"
    saved = int(persistence.get("rdb_last_save_time", 0))
    return (
        f"last RDB snapshot {now - saved:.3f}s earlier (rdb_last_save_time {saved}, 1 s "
        "resolution); FLUSHALL has now overwritten dump.rdb with the empty dataset"
    )


_DELETE = r"""
cd "$1"; shift
for f in "$@"; do
  if [ -e "$f" ]; then echo "$f ($(du -sb "$f" | cut -f1) bytes)"; rm -rf -- "$f"; fi
done
"""


class DeleteRedisFiles(_RedisDataFault):
    """SIGKILL the node, delete its RDB and/or AOF files, start it again on what is left."""

    kind = "delete-redis-files"

    def _value(self) -> dict[str, Any]:
        return {**super()._value(), "files": self.spec.files}

    def _inject(self, topology: FaultTopology, node: Node) -> str:
        if not isinstance(node, VolumeNode):
            raise TypeError(f"{node.name}: its backend cannot mount its data volume in a helper")
        volume = node.volume_at(DATA_DIR)
        if volume is None:
            raise KeyError(f"{node.name} has no volume at {DATA_DIR}")
        node.kill("SIGKILL")
        status = node.wait_exit(timeout=30)
        result = node.run_helper_on_volume(
            DATA_DIR,
            ["sh", "-c", _DELETE, "delete", DATA_DIR, *_FILES[self.spec.files].split()],
            timeout=60.0,
        )
        if not result.ok:
            raise RuntimeError(
                f"deleting files on {node.name} failed ({result.status}): {result.tail()}"
            )
        deleted = result.stdout.strip().replace("\n", ", ") or "nothing"
        node.start()
        node.wait_status("running")
        return (
            f"{node.name}: killed (status {status}); deleted {deleted} from volume {volume}; "
            f"started again ({node.status()})"
        )


@runtime_checkable
class CacheTopology(FaultTopology, Protocol):
    """A database topology with a cache node in front of it (topology.cache)."""

    def cache_client(self, node: Node, timeout: float = 1.0) -> Any:
        """A client for the cache node on its published port."""
        ...


class FlushCache(NodeFault):
    """``FLUSHALL`` on the cache node (topology.cache): every entry goes; readers refill."""

    kind = "flush-cache"
    heal_note = "nothing to undo: readers refill the cache from the database"

    def check(self, topology: FaultTopology, nodes: list[Node]) -> None:
        # cache0 ("cache"), or a replica the Sentinels promoted ("cache-replica"); never a Sentinel
        others = [n.name for n in nodes if n.role not in ("cache", "cache-replica")]
        if others:
            raise ValueError(f"flush-cache needs the cache node; {', '.join(others)} is not one")

    def _inject(self, topology: FaultTopology, node: Node) -> str:
        with cast(CacheTopology, topology).cache_client(node, timeout=5.0) as r:
            keys = int(r.dbsize())
            r.flushall()
        return f"{node.name}: FLUSHALL removed {keys} cached keys"
