"""Configuration of Redis and Sentinel nodes, rendered from the drill's topology (pure functions).

Each node's configuration file holds the password, so it is a secret file (:data:`CONF_DIR`,
mode 0600, written into the container before it starts; never the environment, never the data
volume). Sentinel rewrites ``sentinel.conf`` and, when it reconfigures a data node, makes it
rewrite its own ``redis.conf`` (``REPLICAOF`` + ``CONFIG REWRITE``) in place, so a node that
restarts keeps the role the last failover gave it, as on a real host.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from drillkit.backend.docker import SECRETS_DIR
from drillkit.spec.redis import RedisTopology
from drillkit.spec.settings import SENTINEL_GLOBAL, redis_conf_lines

__all__ = [
    "BACKUP_DIR",
    "CONF_DIR",
    "DATA_DIR",
    "MASTER_NAME",
    "REDIS_PORT",
    "SENTINEL_PORT",
    "SentinelSettings",
    "data_node_command",
    "redis_conf",
    "sentinel_command",
    "sentinel_conf",
    "server_version",
]

REDIS_PORT = 6379
SENTINEL_PORT = 26379
MASTER_NAME = "drillkit"
DATA_DIR = "/data"
CONF_DIR = SECRETS_DIR  # redis.conf / sentinel.conf (they carry the password)
# The backup volume is mounted where the image has a directory owned by the redis user, so Docker
# initialises the new volume with that ownership (the node runs as redis, not root).
BACKUP_DIR = "/var/lib/redis"
BACKUPS_KEPT = 10


def _quote(value: str) -> str:
    """A Redis config argument in double quotes (passwords are url-safe, but be exact)."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def redis_conf(spec: RedisTopology, password: str, master_ip: str | None) -> str:
    """``redis.conf`` of a data node; ``master_ip`` None for the first master."""
    lines = [
        f"port {REDIS_PORT}",
        "bind * -::*",
        "protected-mode no",  # a password is required anyway; clients come through docker-proxy
        f"dir {DATA_DIR}",
        f"requirepass {_quote(password)}",
        f"masterauth {_quote(password)}",
        f"save {_quote(spec.save_config)}",
        f"appendonly {'yes' if spec.persistence.startswith('aof') else 'no'}",
        "appenddirname appendonlydir",
        f"appendfsync {'always' if spec.persistence == 'aof-always' else 'everysec'}",
        # Start a full sync at once instead of waiting 5 s for more replicas to join it.
        "repl-diskless-sync-delay 0",
        f"min-replicas-to-write {spec.min_replicas_to_write}",
        f"min-replicas-max-lag {spec.min_replicas_max_lag}",
    ]
    if master_ip is not None:
        lines.append(f"replicaof {master_ip} {REDIS_PORT}")
    # The drill's own directives (topology.redis / redis_conf_file) last, so they win; the ones
    # drillkit controls were refused at validation unless they agree with the lines above.
    lines += redis_conf_lines(spec.redis)
    return "\n".join(lines) + "\n"


# Sentinel directives that apply to one monitored master: ``sentinel <name> <master> <value>``.
PER_MASTER = frozenset(
    {"parallel-syncs", "master-reboot-down-after-period", "auth-user", "quorum"}
    | {"down-after-milliseconds", "failover-timeout"}
)


def _sentinel_line(name: str, value: str, master: str = MASTER_NAME) -> str:
    if name in PER_MASTER:
        return f"sentinel {name} {master} {value}"
    if name in SENTINEL_GLOBAL:
        return f"sentinel {name} {value}"
    return f"{name} {value}"


class SentinelSettings(Protocol):
    """What a Sentinel's configuration needs of a topology (Redis's own, or a cache's)."""

    @property
    def quorum(self) -> int: ...

    @property
    def down_after_ms(self) -> int: ...

    @property
    def failover_timeout_ms(self) -> int: ...

    @property
    def sentinel(self) -> Mapping[str, str]: ...


def sentinel_conf(
    spec: SentinelSettings, password: str, master_ip: str, name: str = MASTER_NAME
) -> str:
    """``sentinel.conf``: monitor the master (as ``name``) by its address on the run's network."""
    return (
        "\n".join(
            [
                f"port {SENTINEL_PORT}",
                "protected-mode no",
                f"dir {DATA_DIR}",
                f"requirepass {_quote(password)}",
                f"sentinel sentinel-pass {_quote(password)}",
                f"sentinel monitor {name} {master_ip} {REDIS_PORT} {spec.quorum}",
                f"sentinel auth-pass {name} {_quote(password)}",
                f"sentinel down-after-milliseconds {name} {spec.down_after_ms}",
                f"sentinel failover-timeout {name} {spec.failover_timeout_ms}",
                f"sentinel parallel-syncs {name} 1",
                # quorum is the monitor line's (a user's value must equal it): Sentinel has
                # no "sentinel quorum" directive
                *(_sentinel_line(k, v, name) for k, v in spec.sentinel.items() if k != "quorum"),
            ]
        )
        + "\n"
    )


# The backup job copies each new snapshot (a BGSAVE renames a fresh file over dump.rdb, so a new
# inode means a new snapshot) to the backup volume and keeps the newest BACKUPS_KEPT copies.
_BACKUP_LOOP = f"""
if [ -n "${{DK_BACKUP_INTERVAL:-}}" ]; then
  ( last=""
    while sleep "$DK_BACKUP_INTERVAL"; do
      inode=$(stat -c %i {DATA_DIR}/dump.rdb 2>/dev/null) || continue
      [ "$inode" = "$last" ] && continue
      cp {DATA_DIR}/dump.rdb {BACKUP_DIR}/.incoming || continue
      mv {BACKUP_DIR}/.incoming "{BACKUP_DIR}/dump-$(date +%s%N).rdb" && last=$inode
      ls -1 {BACKUP_DIR}/dump-*.rdb | head -n -{BACKUPS_KEPT} | xargs -r rm -f
    done ) &
fi
"""


def data_node_command() -> list[str]:
    """Start the backup job, run Redis on ``CONF_DIR/redis.conf``."""
    script = "set -e\n" + _BACKUP_LOOP + f"exec redis-server {CONF_DIR}/redis.conf\n"
    return ["sh", "-c", script]


def server_version(server: Mapping[str, object]) -> tuple[str, str]:
    """(engine, version) from ``INFO server``: ``valkey`` or ``redis``. Valkey also reports
    ``redis_version``, the Redis API it implements (7.2.4), which is not its version."""
    engine = "valkey" if "valkey_version" in server else "redis"
    return engine, str(server[f"{engine}_version"])


SENTINEL_STAGGER_SECONDS = 0.25


def sentinel_command(index: int = 0) -> list[str]:
    """Run Sentinel on ``CONF_DIR/sentinel.conf``, the ``index``-th Sentinel of a topology
    ``index * SENTINEL_STAGGER_SECONDS`` after its container starts (still as PID 1).

    Why the stagger: Redis seeds ``rand()`` with ``time(NULL) ^ getpid()``, so Sentinels that
    start as PID 1 in the same second draw the same random numbers (their timer periods, their
    failover delays). Started in parallel within a millisecond or two, they then ping on the
    same schedule, see the master down at the same instant, each vote for itself in the same
    epoch and abort after ``failover_timeout`` (a 23 s RTO instead of ~2 s, seen once in CI on
    2026-12-02: ``+try-failover`` on all three within 3 ms, three
    ``-failover-abort-not-elected``). Sentinels started by hand, or by any orchestrator, are
    rarely that close. 0.25 s apart (more than the 0.1-0.17 s by which parallel container
    starts vary here), the first to see the master down is asked by the next before that one's
    own attempt, as in a deployment started by hand. It costs the topology's readiness about
    0.5 s (the last Sentinel's first hello comes that much later)."""
    conf = f"{CONF_DIR}/sentinel.conf"
    if index <= 0:
        return ["redis-sentinel", conf]
    delay = f"{index * SENTINEL_STAGGER_SECONDS:.2f}"
    return ["sh", "-c", f"sleep {delay} && exec redis-sentinel {conf}"]
