"""The configuration fingerprint of a Redis node or Sentinel for the evidence: the settings that
decide what a failure loses (persistence, min-replicas) and the Sentinel timings."""

from __future__ import annotations

from typing import Any

from redis.exceptions import RedisError

from drillkit.topology.node import Node
from drillkit.topology.redis_config import MASTER_NAME
from drillkit.topology.redis_roles import RedisRoles

__all__ = ["DATA_LOSS_SETTINGS", "node_settings"]

# The settings that decide what a failure loses, recorded in the evidence (never a password).
DATA_LOSS_SETTINGS = (
    "appendonly",
    "appendfsync",
    "save",
    "min-replicas-to-write",
    "min-replicas-max-lag",
    "replica-serve-stale-data",
    "repl-diskless-sync",
)
SENTINEL_SETTINGS = ("quorum", "down-after-milliseconds", "failover-timeout", "parallel-syncs")


def node_settings(roles: RedisRoles, node: Node, status: str) -> dict[str, Any]:
    """What a running node reports of its settings (a Sentinel: its timings and which node it
    names master); a node that does not answer is recorded as such."""
    if status != "running":
        return {}
    try:
        return _settings(roles, node)
    except (RedisError, OSError) as e:
        return {"settings_error": str(e)}


def _settings(roles: RedisRoles, node: Node) -> dict[str, Any]:
    with roles.redis(node) as r:
        if node.role == "sentinel":
            state = r.sentinel_master(MASTER_NAME)
            master = roles.node_at(str(state["ip"])).name if state.get("ip") else None
            return {
                "settings": {k: state.get(k) for k in SENTINEL_SETTINGS},
                "names_master": master,
            }
        settings: dict[str, Any] = {}
        for key in DATA_LOSS_SETTINGS:
            settings.update(r.config_get(key))
        role = roles.role(node)
    return {"settings": settings, "replication_role": role[0] if role else None}
