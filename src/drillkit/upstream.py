"""What the engines do when nobody configures them, and which settings decide data loss and
recovery time.

PostgreSQL and Redis report their own defaults (``pg_settings.boot_val``; a scratch
``redis-server`` started with no configuration); Patroni and Sentinel do not, so their documented
defaults are here. The evidence lists what differs from these; ``compare-config`` flags a
difference from production in a :data:`CRITICAL` setting.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "CRITICAL",
    "PATRONI_DEFAULTS",
    "SENTINEL_DEFAULTS",
    "parse_config_get",
    "patroni_non_default",
    "sentinel_non_default",
]

# Patroni's dynamic configuration defaults (docs: "Dynamic Configuration Settings").
PATRONI_DEFAULTS: dict[str, Any] = {
    "ttl": 30,
    "loop_wait": 10,
    "retry_timeout": 10,
    "maximum_lag_on_failover": 1048576,
    "synchronous_mode": False,
    "synchronous_mode_strict": False,
}
# Sentinel's per-master defaults (sentinel.conf shipped with Redis).
SENTINEL_DEFAULTS: dict[str, Any] = {
    "down-after-milliseconds": 30000,
    "failover-timeout": 180000,
    "parallel-syncs": 1,
}

# Settings that decide how much an incident loses (RPO) or how long it lasts (RTO), per engine.
CRITICAL: dict[str, frozenset[str]] = {
    "postgresql": frozenset(
        {
            "synchronous_commit",
            "synchronous_standby_names",
            "wal_level",
            "archive_mode",
            "archive_timeout",
            "wal_sender_timeout",
            "wal_receiver_timeout",
            "wal_retrieve_retry_interval",
            "fsync",
            "full_page_writes",
            "max_wal_senders",
        }
    ),
    "patroni": frozenset(
        {
            "ttl",
            "loop_wait",
            "retry_timeout",
            "maximum_lag_on_failover",
            "synchronous_mode",
            "synchronous_mode_strict",
        }
    ),
    "redis": frozenset(
        {"appendonly", "appendfsync", "save", "min-replicas-to-write", "min-replicas-max-lag"}
    ),
    "sentinel": frozenset({"down-after-milliseconds", "failover-timeout", "quorum"}),
}


def _differs(defaults: dict[str, Any], config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        k: {"value": config[k], "default": v}
        for k, v in defaults.items()
        if k in config and str(config[k]).lower() != str(v).lower()
    }


def patroni_non_default(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """What in Patroni's ``/config`` differs from its defaults (parameters are PostgreSQL's,
    read from the servers themselves)."""
    return _differs(PATRONI_DEFAULTS, config)


def sentinel_non_default(master: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """What in ``SENTINEL MASTER`` differs from Sentinel's per-master defaults."""
    return _differs(SENTINEL_DEFAULTS, master)


def parse_config_get(text: str) -> dict[str, str]:
    """The output of ``redis-cli CONFIG GET '*'`` (or ``SENTINEL MASTER``): name and value on
    alternate lines, a value possibly an empty line."""
    lines = text.replace("\r\n", "\n").split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return dict(zip(lines[::2], lines[1::2], strict=False))
