"""The configuration fingerprint of a Redis node or Sentinel for the evidence: the settings that
decide what a failure loses (persistence, min-replicas) and the Sentinel timings."""

from __future__ import annotations

from typing import Any

from redis.exceptions import RedisError

from drillkit.backend.node import NodeError
from drillkit.topology.node import Node
from drillkit.topology.redis_config import MASTER_NAME
from drillkit.topology.redis_roles import RedisRoles
from drillkit.upstream import parse_config_get, sentinel_non_default

__all__ = [
    "DATA_LOSS_SETTINGS",
    "SCRATCH_OVERRIDES",
    "engine_defaults",
    "node_settings",
]

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
_SECRET_KEYS = frozenset(
    {"requirepass", "masterauth", "tls-key-file-pass", "tls-client-key-file-pass"}
)
SENTINEL_SETTINGS = ("quorum", "down-after-milliseconds", "failover-timeout", "parallel-syncs")


# The engine's defaults come from a scratch server started inside a data node with no
# configuration file; these are the arguments it needs to run beside the real one, so they are
# not defaults (and every one of them is a setting drillkit controls).
SCRATCH_OVERRIDES = ("port", "unixsocket", "dir", "daemonize", "pidfile", "logfile")
_SCRATCH = """
cd /tmp || exit 1
redis-server --port 0 --unixsocket /tmp/dk-defaults.sock --dir /tmp --daemonize yes \
  --pidfile /tmp/dk-defaults.pid --logfile /tmp/dk-defaults.log >/dev/null 2>&1 || exit 1
for _ in $(seq 1 50); do [ -S /tmp/dk-defaults.sock ] && break; sleep 0.05; done
echo DK-BEGIN
redis-cli -s /tmp/dk-defaults.sock CONFIG GET '*' 2>/dev/null
echo DK-END
redis-cli -s /tmp/dk-defaults.sock SHUTDOWN NOSAVE >/dev/null 2>&1
rm -f /tmp/dk-defaults.*
"""


def engine_defaults(node: Node) -> dict[str, str] | None:
    """``CONFIG GET *`` of a scratch server with no configuration, run inside the running data
    node ``node`` (same binary, same version); None if it could not be read."""
    try:
        result = node.exec(["sh", "-c", _SCRATCH])
    except NodeError:
        return None
    text = result.output.decode("utf-8", "replace")
    if result.exit_code != 0 or "DK-BEGIN\n" not in text or "DK-END" not in text:
        return None
    found = parse_config_get(text.split("DK-BEGIN\n", 1)[1].split("DK-END", 1)[0])
    for key in SCRATCH_OVERRIDES:
        found.pop(key, None)
    return found or None


def node_settings(
    roles: RedisRoles, node: Node, status: str, defaults: dict[str, str] | None = None
) -> dict[str, Any]:
    """What a running node reports of its settings (a Sentinel: its timings and which node it
    names master), and what differs from the engine's ``defaults`` (``non_default``); a node
    that does not answer is recorded as such."""
    if status != "running":
        return {}
    try:
        return _settings(roles, node, defaults)
    except (RedisError, OSError) as e:
        return {"settings_error": str(e)}


def _settings(roles: RedisRoles, node: Node, defaults: dict[str, str] | None) -> dict[str, Any]:
    with roles.redis(node) as r:
        if node.role == "sentinel":
            state = r.sentinel_master(MASTER_NAME)
            master = roles.node_at(str(state["ip"])).name if state.get("ip") else None
            return {
                "settings": {k: state.get(k) for k in SENTINEL_SETTINGS},
                "names_master": master,
                "non_default": sentinel_non_default(state),
            }
        settings: dict[str, Any] = {}
        for key in DATA_LOSS_SETTINGS:
            settings.update(r.config_get(key))
        everything = {
            str(k): "***" if k in _SECRET_KEYS and v else str(v)
            for k, v in r.config_get("*").items()
        }
        role = roles.role(node)
    out: dict[str, Any] = {"settings": settings, "replication_role": role[0] if role else None}
    if defaults is not None:
        out["non_default"] = {
            k: {"value": v, "default": defaults[k]}
            for k, v in sorted(everything.items())
            if k in defaults and defaults[k] != v
        }
    else:
        out["non_default_error"] = "the engine's defaults could not be read"
    return out
