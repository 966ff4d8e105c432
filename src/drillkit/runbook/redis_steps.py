"""Built-in Redis restore steps: wait for Sentinel, promote by hand, restore persisted files.

Each step bounds itself by its own ``timeout_seconds`` (the engine's timeout abandons a step's
thread; the step's own deadline ends it), and returns what it found or did as the step's value.
"""

from __future__ import annotations

import contextlib
import secrets
import time
from typing import Any, Protocol

import redis
from redis.exceptions import BusyLoadingError, RedisError, ResponseError

from drillkit.backend.node import Node
from drillkit.history import History
from drillkit.queries import struck_node
from drillkit.runbook.redis_files import (
    ArchivedFile,
    backup_candidates,
    build_archive,
    read_archive,
    strip_flushes,
)
from drillkit.spec.redis import RedisPromoteStep, RedisRestoreStep, WaitSentinelFailoverStep
from drillkit.topology.redis import RedisCluster, no_retry
from drillkit.topology.redis_config import (
    BACKUP_DIR,
    CONF_DIR,
    DATA_DIR,
    MASTER_NAME,
    REDIS_PORT,
)
from drillkit.wait import WaitTimeout, wait_until

__all__ = ["RedisPromote", "RedisRestore", "SentinelView", "WaitSentinelFailover"]

POLL = 0.05


class SentinelView(Protocol):
    """What waiting for a Sentinel failover asks of a deployment (drillkit's Redis topology, or
    the cache in front of PostgreSQL)."""

    @property
    def data_nodes(self) -> list[Node]: ...

    def sentinel_announced(self) -> dict[str, Node | None]: ...

    def sentinel_master(self) -> Node | None: ...

    def role(self, node: Node) -> list[Any] | None: ...

    def node(self, name: str) -> Node: ...

    def node_at(self, ip: str) -> Node: ...


class _RedisStep:
    name = ""

    def __init__(self, spec: Any, cluster: RedisCluster) -> None:
        self.spec = spec
        self.cluster = cluster
        self.delay_seconds = float(spec.delay_seconds)
        self.timeout_seconds = float(spec.timeout_seconds)

    def _deadline(self) -> float:
        return time.monotonic() + self.timeout_seconds


class WaitSentinelFailover(_RedisStep):
    """Until enough Sentinels (at least the quorum, and all that answer) name one new master and
    that node reports itself master; with ``converge``, until every other running data node
    replicates from it too (a deposed master that came back has been made a replica)."""

    name = "wait-sentinel-failover"
    spec: WaitSentinelFailoverStep
    struck_role = "primary"  # the role whose holder the fault struck

    old: str | None = None

    @property
    def view(self) -> SentinelView:
        """The data nodes and Sentinels to ask (this step's: the Redis topology's own)."""
        return self.cluster

    @property
    def quorum(self) -> int:
        return self.cluster.spec.quorum

    @property
    def converge(self) -> bool:
        return bool(getattr(self.spec, "converge", False))

    def observe(self, history: History) -> None:
        """The master the fault struck (:func:`~drillkit.history.struck_node`): the one a
        failover replaces."""
        self.old = struck_node(history.ops(), role=self.struck_role)

    def run(self) -> dict[str, Any]:
        old = self.old
        started = time.monotonic()
        try:
            wait_until(
                lambda: self._waiting_for(old),
                until=lambda waiting: not waiting,
                timeout=max(0.0, self._deadline() - started),
                interval=POLL,
            )
        except WaitTimeout as e:
            raise TimeoutError(
                f"no failover after {self.timeout_seconds:g}s: {e.last_value or 'no answer yet'}"
            ) from None
        new = self.view.sentinel_master()
        assert new is not None
        return {
            "old_master": old,
            "new_master": new.name,
            "waited_seconds": round(time.monotonic() - started, 3),
            "converged": self.converge,
        }

    def _waiting_for(self, old: str | None) -> str:
        """What is still missing ('' when done)."""
        announced = self.view.sentinel_announced()
        named = {s: n.name for s, n in announced.items() if n is not None}
        if len(named) < self.quorum:
            return f"{len(named)} Sentinel(s) answer, fewer than the quorum"
        if len(set(named.values())) != 1:
            return f"Sentinels disagree: {named}"
        new = next(iter(named.values()))
        if new == old:
            return f"Sentinels still name {old}"
        node = self.view.node(new)
        role = self.view.role(node)
        if not role or role[0] != "master":
            return f"{new} does not report itself master yet"
        if self.converge:
            return self._not_following(node)
        return ""

    def _not_following(self, master: Node) -> str:
        for n in self.view.data_nodes:
            if n is master or not n.is_running():
                continue
            role = self.view.role(n)
            if not role or role[0] != "slave":
                return f"{n.name} is {role[0] if role else 'not answering'}, not a replica"
            try:
                following = self.view.node_at(str(role[1])).name
            except KeyError:
                following = str(role[1])
            if following != master.name or role[3] != "connected":
                return f"{n.name} replicates from {following} ({role[3]}), not {master.name}"
        return ""


class RedisPromote(_RedisStep):
    """An operator's failover: promote the most advanced replica, re-point the others at it,
    then tell the Sentinels (REMOVE + MONITOR) so clients that ask them find it."""

    name = "redis-promote"
    spec: RedisPromoteStep

    def run(self) -> dict[str, Any]:
        try:
            offsets = wait_until(
                self._replica_offsets,
                timeout=max(0.0, self._deadline() - time.monotonic()),
                interval=POLL,
            )
        except WaitTimeout:
            raise RuntimeError("no running replica answers; nothing to promote") from None
        best = self.cluster.node(max(offsets, key=lambda name: offsets[name]))
        with self.cluster.redis(best, timeout=5.0) as r:
            r.execute_command("REPLICAOF", "NO", "ONE")
        ip = best.ip(self.cluster.network_name)
        repointed, unreachable = [], []
        for n in self.cluster.data_nodes:
            if n is best or not n.is_running():
                continue
            try:
                with self.cluster.redis(n, timeout=2.0) as r:
                    r.execute_command("REPLICAOF", ip, REDIS_PORT)
                repointed.append(n.name)
            except (RedisError, OSError):
                unreachable.append(n.name)
        result: dict[str, Any] = {
            "node": best.name,
            "replication_offsets": offsets,
            "repointed": repointed,
            "unreachable": unreachable,
        }
        if self.spec.reconfigure_sentinels:
            result["sentinels"] = self._monitor(ip)
        return result

    def _replica_offsets(self) -> dict[str, int]:
        offsets: dict[str, int] = {}
        for n in self.cluster.data_nodes:
            if not n.is_running():
                continue
            role = self.cluster.role(n)
            if role and role[0] == "slave":
                offsets[n.name] = int(role[4])
        return offsets

    def _monitor(self, ip: str) -> list[str]:
        topo = self.cluster.spec
        done = []
        for s in self.cluster.sentinel_nodes:
            if not s.is_running():
                continue
            with self.cluster.redis(s, timeout=2.0) as r:
                with contextlib.suppress(ResponseError):  # not monitored: nothing to remove
                    r.sentinel_remove(MASTER_NAME)
                r.sentinel_monitor(MASTER_NAME, ip, REDIS_PORT, topo.quorum)
                r.sentinel_set(MASTER_NAME, "auth-pass", self.cluster.secrets["redis"])
                r.sentinel_set(MASTER_NAME, "down-after-milliseconds", topo.down_after_ms)
                r.sentinel_set(MASTER_NAME, "failover-timeout", topo.failover_timeout_ms)
            done.append(s.name)
        return done


class RedisRestore(_RedisStep):
    """Restore the keys of persisted files into the live master, without stopping it.

    The files (the AOF minus FLUSHALL/FLUSHDB, dump.rdb, or the newest non-empty backup) are
    copied out of the node's volume into a scratch Redis on the run's network; each of its keys
    is then copied to the master with DUMP/RESTORE: a key the master lacks is restored as it
    was, a set it has is merged (SUNIONSTORE), any other existing key is left as it is. Writes
    acknowledged since the data loss are therefore kept, and the history can tell exactly which
    acknowledged writes the restore brought back.
    """

    name = "redis-restore"
    spec: RedisRestoreStep

    def run(self) -> dict[str, Any]:
        deadline = self._deadline()
        node = self.cluster.resolve(self.spec.node)[0]
        source, candidates = self._files(node)
        if not candidates:
            raise RuntimeError(f"{node.name} has no {self.spec.source} files to restore from")
        for label, files in candidates:
            with _Scratch(self.cluster, files, self.spec.source) as scratch:
                keys = scratch.wait_loaded(deadline)
                if keys == 0 and self.spec.source == "backup":
                    continue  # an empty snapshot (taken after a FLUSHALL): try an older one
                merged = self._merge(scratch.client, deadline)
                return {"node": node.name, "source": source, "file": label, **merged}
        raise RuntimeError(f"every backup on {node.name} is empty")

    def _files(self, node: Node) -> tuple[str, list[tuple[str, list[ArchivedFile]]]]:
        """A description of the source, and the file sets to try (first choice first)."""
        if self.spec.source == "aof":
            stream = [node.get_archive(f"{DATA_DIR}/appendonlydir")]
            files, removed = [], 0
            for f in read_archive(stream):
                name = f.path.split("/", 1)[-1]
                data = f.data
                if name.endswith(".aof"):
                    data, n = strip_flushes(data)
                    removed += n
                files.append(ArchivedFile(f"appendonlydir/{name}", data, f.uid, f.gid, f.mtime))
            label = f"appendonlydir ({len(files)} files, {removed} FLUSHALL/FLUSHDB removed)"
            return "aof", [(label, files)] if files else []
        if self.spec.source == "rdb":
            stream = [node.get_archive(f"{DATA_DIR}/dump.rdb")]
            files = [ArchivedFile("dump.rdb", f.data, f.uid, f.gid) for f in read_archive(stream)]
            return "rdb", [("dump.rdb", files)] if files else []
        stream = [node.get_archive(BACKUP_DIR)]
        backups = backup_candidates(read_archive(stream))
        return "backup", [
            (b.path.rsplit("/", 1)[-1], [ArchivedFile("dump.rdb", b.data, b.uid, b.gid)])
            for b in backups
        ]

    def _merge(self, scratch: redis.Redis, deadline: float) -> dict[str, Any]:
        master = self.cluster.sentinel_master() or self.cluster.current_primary()
        if master is None:
            raise RuntimeError("no single master to restore into")
        counts = {"keys": 0, "restored": 0, "merged": 0, "kept": 0, "members_added": 0}
        with self.cluster.redis(master, timeout=5.0, decode=False) as live:
            for key in scratch.scan_iter(count=1000):
                if time.monotonic() >= deadline:
                    raise TimeoutError(f"restore unfinished after {self.timeout_seconds:g}s")
                counts["keys"] += 1
                payload = scratch.dump(key)
                if payload is None:
                    continue  # expired meanwhile
                ttl = max(0, int(scratch.pttl(key)))
                if not live.exists(key):
                    live.restore(key, ttl, payload)
                    counts["restored"] += 1
                elif scratch.type(key) == live.type(key) == b"set":
                    counts["members_added"] += _union(live, key, payload)
                    counts["merged"] += 1
                else:
                    counts["kept"] += 1
        return {"into": master.name, **counts}


def _union(live: redis.Redis, key: bytes, payload: Any) -> int:
    """Add the members of a dumped set to ``key``; how many were missing."""
    scratch_key = key + b":drillkit-restore-" + secrets.token_hex(4).encode()
    live.restore(scratch_key, 0, payload)
    try:
        before = int(live.scard(key))
        live.sunionstore(key, [key, scratch_key])
        return int(live.scard(key)) - before
    finally:
        live.delete(scratch_key)


_SCRATCH_COMMAND = f"""set -e
until [ -e {DATA_DIR}/restore/.ready ]; do sleep 0.05; done
exec redis-server {CONF_DIR}/redis.conf
"""


class _Scratch:
    """A throw-away Redis on the run's network that loads the files to restore from.

    It is published on 127.0.0.1 like every node, carries the run's labels (a sweep removes it if
    the harness dies), is not one of the topology's nodes (faults never target it) and is removed
    when the block ends.
    """

    def __init__(self, cluster: RedisCluster, files: list[ArchivedFile], source: str) -> None:
        self.cluster = cluster
        self.files = files
        self.aof = source == "aof"
        self.node: Node | None = None
        self.client: redis.Redis = None  # type: ignore[assignment]

    def __enter__(self) -> _Scratch:
        c = self.cluster
        password = c.secrets["redis"]
        conf = "\n".join(
            [
                f"port {REDIS_PORT}",
                f'requirepass "{password}"',
                f"dir {DATA_DIR}/restore",
                'save ""',
                f"appendonly {'yes' if self.aof else 'no'}",
                "appenddirname appendonlydir",
                "dbfilename dump.rdb",
            ]
        )
        token = secrets.token_hex(3)
        self.node = c.start_scratch_node(
            f"restore-{token}",
            environment={},
            command=["sh", "-c", _SCRATCH_COMMAND],
            secrets={"redis.conf": conf},
        )
        try:
            uid, gid = self.files[0].uid, self.files[0].gid
            self.node.put_archive(DATA_DIR, build_archive("restore", self.files, uid, gid))
            ready = ArchivedFile(".ready", b"", uid, gid)
            self.node.put_archive(DATA_DIR, build_archive("restore", [ready], uid, gid))
            self.client = redis.Redis(
                host=self.node.host,
                port=self.node.port(REDIS_PORT),
                password=password,
                socket_timeout=5.0,
                socket_connect_timeout=1.0,
                retry=no_retry(),
            )
        except BaseException:
            self.__exit__()
            raise
        return self

    def wait_loaded(self, deadline: float) -> int:
        """Wait until the scratch server has loaded its files; how many keys it holds."""

        def keys() -> int:
            try:
                return int(self.client.dbsize())
            except (BusyLoadingError, RedisError, OSError):
                assert self.node is not None
                if self.node.status() != "running":
                    raise RuntimeError(
                        f"the scratch server could not load the files: {self.node.logs(tail=5)}"
                    ) from None
                raise

        try:
            return wait_until(
                keys,
                until=lambda _n: True,
                ignore=(BusyLoadingError, RedisError, OSError),
                timeout=max(0.0, deadline - time.monotonic()),
                interval=POLL,
            )
        except WaitTimeout as e:
            raise TimeoutError(
                f"the scratch server did not load the files in time: {e.last_error}"
            ) from None

    def __exit__(self, *exc: object) -> None:
        if self.client is not None:
            self.client.close()
        if self.node is not None:
            self.node.remove()
